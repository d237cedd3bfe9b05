using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using TimeMesh.Core.Nts;
using TimeMesh.Node.Nts;

namespace TimeMesh.Nts;

/// <summary>
/// The NTS-KE client (RFC 8915 section 4): TLS 1.3 with the server's certificate checked, ALPN ntske/1,
/// one request, the response's cookies, keys from the TLS exporter. Blocking I/O on a pool thread.
/// </summary>
public static class NtsKeClient
{
    /// <summary>The CA certificates in a PEM file (chrony's ntstrustedcerts); null path or empty: the system's roots.</summary>
    public static X509Certificate2Collection? LoadTrusted(string? path) => NtsPart.LoadTrusted(path);

    /// <param name="host">The name the certificate must carry (the configured address).</param>
    /// <param name="address">Where to connect.</param>
    /// <param name="mesh">A mesh master: checked against the mesh CA for the master role and one of <paramref name="meshNames"/>,
    /// with this node's cluster certificate presented (null: an upstream server, checked against <paramref name="trusted"/>).</param>
    public static Task<NtsKeResult> ExchangeAsync(string host, IPAddress address, int port, X509Certificate2Collection? trusted, TimeSpan timeout,
        MeshNtsCredentials? mesh = null, IReadOnlyList<string>? meshNames = null) =>
        Task.Run(() => Exchange(host, address, port, trusted, timeout, mesh, meshNames));

    public static NtsKeResult Exchange(string host, IPAddress address, int port, X509Certificate2Collection? trusted, TimeSpan timeout,
        MeshNtsCredentials? mesh = null, IReadOnlyList<string>? meshNames = null)
    {
        using var client = new TcpClient(address.AddressFamily);
        using var deadline = new Timer(_ => client.Close(), null, timeout, Timeout.InfiniteTimeSpan);
        try
        {
            if (!client.ConnectAsync(address, port).Wait(timeout)) throw new TimeoutException($"NTS-KE connect to {address}:{port} timed out");
        }
        catch (AggregateException e) when (e.InnerException is SocketException s)
        {
            throw s;
        }
        client.ReceiveTimeout = client.SendTimeout = (int)timeout.TotalMilliseconds;
        client.NoDelay = true;
        var crypto = new BcTlsCrypto(new SecureRandom());
        var tls = new NtsKeTlsClient(crypto, host, trusted, mesh, meshNames);
        var protocol = new TlsClientProtocol(client.GetStream());
        protocol.Connect(tls);
        try
        {
            if (!tls.AgreedNtsKe || tls.Keys is null) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "the server did not agree to ALPN ntske/1");
            var stream = protocol.Stream;
            stream.Write(NtsKeRequest.Build());
            stream.Flush();
            var message = NtsKeServer.ReadMessage(stream, NtsKeResponse.MaxLength);
            var response = NtsKeResponse.Parse(message);
            var (c2s, s2c) = tls.Keys.Value;
            IPAddress ntpAddress = address;
            if (response.Server is { } name && !IPAddress.TryParse(name, out ntpAddress!))
            {
                var resolved = Dns.GetHostAddresses(name);
                ntpAddress = resolved.FirstOrDefault(a => a.AddressFamily == address.AddressFamily) ?? resolved.First();
            }
            return new NtsKeResult(c2s, s2c, response.Cookies, new IPEndPoint(ntpAddress, response.Port ?? 123));
        }
        finally
        {
            try { protocol.Close(); } catch (IOException) { }
        }
    }
}
