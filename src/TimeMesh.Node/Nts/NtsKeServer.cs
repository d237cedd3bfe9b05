using System.Net;
using System.Net.Sockets;
using Akka.Event;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using TimeMesh.Core.Nts;

namespace TimeMesh.Node.Nts;

/// <summary>
/// The NTS-KE server (RFC 8915 section 4): TLS 1.3 over TCP with ALPN ntske/1; reads one request, answers
/// NTPv4 + AES-SIV-CMAC-256 with 8 cookies carrying the keys exported from the TLS session, and closes.
/// It also rotates the cookie master keys and hands them to the NTP server's NTS extension.
/// Connections run on the thread pool with blocking I/O, bounded in number and in time.
/// </summary>
public sealed class NtsKeServer : IDisposable
{
    private readonly NtsSettings _settings;
    private readonly NtsServerCredentials _credentials;
    private readonly NtsServerExtension _extension;
    private readonly string _dataDir;
    private readonly int _advertisedNtpPort;
    private readonly Func<long> _nowUnixSeconds;
    private readonly ILoggingAdapter _log;
    private readonly List<TcpListener> _listeners = new();
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stop = new();
    private Timer? _rotation;
    private long _accepted, _served, _failed, _rotations;

    private NtsKeServer(NtsSettings settings, NtsServerCredentials credentials, NtsServerExtension extension, string dataDir,
        int advertisedNtpPort, Func<long> nowUnixSeconds, ILoggingAdapter log)
    {
        _settings = settings;
        _credentials = credentials;
        _extension = extension;
        _dataDir = dataDir;
        _advertisedNtpPort = advertisedNtpPort;
        _nowUnixSeconds = nowUnixSeconds;
        _log = log;
        _slots = new SemaphoreSlim(settings.MaxConnections);
    }

    /// <summary>Where the server listens (ports resolved when the config said 0).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _listeners.Select(l => (IPEndPoint)l.LocalEndpoint).ToArray();
    public NtsServerExtension Extension => _extension;
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Served => Interlocked.Read(ref _served);
    public long Failed => Interlocked.Read(ref _failed);
    public long Rotations => Interlocked.Read(ref _rotations);

    /// <summary>Loads the certificate and the cookie keys, binds the listeners (a taken port fails here) and starts serving.</summary>
    public static NtsKeServer Start(NtsSettings settings, string dataDir, int advertisedNtpPort, ILoggingAdapter log, Func<long>? nowUnixSeconds = null)
    {
        nowUnixSeconds ??= () => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var credentials = NtsServerCredentials.Load(settings.CertificatePath, settings.KeyPath);
        var keys = NtsKeyStore.LoadOrCreate(dataDir, nowUnixSeconds(), settings.CookieKeyRotation, w => log.Warning(w));
        var server = new NtsKeServer(settings, credentials, new NtsServerExtension(keys), dataDir, advertisedNtpPort, nowUnixSeconds, log);
        try
        {
            foreach (var endpoint in settings.Listen)
            {
                var listener = new TcpListener(endpoint);
                listener.Start(128);
                server._listeners.Add(listener);
            }
        }
        catch
        {
            server.Dispose();
            throw;
        }
        foreach (var listener in server._listeners) _ = server.AcceptLoop(listener);
        var period = TimeSpan.FromTicks(Math.Clamp(settings.CookieKeyRotation.Ticks / 4, TimeSpan.FromMilliseconds(250).Ticks, TimeSpan.FromMinutes(1).Ticks));
        server._rotation = new Timer(_ => server.RotateIfDue(), null, period, period);
        log.Info("NTS-KE server listening on {0} (cookie keys {1:x8}, rotated every {2}); NTP advertised on port {3}{4}",
            string.Join(", ", server.Endpoints), keys.Current.Id, settings.CookieKeyRotation, advertisedNtpPort,
            settings.NtpServer.Length > 0 ? " of " + settings.NtpServer : "");
        return server;
    }

    private void RotateIfDue()
    {
        try
        {
            long now = _nowUnixSeconds();
            var keys = _extension.Keys;
            if (!keys.RotationDue(now, (long)_settings.CookieKeyRotation.TotalSeconds)) return;
            var rotated = keys.Rotate(now);
            // Saved before use: a cookie is never sealed under a key a restart would forget.
            NtsKeyStore.Save(_dataDir, rotated);
            _extension.Keys = rotated;
            Interlocked.Increment(ref _rotations);
            _log.Info("NTS cookie keys rotated: now {0:x8}, previous {1:x8}", rotated.Current.Id, keys.Current.Id);
        }
        catch (Exception e)
        {
            _log.Error(e, "NTS cookie key rotation failed; the current keys stay in use");
        }
    }

    private async Task AcceptLoop(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                await _slots.WaitAsync(_stop.Token);
                client = await listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _slots.Release();
                _log.Warning("NTS-KE accept failed: {0}", e.Message);
                continue;
            }
            Interlocked.Increment(ref _accepted);
            _ = Task.Run(() =>
            {
                try { Serve(client); }
                finally { _slots.Release(); }
            });
        }
    }

    private void Serve(TcpClient client)
    {
        var remote = client.Client.RemoteEndPoint;
        // One deadline for the whole exchange: a client that trickles bytes is cut off, not waited for.
        using var deadline = new Timer(_ => client.Close(), null, _settings.HandshakeTimeout * 2, Timeout.InfiniteTimeSpan);
        try
        {
            using (client)
            {
                int timeoutMs = (int)_settings.HandshakeTimeout.TotalMilliseconds;
                client.ReceiveTimeout = timeoutMs;
                client.SendTimeout = timeoutMs;
                client.NoDelay = true;
                var crypto = new BcTlsCrypto(new SecureRandom());
                var tls = new NtsKeTlsServer(crypto, _credentials);
                var protocol = new TlsServerProtocol(client.GetStream());
                protocol.Accept(tls);
                if (!tls.AgreedNtsKe || tls.Keys is null)
                {
                    // RFC 8915 4: the ALPN ntske/1 is mandatory; a client that did not offer it gets nothing.
                    protocol.Close();
                    Interlocked.Increment(ref _failed);
                    return;
                }
                var stream = protocol.Stream;
                byte[] response;
                try
                {
                    var request = NtsKeRequest.Parse(ReadMessage(stream));
                    var (c2s, s2c) = tls.Keys.Value;
                    var keys = _extension.Keys;
                    var cookies = new List<byte[]>(NtsIds.CookiesPerExchange);
                    for (int i = 0; i < NtsIds.CookiesPerExchange; i++) cookies.Add(NtsCookie.Seal(keys, c2s, s2c));
                    System.Security.Cryptography.CryptographicOperations.ZeroMemory(c2s);
                    System.Security.Cryptography.CryptographicOperations.ZeroMemory(s2c);
                    response = NtsKeResponse.Build(request, cookies,
                        _settings.NtpServer.Length > 0 ? _settings.NtpServer : null,
                        _advertisedNtpPort != 123 ? _advertisedNtpPort : null);
                }
                catch (NtsKeProtocolException e)
                {
                    _log.Debug("NTS-KE request from {0} refused: {1}", remote, e.Message);
                    response = NtsKeResponse.BuildError(e.ErrorCode);
                    Interlocked.Increment(ref _failed);
                    stream.Write(response);
                    protocol.Close();
                    return;
                }
                stream.Write(response);
                stream.Flush();
                protocol.Close();
                Interlocked.Increment(ref _served);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or TlsFatalAlert or TlsFatalAlertReceived or TlsTimeoutException)
        {
            Interlocked.Increment(ref _failed);
            _log.Debug("NTS-KE connection from {0} failed: {1}", remote, e.Message);
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _failed);
            _log.Warning("NTS-KE connection from {0} failed: {1}", remote, e.Message);
        }
    }

    /// <summary>Reads until one whole message is buffered; refuses more than a request may hold.</summary>
    internal static byte[] ReadMessage(Stream stream, int maxBytes = NtsKeRequest.MaxLength)
    {
        var buffer = new byte[maxBytes + 1];
        int filled = 0;
        while (true)
        {
            if (NtsKeCodec.TryFindMessage(buffer.AsSpan(0, filled), maxBytes, out int length)) return buffer[..length];
            if (filled == buffer.Length) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, $"message longer than {maxBytes} bytes");
            int n = stream.Read(buffer, filled, buffer.Length - filled);
            if (n <= 0) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "connection closed inside a message");
            filled += n;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _rotation?.Dispose();
        foreach (var listener in _listeners) listener.Stop();
    }
}
