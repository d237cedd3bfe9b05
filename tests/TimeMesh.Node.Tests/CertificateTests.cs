using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Cli.Certificates;
using TimeMesh.Cli.Commands;
using TimeMesh.Cli.Doctor;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Sync;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// <c>timemesh cert</c> and roles from certificates: a CA and node certificates made by the tool (files, modes,
/// chain, role, names, loading), expiry in doctor and at start, and a mesh over TLS where a node with a member
/// certificate that says master in its status is neither elected nor followed.
/// </summary>
[Collection(ProcessLanes.Mesh)]
public class CertificateTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static string TempDir() => Directory.CreateTempSubdirectory("tm-cert").FullName;

    /// <summary>Now without its fraction of a second, as certificates hold it.</summary>
    private static DateTimeOffset Now() => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    private static MeshCertificateAuthority.NodeRequest Node(string name, MeshRole role, int days = 365, string ip = "127.0.0.1", string[]? dns = null) =>
        new(name, role, [IPAddress.Parse(ip)], dns ?? [], days);

    private static Akka.Configuration.Config TlsConfig(string role, string block) =>
        Akka.Configuration.ConfigurationFactory.ParseString($"timemesh {{ role = {role}, listen = [\"127.0.0.1:0\"], {block} }}");

    [Fact]
    public void Init_and_issue_write_private_keys_0600_and_certificates_that_chain_to_the_ca_with_role_and_names()
    {
        string dir = TempDir(), caDir = Path.Combine(dir, "ca"), outDir = Path.Combine(dir, "nodes");
        // Through the command line, as an operator runs it.
        Assert.Equal(0, TimeMesh.Cli.Cli.Build().Parse(["cert", "init", "--dir", caDir]).Invoke());
        Assert.Equal(0, TimeMesh.Cli.Cli.Build().Parse(["cert", "issue", "--dir", caDir, "--role", "master", "--name", "master-a",
            "--ip", "10.1.2.3", "--ip", "127.0.0.1", "--dns", "master-a.mesh.example", "--out", outDir]).Invoke());
        // A second init would orphan every certificate issued: refused.
        Assert.Equal(2, TimeMesh.Cli.Cli.Build().Parse(["cert", "init", "--dir", caDir]).Invoke());
        Assert.NotEqual(0, TimeMesh.Cli.Cli.Build().Parse(["cert", "issue", "--dir", caDir, "--role", "boss", "--name", "x", "--ip", "10.0.0.1"]).Invoke());

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(caDir, "ca-key.pem")));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(outDir, "master-a.pfx")));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(outDir, "master-a.pfx.password")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(caDir));
        Assert.Empty(Directory.GetFiles(outDir, ".*")); // no temporary file left behind

        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(caDir, "ca.pem")));
        string password = File.ReadAllText(Path.Combine(outDir, "master-a.pfx.password")).Trim();
        using var node = X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(outDir, "master-a.pfx"), password);
        Assert.True(node.HasPrivateKey);
        Assert.True(ClusterTlsSettings.IssuedByCa(node, ca, "test", null));
        Assert.Equal(MeshRole.Master, RoleCertificates.ReadRole(node));
        Assert.True(RoleCertificates.NamesHost(node, "10.1.2.3"));
        Assert.True(RoleCertificates.NamesHost(node, "127.0.0.1"));
        Assert.True(RoleCertificates.NamesHost(node, "MASTER-A.mesh.example"));
        Assert.False(RoleCertificates.NamesHost(node, "10.1.2.4"));
        Assert.Equal("CN=master-a", node.Subject);

        // The config block the tool prints loads as the node loads it (password from the file it wrote).
        string block = $"cluster-tls {{ certificate = \"{Path.Combine(outDir, "master-a.pfx")}\", password-file = \"{Path.Combine(outDir, "master-a.pfx.password")}\", ca = \"{Path.Combine(caDir, "ca.pem")}\" }}";
        var settings = ClusterTlsSettings.FromConfig(TimeMeshSettings.WithReference(TlsConfig("master", block)));
        Assert.NotNull(settings);
        Assert.Equal(MeshRole.Master, settings.OwnRole());
        Assert.Empty(SecretFiles.Review(TlsConfig("master", block)));

        // PEM: a member's certificate and key in two files, the key 0600; loads too.
        var written = CertCommand.Issue(MeshCertificateAuthority.Open(caDir), Node("member-b", MeshRole.Member), outDir, "pem", null, null, force: false, Now());
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(outDir, "member-b-key.pem")));
        Assert.DoesNotContain("PRIVATE KEY", File.ReadAllText(Path.Combine(outDir, "member-b.pem")));
        var pem = ClusterTlsSettings.FromConfig(TimeMeshSettings.WithReference(TlsConfig("member", written.ConfigBlock)))!;
        Assert.Equal(MeshRole.Member, pem.OwnRole());
        Assert.Throws<CertificateToolException>(() => CertCommand.Issue(MeshCertificateAuthority.Open(caDir), Node("member-b", MeshRole.Member), outDir, "pem", null, null, force: false, Now()));

        // One member certificate for many pods (a Kubernetes DaemonSet): no address, role member. A master must name
        // the address it is dialled at, or its role would count for none.
        Assert.Equal(0, TimeMesh.Cli.Cli.Build().Parse(["cert", "issue", "--dir", caDir, "--role", "member", "--name", "members", "--out", outDir]).Invoke());
        string membersPassword = File.ReadAllText(Path.Combine(outDir, "members.pfx.password")).Trim();
        using var members = X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(outDir, "members.pfx"), membersPassword);
        Assert.Equal(MeshRole.Member, RoleCertificates.ReadRole(members));
        Assert.False(RoleCertificates.NamesHost(members, "10.1.2.3"));
        Assert.Equal(2, TimeMesh.Cli.Cli.Build().Parse(["cert", "issue", "--dir", caDir, "--role", "master", "--name", "nowhere", "--out", outDir]).Invoke());
        Assert.False(File.Exists(Path.Combine(outDir, "nowhere.pfx")));
    }

    [Fact]
    public void Doctor_warns_of_a_certificate_that_expires_in_ten_days_and_says_how_many()
    {
        string dir = TempDir();
        var now = Now();
        var ca = MeshCertificateAuthority.Init(Path.Combine(dir, "ca"), "test CA", 3650, now);
        var written = CertCommand.Issue(ca, Node("member-b", MeshRole.Member, days: 10), dir, "pfx", null, null, force: false, now);
        var config = TimeMeshSettings.WithReference(TlsConfig("member", written.ConfigBlock));

        var findings = new CertificateCheck(new DoctorEnvironment { Now = () => now }).Run(config);
        foreach (var f in findings) output.WriteLine(f.ToLine());
        var certificate = Assert.Single(findings, f => f.Message.StartsWith("timemesh.cluster-tls.certificate", StringComparison.Ordinal));
        Assert.Equal(DoctorLevel.Warn, certificate.Level);
        Assert.Contains("in 10 days", certificate.Message);
        Assert.Equal(DoctorLevel.Ok, Assert.Single(findings, f => f.Message.StartsWith("timemesh.cluster-tls.ca", StringComparison.Ordinal)).Level);
        // 31 days before the end it is fine; once past it, a failure.
        Assert.All(new CertificateCheck(new DoctorEnvironment { Now = () => now.AddDays(-21) }).Run(config), f => Assert.Equal(DoctorLevel.Ok, f.Level));
        Assert.Contains(new CertificateCheck(new DoctorEnvironment { Now = () => now.AddDays(11) }).Run(config), f => f.Level == DoctorLevel.Fail && f.Message.Contains("expired"));
    }

    [Fact]
    public void An_expired_certificate_stops_the_node_at_start_naming_the_key()
    {
        string dir = TempDir();
        var longAgo = Now().AddDays(-400);
        var ca = MeshCertificateAuthority.Init(Path.Combine(dir, "ca"), "test CA", 3650, longAgo);
        var written = CertCommand.Issue(ca, Node("member-b", MeshRole.Member, days: 30), dir, "pfx", null, null, force: false, longAgo);
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(TlsConfig("member", written.ConfigBlock)));
        output.WriteLine(e.Message);
        Assert.Equal("timemesh.cluster-tls.certificate", e.Key);
        Assert.Contains("expired", e.Message);
    }

    /// <summary>Collects every node's warnings in this process (the mesh test reads who logged what).</summary>
    public sealed class CapturingLogger : ReceiveActor
    {
        public static readonly ConcurrentQueue<(string Source, string Message)> Warnings = new();

        public CapturingLogger()
        {
            Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
            Receive<Warning>(w => Warnings.Enqueue((w.LogSource, w.Message?.ToString() ?? "")));
            ReceiveAny(_ => { });
        }
    }

    private static readonly int MeshNtsPort = Chrony.FreeTcpPort();

    private static Akka.Configuration.Config MeshConfig(string role, int clusterPort, int seed, string tlsBlock, string local) =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = {{role}}
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              {{local}}
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-certmesh-" + Guid.NewGuid().ToString("N")[..8])}}"
              # The mesh NTS-KE port, one for every master of the class's meshes; free, not the default 4461.
              mesh { nts-port = {{MeshNtsPort}} }
              {{tlsBlock}}
            }
            akka {
              loglevel = WARNING
              loggers = ["TimeMesh.Node.Tests.CertificateTests+CapturingLogger, TimeMesh.Node.Tests"]
              remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.ssl.tcp://timemesh@127.0.0.1:{{seed}}"]
            }
            """);

    private static async Task<MeshProtocol.MeshView> View(TimeMeshNode node) =>
        await node.Mesh!.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, TimeSpan.FromSeconds(3));

    private static async Task<IReadOnlyList<string>> Sources(TimeMeshNode node) =>
        (await node.Sync!.Ask<SyncProtocol.Sources>(SyncProtocol.GetSources.Instance, TimeSpan.FromSeconds(3))).Entries.Select(e => e.Name).ToList();

    [Fact]
    public async Task A_member_certificate_claiming_master_is_neither_elected_nor_followed_and_every_node_logs_it_once()
    {
        string dir = TempDir();
        var ca = MeshCertificateAuthority.Init(Path.Combine(dir, "ca"), "test mesh CA", 30, Now());
        string Tls(string name, MeshRole role) => CertCommand.Issue(ca, Node(name, role), dir, "pfx", null, null, force: false, Now()).ConfigBlock;
        int portA = Chrony.FreeTcpPort(), portB = Chrony.FreeTcpPort(), portC = Chrony.FreeTcpPort();
        string a = $"akka.ssl.tcp://timemesh@127.0.0.1:{portA}", b = $"akka.ssl.tcp://timemesh@127.0.0.1:{portB}", c = $"akka.ssl.tcp://timemesh@127.0.0.1:{portC}";

        // A: an honest master synchronised to a stratum-5 server (it serves stratum 6). C: a member's certificate,
        // configured as master and synchronised to a stratum-1 server (stratum 2); were roles self-declared, C would
        // outrank A and lead, and B would poll it.
        int upstreamPort = Chrony.FreeUdpPort();
        using var upA = Chrony.StartServer("127.0.0.1", upstreamPort, stratum: 5);
        using var upC = Chrony.StartServer("127.0.0.2", upstreamPort, stratum: 1);
        string Upstream(string ip) => $"server = [ {{ address = \"{ip}\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1 }} ]";
        var nodeA = TimeMeshNode.Start(MeshConfig("master", portA, portA, Tls("master-a", MeshRole.Master), Upstream("127.0.0.1")));
        var nodeB = TimeMeshNode.Start(MeshConfig("member", portB, portA, Tls("member-b", MeshRole.Member), ""));
        var nodeC = TimeMeshNode.Start(MeshConfig("master", portC, portA, Tls("rogue-c", MeshRole.Member), Upstream("127.0.0.2")));
        var nodes = new[] { nodeA, nodeB, nodeC };
        try
        {
            string ntpA = nodeA.Endpoints[0].ToString(), ntpC = nodeC.Endpoints[0].ToString();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            async Task<bool> Formed()
            {
                foreach (var node in nodes)
                {
                    var view = await View(node);
                    if (view.Nodes.Count(n => n.Status is not null) != 3 || view.Leader != a) return false;
                }
                return (await Sources(nodeB)).Contains(ntpA);
            }
            while (DateTime.UtcNow < deadline && !await Formed()) await Task.Delay(250);
            output.WriteLine($"measured: three statuses everywhere, A leader, B polling A after {watch.Elapsed.TotalSeconds:0.0} s");
            foreach (var node in nodes)
            {
                var view = await View(node);
                output.WriteLine($"{view.Self}: leader {view.Leader ?? "none"}, members [{string.Join(", ", view.Members)}], statuses [{string.Join(", ", view.Nodes.Where(n => n.Status is not null).Select(n => $"{n.Node} {n.Status!.Role} s{n.Status.Stratum} serving={n.Status.Serving}"))}]");
            }
            output.WriteLine($"B polls [{string.Join(", ", await Sources(nodeB))}]");
            foreach (var w in CapturingLogger.Warnings) output.WriteLine($"warning {w.Source}: {w.Message}");
            foreach (var node in nodes) Assert.Equal(a, (await View(node)).Leader);
            // C's status, saying master at stratum 2, reached everyone: it is refused for its certificate, not for want of a status.
            Assert.Contains((await View(nodeB)).Nodes, n => n.Node == c && n.Status is { Role: MeshRole.Master, Stratum: 2, Serving: true });

            // A serves the mesh's NTS key exchange; C, a member to the mesh whatever its config says, does not.
            Assert.NotNull(nodeA.MeshNtsKe);
            Assert.Null(nodeC.MeshNtsKe);

            // For a while longer, nobody takes C for a leader and B never polls it.
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(8);
            while (DateTime.UtcNow < deadline)
            {
                foreach (var node in nodes) Assert.Equal(a, (await View(node)).Leader);
                Assert.DoesNotContain(ntpC, await Sources(nodeB));
                await Task.Delay(500);
            }

            // Every node (C about itself too) logged it, once.
            var refusals = CapturingLogger.Warnings.Where(w => w.Message.Contains(c + " says it is a master but its certificate says member")).ToList();
            foreach (var r in refusals) output.WriteLine($"{r.Source}: {r.Message}");
            foreach (string self in new[] { a, b, c }) Assert.Single(refusals, r => r.Source.StartsWith(self + "/", StringComparison.Ordinal));
            Assert.Equal(3, refusals.Count);
        }
        finally
        {
            foreach (var node in nodes.Reverse()) await node.StopAsync();
        }
    }
}
