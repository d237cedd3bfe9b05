using System.Net;
using System.Net.Sockets;
using Akka.Event;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using TimeMesh.Core.Nts;
using TimeMesh.Node.Control;
using TimeMesh.Node.Nts;

namespace TimeMesh.Nts;

/// <summary>
/// The NTS-KE server (RFC 8915 section 4): TLS 1.3 over TCP with ALPN ntske/1; reads one request, answers
/// NTPv4 + AES-SIV-CMAC-256 with 8 cookies carrying the keys exported from the TLS session, and closes.
/// It also rotates the cookie master keys and hands them to the NTP server's NTS extension.
/// Connections are asynchronous (TLS in BouncyCastle's non-blocking mode, so a held connection holds no thread),
/// bounded in time (handshake-timeout per read, twice that for the whole exchange) and in number, all together and
/// per client (chrony's maxntsconnections); a connection over either cap is closed at once.
/// </summary>
public sealed class NtsKeServer : INtsKeServer
{
    private readonly NtsSettings _settings;
    private readonly NtsServerCredentials _credentials;
    private readonly NtsServerExtension _extension;
    private readonly string _dataDir;
    private readonly int _advertisedNtpPort;
    private readonly Func<long> _nowUnixSeconds;
    private readonly ILoggingAdapter _log;
    private readonly List<TcpListener> _listeners = new();
    private readonly ConnectionGate _gate;
    private readonly CancellationTokenSource _stop = new();
    private Timer? _rotation;
    /// <summary>The mesh's NTS-KE: client certificates from the mesh CA required (null: the public NTS-KE).</summary>
    private MeshNtsCredentials? _meshClients;
    private string What => _meshClients is null ? "NTS-KE" : "mesh NTS-KE";
    private long _accepted, _served, _failed, _dropped, _rotations, _droppedLoggedAtMs = -60_000;

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
        _gate = new ConnectionGate(settings.MaxConnections, settings.MaxConnectionsPerClient);
    }

    /// <summary>Where the server listens (ports resolved when the config said 0).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _listeners.Select(l => (IPEndPoint)l.LocalEndpoint).ToArray();
    public NtsServerExtension Extension => _extension;
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Served => Interlocked.Read(ref _served);
    public long Failed => Interlocked.Read(ref _failed);
    /// <summary>Connections closed at once because max-connections or max-connections-per-client was reached.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    /// <summary>Connections being served now.</summary>
    public int Open => _gate.Open;
    public long Rotations => Interlocked.Read(ref _rotations);

    /// <summary>Loads the certificate and the cookie keys, binds the listeners (a taken port fails here) and starts serving.</summary>
    public static NtsKeServer Start(NtsSettings settings, string dataDir, int advertisedNtpPort, ILoggingAdapter log, Func<long>? nowUnixSeconds = null)
    {
        nowUnixSeconds ??= () => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var credentials = NtsServerCredentials.Load(settings.CertificatePath, settings.KeyPath);
        return Start(settings, credentials, null, null, dataDir, advertisedNtpPort, log, nowUnixSeconds);
    }

    /// <summary>
    /// The mesh's NTS-KE on a master: its cluster certificate, a client certificate from the mesh CA required, and the
    /// cookie keys of <paramref name="shared"/> (the public NTS-KE's, which rotates them) or, without one, of its own,
    /// kept in the same data-dir file. Either way the node's NTP port accepts the cookies.
    /// </summary>
    /// <param name="settings">Listen addresses, timeouts and caps (<c>timemesh.nts</c>'s, with the mesh's listen addresses).</param>
    public static NtsKeServer StartMesh(NtsSettings settings, MeshNtsCredentials mesh, NtsServerExtension? shared, string dataDir, int advertisedNtpPort,
        ILoggingAdapter log, Func<long>? nowUnixSeconds = null) =>
        Start(settings with { NtpServer = "" }, mesh.Own, mesh, shared, dataDir, advertisedNtpPort, log, nowUnixSeconds ?? (() => DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

    private static NtsKeServer Start(NtsSettings settings, NtsServerCredentials credentials, MeshNtsCredentials? mesh, NtsServerExtension? shared,
        string dataDir, int advertisedNtpPort, ILoggingAdapter log, Func<long> nowUnixSeconds)
    {
        var extension = shared ?? new NtsServerExtension(NtsKeyStore.LoadOrCreate(dataDir, nowUnixSeconds(), settings.CookieKeyRotation, w => log.Warning(w)));
        var server = new NtsKeServer(settings, credentials, extension, dataDir, advertisedNtpPort, nowUnixSeconds, log) { _meshClients = mesh };
        var keys = extension.Keys;
        try
        {
            foreach (var endpoint in settings.Listen)
            {
                var listener = new TcpListener(endpoint);
                listener.Start(512);
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
        // Keys shared with another server are rotated by their owner only: two rotations would skip a generation.
        if (shared is null) server._rotation = new Timer(_ => server.RotateIfDue(), null, period, period);
        log.Info("{0}", $"{server.What} server listening on {string.Join(", ", server.Endpoints)} (cookie keys {keys.Current.Id:x8}, "
            + (shared is null ? $"rotated every {settings.CookieKeyRotation}" : "shared with the public NTS-KE")
            + $"); NTP advertised on port {advertisedNtpPort}{(settings.NtpServer.Length > 0 ? " of " + settings.NtpServer : "")}"
            + (mesh is null ? "" : $"; clients need a certificate from the mesh CA {mesh.Ca.Subject}"));
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
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _log.Warning("NTS-KE accept failed: {0}", e.Message);
                continue;
            }
            Interlocked.Increment(ref _accepted);
            var client = ConnectionGate.ClientOf(socket.RemoteEndPoint);
            if (!_gate.TryEnter(client))
            {
                // chrony's maxntsconnections: over the cap a connection is closed at once, not queued behind the held ones.
                Interlocked.Increment(ref _dropped);
                socket.Dispose();
                LogDroppedNow();
                continue;
            }
            _ = ServeAsync(socket, client);
        }
    }

    private long _refusedLoggedAtMs = -60_000;

    private void LogRefusedNow(System.Net.EndPoint? remote, string why)
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _refusedLoggedAtMs);
        if (now - last < 60_000 || Interlocked.CompareExchange(ref _refusedLoggedAtMs, now, last) != last)
        {
            _log.Debug("mesh NTS-KE: refused {0}: {1}", remote, why);
            return;
        }
        _log.Warning("mesh NTS-KE: refused {0}: {1} ({2} failed connections so far; told at most once a minute)", remote, why, Failed);
    }

    /// <summary>Dropped connections are told at most once a minute, with how many there were.</summary>
    private void LogDroppedNow()
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _droppedLoggedAtMs);
        if (now - last < 60_000 || Interlocked.CompareExchange(ref _droppedLoggedAtMs, now, last) != last) return;
        long dropped = Dropped;
        _log.Warning("NTS-KE: {0} connections closed at once so far (at most {1} at a time, {2} per client: {3}max-connections, max-connections-per-client)",
            dropped, _settings.MaxConnections, _settings.MaxConnectionsPerClient, "timemesh.nts.");
    }

    private async Task ServeAsync(Socket socket, System.Net.IPAddress? client)
    {
        var remote = socket.RemoteEndPoint;
        // One deadline for the whole exchange, one per read: a client that trickles bytes is cut off, not waited for.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(_settings.HandshakeTimeout * 2);
        var cancel = deadline.Token;
        try
        {
            using (socket)
            {
                socket.NoDelay = true;
                // BouncyCastle's non-blocking mode: bytes are offered to the protocol and its output is sent by us, so a
                // connection waiting for its client holds no thread, only its buffers.
                var tls = new NtsKeTlsServer(new BcTlsCrypto(new SecureRandom()), _credentials, _meshClients);
                var protocol = new TlsServerProtocol();
                var buffer = new byte[4096];
                protocol.Accept(tls);
                while (protocol.IsHandshaking)
                {
                    int n = await ReceiveAsync(socket, buffer, cancel);
                    if (n == 0) throw new IOException("the client closed the connection during the handshake");
                    protocol.OfferInput(buffer, 0, n);
                    await SendPendingAsync(protocol, socket, buffer, cancel);
                }
                if (!tls.AgreedNtsKe || tls.Keys is null)
                {
                    // RFC 8915 4: the ALPN ntske/1 is mandatory; a client that did not offer it gets nothing.
                    protocol.Close();
                    await SendPendingAsync(protocol, socket, buffer, cancel);
                    Interlocked.Increment(ref _failed);
                    return;
                }
                byte[] response;
                bool ok = true;
                try
                {
                    var request = NtsKeRequest.Parse(await ReadMessageAsync(protocol, socket, buffer, cancel));
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
                    _log.Debug("{0} request from {1} refused: {2}", What, remote, e.Message);
                    response = NtsKeResponse.BuildError(e.ErrorCode);
                    ok = false;
                }
                protocol.WriteApplicationData(response, 0, response.Length);
                protocol.Close();
                await SendPendingAsync(protocol, socket, buffer, cancel);
                if (ok) Interlocked.Increment(ref _served);
                else Interlocked.Increment(ref _failed);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException
                                      or TlsFatalAlert or TlsFatalAlertReceived or TlsTimeoutException)
        {
            Interlocked.Increment(ref _failed);
            // A refused client certificate on the mesh port is worth an operator's eye (a stranger, another CA);
            // told at most once a minute, like the drops.
            if (_meshClients is not null && e is TlsFatalAlert alert) LogRefusedNow(remote, alert.Message);
            else _log.Debug("{0} connection from {1} failed: {2}", What, remote, e is OperationCanceledException ? "timed out" : e.Message);
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _failed);
            _log.Warning("NTS-KE connection from {0} failed: {1}", remote, e.Message);
        }
        finally
        {
            _gate.Leave(client);
        }
    }

    private async Task<int> ReceiveAsync(Socket socket, byte[] buffer, CancellationToken cancel)
    {
        using var read = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        read.CancelAfter(_settings.HandshakeTimeout);
        return await socket.ReceiveAsync(buffer, SocketFlags.None, read.Token);
    }

    private static async Task SendPendingAsync(TlsProtocol protocol, Socket socket, byte[] buffer, CancellationToken cancel)
    {
        int n;
        while ((n = protocol.ReadOutput(buffer, 0, buffer.Length)) > 0)
        {
            int sent = 0;
            while (sent < n) sent += await socket.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None, cancel);
        }
    }

    /// <summary>Reads application data until one whole request is buffered; refuses more than a request may hold.</summary>
    private async Task<byte[]> ReadMessageAsync(TlsProtocol protocol, Socket socket, byte[] buffer, CancellationToken cancel)
    {
        int maxBytes = NtsKeRequest.MaxLength;
        var message = new byte[maxBytes + 1];
        int filled = 0;
        while (true)
        {
            if (NtsKeCodec.TryFindMessage(message.AsSpan(0, filled), maxBytes, out int length)) return message[..length];
            if (filled == message.Length) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, $"message longer than {maxBytes} bytes");
            if (protocol.GetAvailableInputBytes() > 0)
            {
                filled += protocol.ReadInput(message, filled, message.Length - filled);
                continue;
            }
            int n = await ReceiveAsync(socket, buffer, cancel);
            if (n <= 0) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "connection closed inside a message");
            protocol.OfferInput(buffer, 0, n);
            await SendPendingAsync(protocol, socket, buffer, cancel);
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
