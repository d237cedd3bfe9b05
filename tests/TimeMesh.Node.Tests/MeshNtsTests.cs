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
[Collection(ProcessTests.Name)]
public class MeshNtsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static DateTimeOffset Now() => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    private static MeshCertificateAuthority.NodeRequest Node(string name, MeshRole role, params string[] ips) =>
        new(name, role, ips.Select(IPAddress.Parse).ToList(), [], 30);

    private static X509Certificate2 CaCertificate(MeshCertificateAuthority ca) => X509Certificate2.CreateFromPem(File.ReadAllText(ca.CertificatePath));

    /// <summary>A /24 of loopback addresses for one test, so that every node can use the same ports (as real masters do).</summary>
    private static string LoopbackNet() => $"127.{Random.Shared.Next(100, 250)}.{Random.Shared.Next(1, 250)}";

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
            Assert.Equal(2, good.Served);
            Assert.True(good.Failed >= 2, $"failed {good.Failed}");
        }
        using (var rogue = Serve(memberAsMaster, caCert)) Assert.Contains("says member", await Refused(rogue, member));
        using (var foreign = Serve(foreignMaster, otherCert)) Assert.Contains("does not chain to the mesh CA", await Refused(foreign, member));
        using (var far = Serve(elsewhere, caCert)) Assert.Contains("not issued for 127.0.0.1", await Refused(far, member));
    }

    private static Akka.Configuration.Config NodeConfig(string role, string ip, int ntpPort, int clusterPort, string seedIp, int kePort, string tls, string extra) =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = {{role}}
              listen = ["{{ip}}:{{ntpPort}}"]
              allow = ["127.0.0.0/8"]
              data-dir = "{{Directory.CreateTempSubdirectory("tm-meshnts-node").FullName}}"
              mesh { nts-port = {{kePort}} }
              {{tls}}
              {{extra}}
            }
            akka {
              loglevel = WARNING
              remote.dot-netty.tcp { hostname = "{{ip}}", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.ssl.tcp://timemesh@{{seedIp}}:{{clusterPort}}"]
            }
            """);

    private static async Task<List<SyncActor.NtsSourceReport>> Nts(TimeMeshNode node) =>
        await node.Sync!.Ask<List<SyncActor.NtsSourceReport>>(SyncActor.GetNtsReports.Instance, TimeSpan.FromSeconds(5));

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
        const string local = "local { stratum = 1 }";
        var nodeA = TimeMeshNode.Start(NodeConfig("master", a, ntpPort, clusterPort, a, kePort, Tls(ca, "master-a", MeshRole.Master, a), local));
        var nodeB = TimeMeshNode.Start(NodeConfig("master", b, ntpPort, clusterPort, a, kePort, Tls(ca, "master-b", MeshRole.Master, b), local));
        // C: configured as master, but the CA made its certificate a member's. D: a master of another CA.
        var nodeC = TimeMeshNode.Start(NodeConfig("master", c, ntpPort, clusterPort, a, kePort, Tls(ca, "rogue-c", MeshRole.Member, c), local));
        var nodeD = TimeMeshNode.Start(NodeConfig("master", d, ntpPort, clusterPort, d, kePort, Tls(other, "foreign-d", MeshRole.Master, d), local));
        var nodeM = TimeMeshNode.Start(NodeConfig("member", m, ntpPort, clusterPort, a, kePort, Tls(ca, "member-m", MeshRole.Member, m), masters));
        var nodes = new[] { nodeA, nodeB, nodeC, nodeD, nodeM };
        try
        {
            // No extra configuration: the masters run the mesh NTS-KE (C and D too: it is the member that refuses them).
            Assert.All(new[] { nodeA, nodeB, nodeC, nodeD }, n => Assert.NotNull(n.MeshNtsKe));
            Assert.Null(nodeM.MeshNtsKe);
            Assert.Null(nodeA.NtsKe);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            string epA = $"{a}:{ntpPort}", epB = $"{b}:{ntpPort}", epC = $"{c}:{ntpPort}", epD = $"{d}:{ntpPort}";
            await WaitFor(async () =>
            {
                var reports = await Nts(nodeM);
                var tracking = await Tracking(nodeM);
                return reports.Count(r => r.Mesh && (r.Endpoint == epA || r.Endpoint == epB) && r.AuthenticReplies >= 3) == 2
                    && reports.Count(r => r.Mesh && (r.Endpoint == epC || r.Endpoint == epD) && r.KeyExchangeFailures >= 2) == 2
                    && tracking.Synchronised;
            }, TimeSpan.FromSeconds(60), "the member synchronised over NTS to A and B, with C and D refused twice");
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
            Assert.Contains(sources[epB].State, new[] { SourceState.Selected, SourceState.Combined, SourceState.NotCombined });
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

            // The masters that have no upstream follow the leader over NTS too, once the cluster (A, B, C) has formed.
            await WaitFor(async () =>
            {
                foreach (var master in new[] { nodeA, nodeB })
                    if ((await Nts(master)).Any(r => r.Mesh && r.AuthenticReplies > 0)) return true;
                return false;
            }, TimeSpan.FromSeconds(90), "a master following the leader over NTS");
            foreach (var master in new[] { nodeA, nodeB })
                foreach (var r in await Nts(master)) output.WriteLine($"master {master.Endpoints[0]} follows {r.Endpoint}: authenticated {r.AuthenticReplies}");
        }
        finally
        {
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
        var master = TimeMeshNode.Start(NodeConfig("master", q, ntpPort, clusterPort, q, kePort, Tls("master-q", MeshRole.Master, q, r), "local { stratum = 1 }\n" + mode));
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
                // Before: plain mesh NTP takes the attacker's first answer, an hour ahead.
                await WaitFor(async () => (await Sources(member)).Any(s => s.Name == viaRelay && s.Reach != 0 && s.MeasuredOffsetSeconds > 3000),
                    TimeSpan.FromSeconds(45), "the forged hour reaching the plain member's source");
                var s = (await Sources(member)).Single(x => x.Name == viaRelay);
                output.WriteLine($"plain mesh NTP: after {watch.Elapsed.TotalSeconds:0.0} s the member measures its master at {s.MeasuredOffsetSeconds:0.000} s ({relay.Forged} forged, {relay.Forwarded} genuine replies relayed)");
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
