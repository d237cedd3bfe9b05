using TimeMesh.Nts;
using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Nts;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>NTS end to end: the node's NTS-KE server and NTS on its NTP port, with our client and with chronyd 4.3.</summary>
[Collection(ProcessLanes.Tools)]
public class NtsTests : TestKit
{
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public NtsTests(Xunit.Abstractions.ITestOutputHelper output) : base(output: output) => _output = output;

    private static string NewDataDir() => Path.Combine(Path.GetTempPath(), "tm-nts-" + Guid.NewGuid().ToString("N")[..8]);

    private static Akka.Configuration.Config NodeConfig(TestCertificates certs, string dataDir, string extra = "") =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              local { stratum = 10 }
              data-dir = "{{dataDir}}"
              nts {
                enabled = on
                listen = ["127.0.0.1:0"]
                certificate = "{{certs.CertificatePath}}"
                key = "{{certs.KeyPath}}"
              }
              {{extra}}
            }
            """);

    private static byte[] ClientHeader(ulong transmit)
    {
        var packet = new byte[1200];
        new NtpHeader(LeapIndicator.Unsynchronised, 4, NtpMode.Client, 0, 0, 0x20, NtpShort.Zero, NtpShort.Zero, 0,
            NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero, new NtpTimestamp(transmit)).Write(packet);
        return packet;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Our_client_does_a_key_exchange_and_gets_authenticated_time_with_fresh_cookies(bool rsa)
    {
        using var certs = new TestCertificates(rsa);
        await using var node = TimeMeshNode.Start(NodeConfig(certs, NewDataDir()));
        var ke = node.NtsKe!;
        var result = await NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, ke.Endpoints[0].Port,
            NtsKeClient.LoadTrusted(certs.CaPath), TimeSpan.FromSeconds(10));
        Assert.Equal(8, result.Cookies.Count);
        Assert.All(result.Cookies, c => Assert.Equal(NtsCookie.Length, c.Length));
        // The port record points at the node's NTP port (not 123).
        Assert.Equal(node.Endpoints[0].Port, result.NtpEndpoint.Port);
        Assert.Equal(IPAddress.Loopback, result.NtpEndpoint.Address);

        using var session = new NtsClientSession(result.C2S, result.S2C, result.Cookies);
        for (int i = 0; i < 10; i++)
        {
            var packet = ClientHeader(0x1000UL + (ulong)i);
            Assert.True(session.TryAppendRequestFields(packet, out int length));
            var reply = NtpProbe.Ask(result.NtpEndpoint, packet[..length], TimeSpan.FromSeconds(5));
            Assert.NotNull(reply);
            Assert.True(reply!.Length <= length);
            Assert.Equal(NtsReplyCheck.Authentic, session.CheckReply(reply));
            var header = NtpHeader.Read(reply);
            Assert.Equal(10, header.Stratum);
            Assert.Equal(0x1000UL + (ulong)i, header.OriginTime.Value);
            Assert.Equal(8, session.CookieCount);
        }
        // The server counts the exchange once its last write has returned, on a pool thread that may run after the
        // client is done (0 was read once at load 30): wait for it, a few seconds at most.
        var counted = Stopwatch.StartNew();
        while (ke.Served == 0 && counted.Elapsed < TimeSpan.FromSeconds(5)) await Task.Delay(20);
        Assert.Equal(1, ke.Served);
    }

    [Fact]
    public async Task A_client_that_does_not_trust_the_CA_or_asks_for_another_name_is_refused()
    {
        using var certs = new TestCertificates();
        await using var node = TimeMeshNode.Start(NodeConfig(certs, NewDataDir()));
        int port = node.NtsKe!.Endpoints[0].Port;
        await Assert.ThrowsAnyAsync<Exception>(() => NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, port,
            NtsKeClient.LoadTrusted(certs.OtherCaPath), TimeSpan.FromSeconds(10)));
        var wrongName = await Assert.ThrowsAnyAsync<Exception>(() => NtsKeClient.ExchangeAsync("time.example.org", IPAddress.Loopback, port,
            NtsKeClient.LoadTrusted(certs.CaPath), TimeSpan.FromSeconds(10)));
        _output.WriteLine("wrong name: " + wrongName.Message);
        // The right name and CA still work.
        var ok = await NtsKeClient.ExchangeAsync("localhost", IPAddress.Loopback, port, NtsKeClient.LoadTrusted(certs.CaPath), TimeSpan.FromSeconds(10));
        Assert.Equal(8, ok.Cookies.Count);
    }

    [Fact]
    public async Task Cookie_keys_survive_a_restart_in_a_private_file_and_a_stranger_cookie_gets_NTSN()
    {
        using var certs = new TestCertificates();
        string dataDir = NewDataDir();
        NtsKeResult result;
        await using (var first = TimeMeshNode.Start(NodeConfig(certs, dataDir)))
        {
            result = await NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, first.NtsKe!.Endpoints[0].Port,
                NtsKeClient.LoadTrusted(certs.CaPath), TimeSpan.FromSeconds(10));
        }
        string keyFile = Path.Combine(dataDir, NtsKeyStore.FileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));

        await using var second = TimeMeshNode.Start(NodeConfig(certs, dataDir));
        var endpoint = second.Endpoints[0];
        using (var session = new NtsClientSession(result.C2S, result.S2C, result.Cookies))
        {
            var packet = ClientHeader(42);
            Assert.True(session.TryAppendRequestFields(packet, out int length));
            var reply = NtpProbe.Ask(endpoint, packet[..length], TimeSpan.FromSeconds(5));
            Assert.Equal(NtsReplyCheck.Authentic, session.CheckReply(reply!));
        }
        // Cookies of a server with other keys: NTSN, which the client takes as "key exchange again".
        using (var stranger = new NtsClientSession(result.C2S, result.S2C, [NtsCookie.Seal(NtsServerKeys.Generate(0), result.C2S, result.S2C)]))
        {
            var packet = ClientHeader(43);
            Assert.True(stranger.TryAppendRequestFields(packet, out int length));
            var reply = NtpProbe.Ask(endpoint, packet[..length], TimeSpan.FromSeconds(5));
            Assert.Equal(NtsReplyCheck.CookieNotRecognised, stranger.CheckReply(reply!));
            Assert.Equal(ReferenceIds.KissNtsNak, NtpHeader.Read(reply!).ReferenceId);
        }
    }

    [Fact]
    public async Task Keys_rotate_on_schedule_and_cookies_of_the_previous_key_still_work()
    {
        using var certs = new TestCertificates();
        string dataDir = NewDataDir();
        await using var node = TimeMeshNode.Start(NodeConfig(certs, dataDir).WithFallback(
            Akka.Configuration.ConfigurationFactory.ParseString("timemesh.nts.cookie-key-rotation = 2s")));
        var ke = node.NtsKe!;
        var result = await NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, ke.Endpoints[0].Port,
            NtsKeClient.LoadTrusted(certs.CaPath), TimeSpan.FromSeconds(10));
        uint before = ke.Extension.Keys.Current.Id;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline && ke.Extension.Keys.Current.Id == before) await Task.Delay(100);
        Assert.NotEqual(before, ke.Extension.Keys.Current.Id);
        Assert.Equal(before, ke.Extension.Keys.Previous!.Id);
        // The file holds the new pair.
        Assert.Equal(ke.Extension.Keys.Current.Id, NtsServerKeys.Parse(File.ReadAllText(Path.Combine(dataDir, NtsKeyStore.FileName))).Current.Id);
        using var session = new NtsClientSession(result.C2S, result.S2C, result.Cookies);
        var packet = ClientHeader(7);
        Assert.True(session.TryAppendRequestFields(packet, out int length));
        Assert.Equal(NtsReplyCheck.Authentic, session.CheckReply(NtpProbe.Ask(node.Endpoints[0], packet[..length], TimeSpan.FromSeconds(5))!));
    }

    [Fact]
    public async Task Chronyd_synchronises_to_the_node_over_NTS()
    {
        using var certs = new TestCertificates();
        await using var node = TimeMeshNode.Start(NodeConfig(certs, NewDataDir()));
        var ntp = node.Endpoints[0];
        int kePort = node.NtsKe!.Endpoints[0].Port;
        string dump = Path.Combine(Path.GetTempPath(), "tm-nts-dump-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dump);
        using var chrony = Chrony.StartClient(
            $"server 127.0.0.1 port {ntp.Port} nts ntsport {kePort} iburst minpoll 0 maxpoll 2",
            $"ntstrustedcerts {certs.CaPath}",
            $"ntsdumpdir {dump}");

        string sources = "", authdata = "";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            sources = chrony.Chronyc("-n", "-c", "sources");
            authdata = chrony.Chronyc("-n", "-c", "authdata");
            if (sources.StartsWith("^,*,")) break;
            await Task.Delay(500);
        }
        _output.WriteLine("sources: " + sources.Trim());
        _output.WriteLine("authdata: " + authdata.Trim());
        Assert.True(sources.StartsWith("^,*,"), "chronyd did not select the node over NTS:\n" + sources + "\n" + authdata);
        // chronyc -c authdata: name,mode,keyid,type,keylen,last,attempts,naks,cookies,cookielen
        var fields = authdata.Trim().Split(',');
        Assert.Equal("NTS", fields[1]);
        Assert.Equal("15", fields[3]); // AEAD_AES_SIV_CMAC_256
        Assert.Equal("0", fields[7]); // no NAKs
        Assert.True(int.Parse(fields[8]) >= 7, "cookies: " + fields[8]); // the jar is kept full by the replies
        string ntpdata = chrony.Chronyc("-n", "ntpdata");
        Assert.Contains("Authenticated   : Yes", ntpdata);
        Assert.Equal(1, node.NtsKe.Served);
    }

    private async Task<(TimeMeshNode Node, Chrony Upstream, string Dump)> NodeFollowingChronydOverNts(TestCertificates certs, string trustedCa)
    {
        int upstreamPort = Chrony.FreeUdpPort();
        int ntsPort = Chrony.FreeTcpPort();
        string dump = Path.Combine(Path.GetTempPath(), "tm-nts-dump-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dump);
        var upstream = Chrony.StartServer("127.0.0.1", upstreamPort, 1,
            $"ntsservercert {certs.CertificatePath}", $"ntsserverkey {certs.KeyPath}", $"ntsport {ntsPort}", $"ntsdumpdir {dump}");
        await Task.Delay(200);
        var node = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              data-dir = "{{NewDataDir()}}"
              server = [ { address = "127.0.0.1", port = {{upstreamPort}}, nts = on, ntsport = {{ntsPort}}, iburst = on, minpoll = 0, maxpoll = 2 } ]
              nts.trusted-certificates = "{{trustedCa}}"
            }
            """));
        return (node, upstream, dump);
    }

    private static async Task<Core.Sources.TrackingReport> Tracking(TimeMeshNode node) =>
        (await node.Sync!.Ask<Sync.SyncProtocol.Tracking>(Sync.SyncProtocol.GetTracking.Instance, TimeSpan.FromSeconds(5))).Report;

    private static async Task<List<Sync.SyncProtocol.NtsSourceReport>> NtsReports(TimeMeshNode node) =>
        await node.Sync!.Ask<List<Sync.SyncProtocol.NtsSourceReport>>(Sync.SyncProtocol.GetNtsReports.Instance, TimeSpan.FromSeconds(5));

    [Fact]
    public async Task The_node_synchronises_to_a_chronyd_NTS_server()
    {
        using var certs = new TestCertificates();
        var (node, upstream, _) = await NodeFollowingChronydOverNts(certs, certs.CaPath);
        await using var _node = node;
        using var _upstream = upstream;

        var tracking = await Tracking(node);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(tracking.Synchronised && tracking.LastOffsetSeconds != 0))
        {
            await Task.Delay(500);
            tracking = await Tracking(node);
        }
        var nts = Assert.Single(await NtsReports(node));
        while (DateTime.UtcNow < deadline && nts.AuthenticReplies < 3)
        {
            await Task.Delay(500);
            nts = Assert.Single(await NtsReports(node));
        }
        _output.WriteLine($"measured: stratum {tracking.Stratum}, last offset {tracking.LastOffsetSeconds * 1e6:0.0} µs; NTS: {nts}");
        Assert.True(tracking.Synchronised, "not synchronised over NTS: " + tracking.NotSynchronisedReason);
        Assert.Equal(2, tracking.Stratum);
        Assert.Equal(1, nts.KeyExchanges);
        Assert.True(nts.AuthenticReplies >= 3, nts.ToString());
        Assert.Equal(0, nts.RejectedReplies);
        Assert.True(nts.Cookies >= 7, nts.ToString());

        string stats = upstream.Chronyc("serverstats");
        _output.WriteLine(stats);
        Assert.Matches(@"NTS-KE connections accepted: 1\b", stats);
        Assert.Matches(@"Authenticated NTP packets\s*: [1-9]", stats);
    }

    [Fact]
    public async Task An_NTS_source_whose_certificate_is_not_trusted_is_never_used()
    {
        using var certs = new TestCertificates();
        var (node, upstream, _) = await NodeFollowingChronydOverNts(certs, certs.OtherCaPath);
        await using var _node = node;
        using var _upstream = upstream;
        await Task.Delay(TimeSpan.FromSeconds(8));
        var tracking = await Tracking(node);
        Assert.False(tracking.Synchronised);
        var nts = Assert.Single(await NtsReports(node));
        Assert.Equal(0, nts.KeyExchanges);
        // Failed exchanges back off (2 s, 4 s, ...): a handful in 8 s, not one per poll.
        Assert.InRange(long.Parse(System.Text.RegularExpressions.Regex.Match(upstream.Chronyc("serverstats"), @"NTS-KE connections accepted: (\d+)").Groups[1].Value), 1, 4);
        string stats = upstream.Chronyc("serverstats");
        // No NTP request was ever sent in the clear instead.
        Assert.Matches(@"NTP packets received\s*: 0\b", stats);
    }

    /// <summary>
    /// Bounded figures for docs/nts.md: NTS-KE handshakes per second (2 clients, 3 s), NTS and plain NTP
    /// round trips per second over loopback (one in flight, 2 s each), and the server handler's cost per
    /// request in process. The bars are far below what was measured: they catch breakage, not tune speed.
    /// </summary>
    [Fact]
    public async Task Figures_key_exchanges_and_authenticated_replies_per_second()
    {
        using var certs = new TestCertificates();
        await using var node = TimeMeshNode.Start(NodeConfig(certs, NewDataDir()));
        int kePort = node.NtsKe!.Endpoints[0].Port;
        var trusted = NtsKeClient.LoadTrusted(certs.CaPath);
        await NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, kePort, trusted, TimeSpan.FromSeconds(10));

        var window = TimeSpan.FromSeconds(3);
        var watch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            int n = 0;
            while (watch.Elapsed < window)
            {
                NtsKeClient.Exchange("127.0.0.1", IPAddress.Loopback, kePort, trusted, TimeSpan.FromSeconds(10));
                n++;
            }
            return n;
        })).ToArray();
        int handshakes = (await Task.WhenAll(workers)).Sum();
        double handshakeSeconds = watch.Elapsed.TotalSeconds;
        double handshakesPerSecond = handshakes / handshakeSeconds;

        var result = await NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, kePort, trusted, TimeSpan.FromSeconds(10));
        using var session = new NtsClientSession(result.C2S, result.S2C, result.Cookies);
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        socket.Connect(node.Endpoints[0]);
        socket.ReceiveTimeout = 2000;
        var buffer = new byte[2048];
        double RoundTrips(Func<int, byte[]> request, Action<byte[]> check)
        {
            var w = Stopwatch.StartNew();
            int n = 0;
            while (w.Elapsed < TimeSpan.FromSeconds(2))
            {
                socket.Send(request(n));
                int length = socket.Receive(buffer);
                check(buffer[..length]);
                n++;
            }
            return n / w.Elapsed.TotalSeconds;
        }
        double ntsPerSecond = RoundTrips(i =>
        {
            var packet = ClientHeader((ulong)i + 1);
            Assert.True(session.TryAppendRequestFields(packet, out int length));
            return packet[..length];
        }, reply => Assert.Equal(NtsReplyCheck.Authentic, session.CheckReply(reply)));
        double plainPerSecond = RoundTrips(i => NtpProbe.ClientRequest((ulong)i + 1), reply => Assert.Equal(48, reply.Length));

        // The handler alone, in process: the cost NTS adds per request on the server's hot path.
        var keys = NtsServerKeys.Generate(0);
        var handler = new Core.Server.NtpServerHandler(new Core.RateLimit.ClientLog(524288, null, 1)) { Nts = new NtsServerExtension(keys) };
        var snapshot = new Core.Server.ServerSnapshot
        {
            Reference = Core.Server.ReferenceState.Local(1),
            Access = Core.Access.AccessList.FromSpecs(["127.0.0.0/8"], []),
            PrecisionLog2 = -24,
        };
        var c2s = new byte[32];
        var s2c = new byte[32];
        using var local = new NtsClientSession(c2s, s2c, Enumerable.Range(0, 8).Select(_ => NtsCookie.Seal(keys, c2s, s2c)));
        var ntsRequest = ClientHeader(5);
        Assert.True(local.TryAppendRequestFields(ntsRequest, out int ntsLength));
        ntsRequest = ntsRequest[..ntsLength];
        var plainRequest = NtpProbe.ClientRequest(5);
        var client = Core.Access.IpAddress128.FromIPAddress(IPAddress.Loopback);
        var reply = new byte[2048];
        double HandlerNs(byte[] request, Core.Server.ServerVerdict expected)
        {
            Assert.Equal(expected, handler.Handle(request, client, 1, snapshot, reply, out _));
            var w = Stopwatch.StartNew();
            int n = 0;
            while (w.ElapsedMilliseconds < 1000)
            {
                for (int i = 0; i < 100; i++) handler.Handle(request, client, 1, snapshot, reply, out _);
                n += 100;
            }
            return w.Elapsed.TotalNanoseconds / n;
        }
        double plainNs = HandlerNs(plainRequest, Core.Server.ServerVerdict.Respond);
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        double ntsNs = HandlerNs(ntsRequest, Core.Server.ServerVerdict.RespondAuthenticated);

        _output.WriteLine($"measured: NTS-KE {handshakesPerSecond:0} handshakes/s (2 clients, {handshakes} in {handshakeSeconds:0.0} s, ECDSA P-256)");
        _output.WriteLine($"measured: loopback round trips, one in flight: NTS {ntsPerSecond:0}/s, plain {plainPerSecond:0}/s (request {ntsLength} bytes, 7 cookies back)");
        _output.WriteLine($"measured: server handler in process: plain {plainNs:0} ns/request, NTS {ntsNs:0} ns/request; NTS allocated {(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / (1e9 / ntsNs):0} bytes/request");
        Assert.True(handshakesPerSecond > 5, $"{handshakesPerSecond} handshakes/s");
        Assert.True(ntsPerSecond > 100, $"{ntsPerSecond} NTS round trips/s");
        Assert.True(ntsNs < 1_000_000, $"{ntsNs} ns per NTS request");
    }

    /// <summary>A second TLS stack (.NET's SslStream on OpenSSL) against the server: ALPN, error records, limits, a silent client.</summary>
    [Fact]
    public async Task The_KE_server_answers_bad_requests_with_error_records_and_cuts_off_bad_clients()
    {
        using var certs = new TestCertificates();
        await using var node = TimeMeshNode.Start(NodeConfig(certs, NewDataDir()).WithFallback(
            Akka.Configuration.ConfigurationFactory.ParseString("timemesh.nts.handshake-timeout = 1s")));
        var endpoint = node.NtsKe!.Endpoints[0];
        var ca = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(certs.CaPath);

        async Task<System.Net.Security.SslStream> Connect(string alpn)
        {
            var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(endpoint);
            var ssl = new System.Net.Security.SslStream(tcp.GetStream(), false);
            await ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls13,
                ApplicationProtocols = [new System.Net.Security.SslApplicationProtocol(alpn)],
                CertificateChainPolicy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
                {
                    TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
                    CustomTrustStore = { ca },
                    RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                },
            });
            return ssl;
        }

        static byte[] ReadAll(System.Net.Security.SslStream ssl)
        {
            var all = new MemoryStream();
            var buffer = new byte[4096];
            int n;
            while ((n = ssl.Read(buffer)) > 0) all.Write(buffer, 0, n);
            return all.ToArray();
        }

        // A good request over OpenSSL's TLS 1.3 client: 8 cookies.
        using (var ssl = await Connect(NtsIds.Alpn))
        {
            Assert.Equal(NtsIds.Alpn, ssl.NegotiatedApplicationProtocol.ToString());
            ssl.Write(NtsKeRequest.Build());
            Assert.Equal(8, NtsKeResponse.Parse(ReadAll(ssl)).Cookies.Count);
        }
        // An unknown critical record: error 0.
        using (var ssl = await Connect(NtsIds.Alpn))
        {
            var request = new byte[64];
            int n = NtsKeCodec.WriteU16(request, true, NtsKeRecordType.NextProtocol, 0);
            n += NtsKeCodec.WriteU16(request.AsSpan(n), true, NtsKeRecordType.AeadAlgorithm, 15);
            n += NtsKeCodec.Write(request.AsSpan(n), true, 0x1234, [1, 2]);
            n += NtsKeCodec.Write(request.AsSpan(n), true, NtsKeRecordType.EndOfMessage, default);
            ssl.Write(request, 0, n);
            Assert.Equal(NtsKeErrorCode.UnrecognisedCriticalRecord, Assert.Throws<NtsKeProtocolException>(() => NtsKeResponse.Parse(ReadAll(ssl))).ErrorCode);
        }
        // More than a request may hold, without an end: error 1, nothing buffered beyond the limit.
        using (var ssl = await Connect(NtsIds.Alpn))
        {
            var junk = new byte[NtsKeRequest.MaxLength + 64];
            for (int i = 0; i + 4 <= junk.Length; i += 4) NtsKeCodec.Write(junk.AsSpan(i), false, 0x1234, default);
            ssl.Write(junk);
            Assert.Equal(NtsKeErrorCode.BadRequest, Assert.Throws<NtsKeProtocolException>(() => NtsKeResponse.Parse(ReadAll(ssl))).ErrorCode);
        }
        // Another ALPN: the handshake fails.
        await Assert.ThrowsAnyAsync<Exception>(() => Connect("http/1.1"));
        // A client that says nothing is cut off after the deadline (2 x handshake-timeout), not kept.
        using (var silent = new System.Net.Sockets.TcpClient())
        {
            await silent.ConnectAsync(endpoint);
            var watch = Stopwatch.StartNew();
            silent.ReceiveTimeout = 10_000;
            int read;
            try { read = silent.GetStream().Read(new byte[16]); }
            catch (IOException) { read = 0; }
            Assert.Equal(0, read);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"closed after {watch.Elapsed}");
        }
        Assert.True(node.NtsKe.Failed >= 3, $"failed {node.NtsKe.Failed}");
    }

    /// <summary>
    /// TimeMesh on both sides: a node follows an NTS server node; the server restarts with new cookie keys
    /// (a fresh data dir), so the client's cookies are void: it gets NTSN, exchanges keys again and goes on.
    /// </summary>
    [Fact]
    public async Task A_client_whose_cookies_are_void_gets_NTSN_and_exchanges_keys_again()
    {
        using var certs = new TestCertificates();
        int ntpPort = Chrony.FreeUdpPort();
        int kePort = Chrony.FreeTcpPort();
        Akka.Configuration.Config ServerConfig() => Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:{{ntpPort}}"]
              nts.listen = ["127.0.0.1:{{kePort}}"]
            }
            """).WithFallback(NodeConfig(certs, NewDataDir()));
        var server = TimeMeshNode.Start(ServerConfig());
        await using var client = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              data-dir = "{{NewDataDir()}}"
              server = [ { address = "127.0.0.1", port = {{ntpPort}}, nts = on, ntsport = {{kePort}}, iburst = on, minpoll = 0, maxpoll = 0 } ]
              nts.trusted-certificates = "{{certs.CaPath}}"
            }
            """));
        async Task<Sync.SyncProtocol.NtsSourceReport> WaitFor(Func<Sync.SyncProtocol.NtsSourceReport, bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
            // The source appears once the sync actor has started and resolved it.
            var report = (await NtsReports(client)).SingleOrDefault();
            while (DateTime.UtcNow < deadline && !(report is not null && condition(report)))
            {
                await Task.Delay(250);
                report = (await NtsReports(client)).SingleOrDefault();
            }
            Assert.True(report is not null && condition(report), what + ": " + report);
            return report!;
        }
        await WaitFor(r => r.KeyExchanges == 1 && r.AuthenticReplies >= 2, "first key exchange and replies");
        Assert.True((await Tracking(client)).Synchronised);

        await server.StopAsync();
        await using var restarted = TimeMeshNode.Start(ServerConfig());
        var after = await WaitFor(r => r.Naks >= 1 && r.KeyExchanges >= 2 && r.AuthenticReplies >= 2, "NTSN, then a new key exchange and replies");
        _output.WriteLine("after the server's restart with new keys: " + after);
        Assert.Equal(0, after.RejectedReplies);
    }

    /// <summary>A pool with nts = on: each server's certificate is checked against the pool's name, not its address.</summary>
    [Fact]
    public async Task A_pool_server_is_checked_against_the_pool_name()
    {
        using var certs = new TestCertificates(names: ["ntspool.test"]);
        await using var server = TimeMeshNode.Start(NodeConfig(certs, NewDataDir()));
        var settings = Config.TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              data-dir = "{{NewDataDir()}}"
              pool = [ { address = "ntspool.test", port = {{server.Endpoints[0].Port}}, maxsources = 1, nts = on, ntsport = {{server.NtsKe!.Endpoints[0].Port}}, iburst = on, minpoll = 0, maxpoll = 0 } ]
              nts.trusted-certificates = "{{certs.CaPath}}"
            }
            """));
        // The test's own resolver: the pool name stands for the server node on loopback.
        Task<IPAddress[]> Resolve(string name) => Task.FromResult(name == "ntspool.test" ? new[] { IPAddress.Loopback } : []);
        var sync = Sys.ActorOf(Sync.SyncActor.Props(settings.Upstream, Clock.DisciplinedClock.System(), CreateTestProbe().Ref, -20, null, Resolve));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        Sync.SyncProtocol.NtsSourceReport? report = null;
        while (DateTime.UtcNow < deadline && !(report is { AuthenticReplies: >= 2 }))
        {
            await Task.Delay(250);
            report = (await sync.Ask<List<Sync.SyncProtocol.NtsSourceReport>>(Sync.SyncProtocol.GetNtsReports.Instance, TimeSpan.FromSeconds(5))).SingleOrDefault();
        }
        Assert.True(report is { KeyExchanges: 1, AuthenticReplies: >= 2 }, "report: " + report);
    }
}
