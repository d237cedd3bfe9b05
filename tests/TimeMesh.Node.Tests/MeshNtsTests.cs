using TimeMesh.Nts;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using TimeMesh.Cli.Certificates;
using TimeMesh.Cli.Commands;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Control;
using TimeMesh.Node.Nts;
using TimeMesh.Node.Sync;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Authenticated mesh NTP (issue 18 step 6): with cluster TLS, members poll masters over NTS whose key exchange uses the
/// cluster certificates (mesh CA only, master role, the dialled address; the member shows its own). Real key exchanges,
/// real NTP over loopback addresses of their own, a real on-path attacker (a relay that answers first with forged replies).
/// </summary>
[Collection(ProcessLanes.Mesh)]
public class MeshNtsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static DateTimeOffset Now() => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    private static MeshCertificateAuthority.NodeRequest Node(string name, MeshRole role, params string[] ips) =>
        new(name, role, ips.Select(IPAddress.Parse).ToList(), [], 30);

    private static X509Certificate2 CaCertificate(MeshCertificateAuthority ca) => X509Certificate2.CreateFromPem(File.ReadAllText(ca.CertificatePath));

    /// <summary>A /24 of loopback addresses for one test, so that every node can use the same ports (as real masters do).</summary>
    private static string LoopbackNet() => $"127.{Random.Shared.Next(100, 250)}.{Random.Shared.Next(1, 250)}";

    private static Config.TimeMeshSettings Parse(string body) =>
        Config.TimeMeshSettings.FromConfig(Config.TimeMeshSettings.WithReference(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}")));

    [Fact]
    public void Authenticate_and_nts_port_are_read_with_defaults_auto_and_4461_and_bad_values_name_the_key()
    {
        var defaults = Parse("role = member").Mesh!;
        Assert.Equal(MeshAuthenticationMode.Auto, defaults.Authenticate);
        Assert.Equal(4461, defaults.NtsPort);
        Assert.Equal(MeshAuthenticationMode.On, Parse("role = member, mesh { authenticate = on }").Mesh!.Authenticate);
        Assert.Equal(MeshAuthenticationMode.Off, Parse("role = member, mesh { authenticate = off }").Mesh!.Authenticate);
        Assert.Equal(14461, Parse("role = member, mesh { nts-port = 14461 }").Mesh!.NtsPort);
        var e = Assert.Throws<Config.TimeMeshConfigException>(() => Parse("role = member, mesh { authenticate = sometimes }"));
        Assert.Equal("timemesh.mesh.authenticate", e.Key);
        Assert.Contains("sometimes", e.Message);
        Assert.Contains("auto", e.Message);
        e = Assert.Throws<Config.TimeMeshConfigException>(() => Parse("role = member, mesh { nts-port = 70000 }"));
        Assert.Equal("timemesh.mesh.nts-port", e.Key);
    }

    [Fact]
    public void Authenticate_on_without_cluster_tls_stops_the_node_at_start_naming_the_key()
    {
        var on = Akka.Configuration.ConfigurationFactory.ParseString("""
            timemesh { role = member, listen = ["127.0.0.1:0"], control.listen = off, mesh.authenticate = on }
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            """);
        var e = Assert.Throws<Config.TimeMeshConfigException>(() => TimeMeshNode.Start(on));
        Assert.Equal("timemesh.mesh.authenticate", e.Key);
        Assert.Contains("cluster-tls", e.Message);
    }

    [Fact]
    public async Task Mesh_key_exchange_takes_only_a_master_certificate_of_the_mesh_ca_for_the_dialled_address_and_only_mesh_ca_clients()
    {
        string dir = Directory.CreateTempSubdirectory("tm-meshnts").FullName;
        var ca = MeshCertificateAuthority.Init(Path.Combine(dir, "ca"), "mesh CA", 30, Now());
        var other = MeshCertificateAuthority.Init(Path.Combine(dir, "other"), "another CA", 30, Now());
        using var caCert = CaCertificate(ca);
        using var otherCert = CaCertificate(other);
        using var master = ca.Issue(Node("master-a", MeshRole.Master, "127.0.0.1"), Now());
        using var member = ca.Issue(Node("member-b", MeshRole.Member, "127.0.0.1"), Now());
        using var memberAsMaster = ca.Issue(Node("rogue-c", MeshRole.Member, "127.0.0.1"), Now());
        using var foreignMaster = other.Issue(Node("foreign-d", MeshRole.Master, "127.0.0.1"), Now());
        using var foreignMember = other.Issue(Node("foreign-e", MeshRole.Member, "127.0.0.1"), Now());
        using var elsewhere = ca.Issue(Node("master-f", MeshRole.Master, "127.0.0.9"), Now());
        var log = Akka.Event.NoLogger.Instance;
        var settings = new NtsSettings { Listen = [new IPEndPoint(IPAddress.Loopback, 0)], HandshakeTimeout = TimeSpan.FromSeconds(2) };
        NtsKeServer Serve(X509Certificate2 certificate, X509Certificate2 trust) =>
            NtsKeServer.StartMesh(settings, MeshNtsCredentials.From(certificate, trust, 0), null, Directory.CreateTempSubdirectory("tm-meshnts-data").FullName, 123, log);
        Task<NtsKeResult> Exchange(NtsKeServer server, X509Certificate2 client) =>
            NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, server.Endpoints[0].Port, null, TimeSpan.FromSeconds(5),
                MeshNtsCredentials.From(client, caCert, 0), ["127.0.0.1"]);
        async Task<string> Refused(NtsKeServer server, X509Certificate2 client)
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(() => Exchange(server, client));
            output.WriteLine($"refused: {e.GetBaseException().Message}");
            return e.GetBaseException().Message;
        }

        using (var good = Serve(master, caCert))
        {
            var result = await Exchange(good, member);
            Assert.Equal(8, result.Cookies.Count);
            // A master's certificate is a client certificate too (a master following the leader).
            Assert.Equal(8, (await Exchange(good, master)).Cookies.Count);
            // A client certificate from another CA, and none at all (an ordinary NTS client trusting the mesh CA): refused by the master.
            await Refused(good, foreignMember);
            var trusted = new X509Certificate2Collection(caCert);
            await Assert.ThrowsAnyAsync<Exception>(() => NtsKeClient.ExchangeAsync("127.0.0.1", IPAddress.Loopback, good.Endpoints[0].Port, trusted, TimeSpan.FromSeconds(5)));
            // The server counts an exchange once its last bytes are sent, which may be after the client has read them;
            // likewise a refusal once its handshake has failed on its side, which may be after the client saw the
            // connection close (a fresh clone under load read Failed = 1 here).
            for (int i = 0; i < 50 && (good.Served < 2 || good.Failed < 2); i++) await Task.Delay(100);
            Assert.Equal(2, good.Served);
            Assert.True(good.Failed >= 2, $"failed {good.Failed}");
        }
        using (var rogue = Serve(memberAsMaster, caCert)) Assert.Contains("says member", await Refused(rogue, member));
        using (var foreign = Serve(foreignMaster, otherCert)) Assert.Contains("does not chain to the mesh CA", await Refused(foreign, member));
        using (var far = Serve(elsewhere, caCert)) Assert.Contains("not issued for 127.0.0.1", await Refused(far, member));
    }

    [Fact]
    public async Task A_master_with_cluster_tls_answers_mesh_cookies_on_its_ntp_port_without_any_nts_configuration()
    {
        string dir = Directory.CreateTempSubdirectory("tm-meshnts-master").FullName;
        var ca = MeshCertificateAuthority.Init(Path.Combine(dir, "ca"), "mesh CA", 30, Now());
        using var caCert = CaCertificate(ca);
        using var member = ca.Issue(Node("member-b", MeshRole.Member, "127.0.0.1"), Now());
        string ip = LoopbackNet() + ".1";
        int ntpPort = Chrony.FreeUdpPort(), kePort = Chrony.FreeTcpPort(), clusterPort = Chrony.FreeTcpPort();
        string tls = CertCommand.Issue(ca, Node("master-a", MeshRole.Master, ip), dir, "pfx", null, null, force: false, Now()).ConfigBlock;
        await using var master = TimeMeshNode.Start(NodeConfig("master", ip, ntpPort, clusterPort, ip, kePort, tls, "local { stratum = 1 }"));
        Assert.NotNull(master.MeshNtsKe);
        Assert.Equal(kePort, master.MeshNtsKe!.Endpoints.Single().Port);
        var result = await NtsKeClient.ExchangeAsync(ip, IPAddress.Parse(ip), kePort, null, TimeSpan.FromSeconds(10), MeshNtsCredentials.From(member, caCert, kePort), [ip]);
        Assert.Equal(ntpPort, result.NtpEndpoint.Port);
        using var session = new NtsClientSession(result.C2S, result.S2C, result.Cookies);
        var packet = new byte[NtpPacket.MaxLength];
        NtpProbe.ClientRequest(0x0102030405060708).AsSpan(0, NtpHeader.Length).CopyTo(packet);
        Assert.True(session.TryAppendRequestFields(packet, out int length));
        var reply = NtpProbe.Ask(new IPEndPoint(IPAddress.Parse(ip), ntpPort), packet[..length], TimeSpan.FromSeconds(5));
        Assert.NotNull(reply);
        Assert.Equal(NtsReplyCheck.Authentic, session.CheckReply(reply));
        Assert.Equal(0x0102030405060708UL, NtpHeader.Read(reply).OriginTime.Value);
        // A plain request is still answered: the NTP port serves everyone, it is the member that takes NTS only.
        Assert.NotNull(NtpProbe.Ask(new IPEndPoint(IPAddress.Parse(ip), ntpPort), NtpProbe.ClientRequest(9), TimeSpan.FromSeconds(5)));
    }

    private static Akka.Configuration.Config NodeConfig(string role, string ip, int ntpPort, int clusterPort, string seedIp, int kePort, string tls, string extra) =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = {{role}}
              listen = ["{{ip}}:{{ntpPort}}"]
              allow = ["127.0.0.0/8"]
              data-dir = "{{Directory.CreateTempSubdirectory("tm-meshnts-node").FullName}}"
              mesh { nts-port = {{kePort}} }
              control.listen = off
              {{tls}}
              {{extra}}
            }
            akka {
              loglevel = WARNING
              remote.dot-netty.tcp { hostname = "{{ip}}", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.ssl.tcp://timemesh@{{seedIp}}:{{clusterPort}}"]
            }
            """);

    private static async Task<List<SyncProtocol.NtsSourceReport>> Nts(TimeMeshNode node) =>
        await node.Sync!.Ask<List<SyncProtocol.NtsSourceReport>>(SyncProtocol.GetNtsReports.Instance, TimeSpan.FromSeconds(5));

    private static async Task<IReadOnlyList<SourceReport>> Sources(TimeMeshNode node) =>
        (await node.Sync!.Ask<SyncProtocol.Sources>(SyncProtocol.GetSources.Instance, TimeSpan.FromSeconds(5))).Entries;

    private static async Task<TrackingReport> Tracking(TimeMeshNode node) =>
        (await node.Sync!.Ask<SyncProtocol.Tracking>(SyncProtocol.GetTracking.Instance, TimeSpan.FromSeconds(5))).Report;

    private static async Task WaitFor(Func<Task<bool>> condition, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            await Task.Delay(250);
        }
        Assert.Fail($"not within {limit.TotalSeconds:0} s: {what}");
    }

    [Fact]
    public async Task A_member_of_a_tls_mesh_follows_its_masters_over_nts_and_refuses_a_member_certificate_and_another_ca()
    {
        string dir = Directory.CreateTempSubdirectory("tm-meshnts-mesh").FullName;
        var ca = MeshCertificateAuthority.Init(Path.Combine(dir, "ca"), "mesh CA", 30, Now());
        var other = MeshCertificateAuthority.Init(Path.Combine(dir, "other"), "another CA", 30, Now());
        string Tls(MeshCertificateAuthority authority, string name, MeshRole role, string ip) =>
            CertCommand.Issue(authority, Node(name, role, ip), dir, "pfx", null, null, force: false, Now()).ConfigBlock;
        string net = LoopbackNet();
        string a = net + ".1", b = net + ".2", m = net + ".3", c = net + ".4", d = net + ".5";
        int ntpPort = Chrony.FreeUdpPort(), kePort = Chrony.FreeTcpPort(), clusterPort = Chrony.FreeTcpPort();
        string masters = $"mesh {{ masters = [\"{a}:{ntpPort}\", \"{b}:{ntpPort}\", \"{c}:{ntpPort}\", \"{d}:{ntpPort}\"] }}";
        // A takes time from a stratum-1 chronyd; B has no upstream, so it follows the leader (A) over the mesh, over NTS too.
        int upstreamPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort, stratum: 1);
        string local = $"server = [ {{ address = \"127.0.0.1\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1 }} ]";
        var nodeA = TimeMeshNode.Start(NodeConfig("master", a, ntpPort, clusterPort, a, kePort, Tls(ca, "master-a", MeshRole.Master, a), local));
        var nodeB = TimeMeshNode.Start(NodeConfig("master", b, ntpPort, clusterPort, a, kePort, Tls(ca, "master-b", MeshRole.Master, b), ""));
        // C: configured as master, but the CA made its certificate a member's. D: a master of another CA.
        var configC = NodeConfig("master", c, ntpPort, clusterPort, a, kePort, Tls(ca, "rogue-c", MeshRole.Member, c), local);
        var nodeC = TimeMeshNode.Start(configC);
        // A stock node whose certificate says member serves no mesh key exchange (the mesh counts it a member). A rogue
        // with that certificate serves one anyway: ours, started by hand on C's address, which the member must refuse
        // for the certificate it presents.
        var fullC = TimeMesh.Node.Config.TimeMeshSettings.WithReference(configC);
        var rogueKe = NtsKeServer.StartMesh(TimeMesh.Node.Config.TimeMeshSettings.FromConfig(fullC).Nts with { Listen = [new IPEndPoint(IPAddress.Parse(c), kePort)] },
            MeshNtsCredentials.FromClusterTls(TimeMesh.Node.Mesh.ClusterTlsSettings.FromConfig(fullC)!, kePort), null,
            Directory.CreateTempSubdirectory("tm-meshnts-rogue").FullName, ntpPort, nodeC.System.Log);
        var nodeD = TimeMeshNode.Start(NodeConfig("master", d, ntpPort, clusterPort, d, kePort, Tls(other, "foreign-d", MeshRole.Master, d), local));
        var nodeM = TimeMeshNode.Start(NodeConfig("member", m, ntpPort, clusterPort, a, kePort, Tls(ca, "member-m", MeshRole.Member, m), masters));
        var nodes = new[] { nodeA, nodeB, nodeC, nodeD, nodeM };
        try
        {
            // No extra configuration: the masters run the mesh NTS-KE (D too: it is the member that refuses it), C does not.
            Assert.All(new[] { nodeA, nodeB, nodeD }, n => Assert.NotNull(n.MeshNtsKe));
            Assert.Null(nodeC.MeshNtsKe);
            Assert.Null(nodeM.MeshNtsKe);
            Assert.Null(nodeA.NtsKe);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            string epA = $"{a}:{ntpPort}", epB = $"{b}:{ntpPort}", epC = $"{c}:{ntpPort}", epD = $"{d}:{ntpPort}";
            await WaitFor(async () =>
            {
                var reports = await Nts(nodeM);
                var tracking = await Tracking(nodeM);
                var reach = (await Sources(nodeM)).Where(x => x.Reach != 0).Select(x => x.Name).ToList();
                return reports.Count(r => r.Mesh && (r.Endpoint == epA || r.Endpoint == epB) && r.AuthenticReplies >= 3) == 2
                    && reports.Count(r => r.Mesh && (r.Endpoint == epC || r.Endpoint == epD) && r.KeyExchangeFailures >= 2) == 2
                    && reach.Contains(epA) && reach.Contains(epB) && tracking.Synchronised;
            }, TimeSpan.FromSeconds(90), "the member synchronised over NTS to A and B (B following A over NTS), with C and D refused twice");
            output.WriteLine($"measured: member synchronised over NTS after {watch.Elapsed.TotalSeconds:0.0} s");
            var nts = await Nts(nodeM);
            foreach (var r in nts)
                output.WriteLine($"{r.Endpoint}: KE {r.KeyExchanges} ok / {r.KeyExchangeFailures} failed, authenticated {r.AuthenticReplies}, rejected {r.RejectedReplies + r.Forged}, last error: {r.LastError}");
            Assert.All(nts, r => Assert.True(r.Mesh));
            Assert.Equal(4, nts.Count);
            var byEndpoint = nts.ToDictionary(r => r.Endpoint);
            Assert.Equal(0, byEndpoint[epC].KeyExchanges);
            Assert.Contains("says member", byEndpoint[epC].LastError);
            Assert.Equal(0, byEndpoint[epD].KeyExchanges);
            Assert.Contains("does not chain to the mesh CA", byEndpoint[epD].LastError);
            Assert.Equal(0, byEndpoint[epA].RejectedReplies + byEndpoint[epA].Forged);

            var sources = (await Sources(nodeM)).ToDictionary(s => s.Name);
            foreach (var s in sources.Values) output.WriteLine($"source {s.Name} {s.State} reach {Convert.ToString(s.Reach, 8)} offset {s.MeasuredOffsetSeconds:0.000000}");
            Assert.Contains(sources[epA].State, new[] { SourceState.Selected, SourceState.Combined });
            Assert.NotEqual(0, sources[epB].Reach);
            // C and D were never asked anything: no key exchange, no request, no reply.
            Assert.Equal(0, sources[epC].Reach);
            Assert.Equal(0, sources[epD].Reach);
            Assert.Contains((await Tracking(nodeM)).ReferenceName, new[] { a, b, epA, epB });

            // The monitoring view and the metrics say so.
            var queries = new NodeQueries(new NodeActors(nodeM.NtpServer, nodeM.Reference, nodeM.Sync, nodeM.Mesh, null, MeshRole.Member, () => nodeM.Mesh) { MeshNtp = "nts" }, nodeM.Clock.NowUnixNs);
            var metrics = await PrometheusMetrics.CollectAsync(queries, 0);
            Assert.Contains("timemesh_mesh_ntp_authenticated 1", metrics);
            Assert.Contains($"timemesh_mesh_nts_key_exchanges_total{{master=\"{epC}\",result=\"failed\"}}", metrics);
            Assert.Matches($"timemesh_mesh_nts_authenticated_total\\{{master=\"{System.Text.RegularExpressions.Regex.Escape(epA)}\"\\}} [1-9]", metrics);

            // B, without upstream, served the member only because it follows the leader A over NTS.
            var followed = (await Nts(nodeB)).Single(r => r.Endpoint == epA);
            output.WriteLine($"master B follows A over NTS: KE {followed.KeyExchanges}, authenticated {followed.AuthenticReplies}");
            Assert.True(followed.Mesh && followed.AuthenticReplies > 0);
        }
        finally
        {
            rogueKe.Dispose();
            foreach (var node in nodes.Reverse()) await node.StopAsync();
        }
    }

    /// <summary>
    /// An attacker on the path between a member and its master: it forwards NTP (UDP) and the key exchange (TCP) both
    /// ways, and answers every NTP request itself first, with the request's origin timestamp, unique identifier and an
    /// authenticator-shaped field copied, and a time an hour ahead.
    /// </summary>
    private sealed class SpoofingRelay : IDisposable
    {
        private readonly Socket _udp;
        private readonly TcpListener _tcp;
        private readonly IPEndPoint _ntp, _ke;
        private readonly CancellationTokenSource _stop = new();
        public int Forged;
        public int Forwarded;

        public SpoofingRelay(IPEndPoint listenNtp, IPEndPoint masterNtp, IPEndPoint listenKe, IPEndPoint masterKe)
        {
            _ntp = masterNtp;
            _ke = masterKe;
            _udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            _udp.Bind(listenNtp);
            _tcp = new TcpListener(listenKe);
            _tcp.Start();
            _ = Task.Run(UdpLoop);
            _ = Task.Run(TcpLoop);
        }

        private async Task UdpLoop()
        {
            var buffer = new byte[2048];
            while (!_stop.IsCancellationRequested)
            {
                SocketReceiveFromResult received;
                try { received = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token); }
                catch (Exception) { return; }
                var request = buffer[..received.ReceivedBytes];
                var client = (IPEndPoint)received.RemoteEndPoint;
                try
                {
                    await _udp.SendToAsync(Forge(request), SocketFlags.None, client);
                    Interlocked.Increment(ref Forged);
                }
                catch (SocketException) { }
                _ = Task.Run(async () =>
                {
                    using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    upstream.Bind(new IPEndPoint(((IPEndPoint)_udp.LocalEndPoint!).Address, 0));
                    await upstream.SendToAsync(request, SocketFlags.None, _ntp);
                    var reply = new byte[2048];
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    try
                    {
                        int n = await upstream.ReceiveAsync(reply, SocketFlags.None, timeout.Token);
                        await _udp.SendToAsync(reply.AsMemory(0, n), SocketFlags.None, client);
                        Interlocked.Increment(ref Forwarded);
                    }
                    catch (OperationCanceledException) { }
                });
            }
        }

        /// <summary>A server reply an hour ahead for <paramref name="request"/>, with whatever NTS fields an eavesdropper can copy.</summary>
        internal static byte[] Forge(byte[] request)
        {
            var asked = NtpHeader.Read(request);
            var late = NtpTimestamp.FromUnixNanoseconds((DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 + 3_600_000_000_000);
            var header = new NtpHeader(LeapIndicator.NoWarning, 4, NtpMode.Server, 1, asked.PollLog2, -20, NtpShort.Zero, NtpShort.Zero,
                0x47505300, late, asked.TransmitTime, late, late);
            var reply = new List<byte>(new byte[NtpHeader.Length]);
            var head = new byte[NtpHeader.Length];
            header.Write(head);
            reply.Clear();
            reply.AddRange(head);
            // Copy the unique identifier and the authenticator (an authenticator under the wrong key, as nothing else can be made).
            for (int offset = NtpHeader.Length; offset + 4 <= request.Length;)
            {
                ushort type = BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(offset));
                int length = BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(offset + 2));
                if (length < 4 || offset + length > request.Length) break;
                if (type is NtsFieldType.UniqueIdentifier or NtsFieldType.Authenticator) reply.AddRange(request.AsSpan(offset, length).ToArray());
                offset += length;
            }
            return reply.ToArray();
        }

        private async Task TcpLoop()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient inbound;
                try { inbound = await _tcp.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    using (inbound)
                    using (var outbound = new TcpClient())
                    {
                        try
                        {
                            await outbound.ConnectAsync(_ke);
                            var a = inbound.GetStream().CopyToAsync(outbound.GetStream(), _stop.Token);
                            var b = outbound.GetStream().CopyToAsync(inbound.GetStream(), _stop.Token);
                            await Task.WhenAny(a, b);
                        }
                        catch (Exception) { }
                    }
                });
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _udp.Dispose();
            _tcp.Stop();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Forged_replies_with_a_copied_origin_are_rejected_and_counted_and_the_member_stays_on_time_unless_mesh_ntp_is_off(bool authenticated)
    {
        string dir = Directory.CreateTempSubdirectory("tm-meshnts-spoof").FullName;
        var ca = MeshCertificateAuthority.Init(Path.Combine(dir, "ca"), "mesh CA", 30, Now());
        string net = LoopbackNet();
        // The member knows its master as R (the address the attacker sits on); the master itself is at Q.
        string r = net + ".11", q = net + ".12", m = net + ".13";
        int ntpPort = Chrony.FreeUdpPort(), kePort = Chrony.FreeTcpPort(), clusterPort = Chrony.FreeTcpPort();
        string Tls(string name, MeshRole role, params string[] ips) =>
            CertCommand.Issue(ca, Node(name, role, ips), dir, "pfx", null, null, force: false, Now()).ConfigBlock;
        string mode = authenticated ? "" : "mesh { authenticate = off }";
        int upstreamPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort, stratum: 1);
        string server = $"server = [ {{ address = \"127.0.0.1\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1 }} ]";
        var master = TimeMeshNode.Start(NodeConfig("master", q, ntpPort, clusterPort, q, kePort, Tls("master-q", MeshRole.Master, q, r), server + "\n" + mode));
        var member = TimeMeshNode.Start(NodeConfig("member", m, ntpPort, clusterPort, q, kePort, Tls("member-m", MeshRole.Member, m),
            $"mesh {{ masters = [\"{r}:{ntpPort}\"] }}\n" + mode));
        using var relay = new SpoofingRelay(new IPEndPoint(IPAddress.Parse(r), ntpPort), new IPEndPoint(IPAddress.Parse(q), ntpPort),
            new IPEndPoint(IPAddress.Parse(r), kePort), new IPEndPoint(IPAddress.Parse(q), kePort));
        string viaRelay = $"{r}:{ntpPort}";
        try
        {
            Assert.Equal(authenticated, master.MeshNtsKe is not null);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            if (!authenticated)
            {
                // Before: plain mesh NTP takes the attacker's first answer, an hour ahead, and the member serves it.
                var memberNtp = new IPEndPoint(IPAddress.Parse(m), ntpPort);
                await WaitFor(() => Task.FromResult(NtpProbe.MeasureOffset(memberNtp, TimeSpan.FromSeconds(1)) is { OffsetSeconds: > 3000 }),
                    TimeSpan.FromSeconds(45), "the forged hour served by the plain member");
                var moved = NtpProbe.MeasureOffset(memberNtp, TimeSpan.FromSeconds(2));
                output.WriteLine($"plain mesh NTP: after {watch.Elapsed.TotalSeconds:0.0} s the member serves {moved?.OffsetSeconds:0.000} s ahead of this machine's clock ({relay.Forged} forged, {relay.Forwarded} genuine replies relayed)");
                Assert.Empty(await Nts(member));
                return;
            }
            await WaitFor(async () =>
            {
                var report = (await Nts(member)).SingleOrDefault(x => x.Endpoint == viaRelay);
                return report is { AuthenticReplies: >= 8 } && report.Forged >= 8 && (await Tracking(member)).Synchronised;
            }, TimeSpan.FromSeconds(60), "the member synchronised over NTS through the attacker, forged replies rejected");
            // A while longer under attack: it stays synchronised to its master and on time.
            await Task.Delay(TimeSpan.FromSeconds(5));
            var nts = (await Nts(member)).Single();
            var source = (await Sources(member)).Single(x => x.Name == viaRelay);
            var tracking = await Tracking(member);
            var served = NtpProbe.MeasureOffset(new IPEndPoint(IPAddress.Parse(m), ntpPort), TimeSpan.FromSeconds(2));
            output.WriteLine($"NTS mesh NTP after {watch.Elapsed.TotalSeconds:0.0} s: {relay.Forged} forged sent, {relay.Forwarded} genuine relayed; member counted "
                + $"{nts.Forged} forged at the socket + {nts.RejectedReplies} in the session, {nts.AuthenticReplies} authenticated; source {source.State} "
                + $"offset {source.MeasuredOffsetSeconds * 1e3:0.000} ms; synchronised {tracking.Synchronised} to {tracking.ReferenceName}; served time {served?.OffsetSeconds * 1e3:0.000} ms from this machine's clock");
            Assert.True(tracking.Synchronised);
            Assert.Contains(source.State, new[] { SourceState.Selected, SourceState.Combined });
            Assert.True(Math.Abs(source.MeasuredOffsetSeconds) < 0.05, $"source offset {source.MeasuredOffsetSeconds}");
            Assert.NotNull(served);
            Assert.True(Math.Abs(served.Value.OffsetSeconds) < 0.1, $"served offset {served.Value.OffsetSeconds}");
            // Every forged datagram that reached a waiting request was counted; none reached the clock.
            Assert.True(nts.Forged >= 8, $"forged counted {nts.Forged}");
            Assert.True(nts.Forged <= relay.Forged);
            var queries = new NodeQueries(new NodeActors(member.NtpServer, member.Reference, member.Sync, member.Mesh, null, MeshRole.Member, () => member.Mesh) { MeshNtp = "nts" }, member.Clock.NowUnixNs);
            var metrics = await PrometheusMetrics.CollectAsync(queries, 0);
            var line = metrics.Split('\n').Single(l => l.StartsWith($"timemesh_mesh_nts_rejected_total{{master=\"{viaRelay}\"}}", StringComparison.Ordinal));
            output.WriteLine(line);
            Assert.True(long.Parse(line.Split(' ')[^1]) >= 8);
        }
        finally
        {
            await member.StopAsync();
            await master.StopAsync();
        }
    }
}
