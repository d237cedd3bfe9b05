using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Cluster;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Cluster transport over mutual TLS (timemesh.cluster-tls), whole nodes in one process with certificates the
/// test makes: nodes whose certificates come from the cluster's CA form a cluster; a node with a certificate
/// from another CA, and a node without TLS, never become members in the others' view.
/// </summary>
[Collection(ProcessLanes.Mesh)]
public class ClusterTlsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Password = "test-only";

    private static X509Certificate2 MakeCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    /// <summary>A node certificate issued by <paramref name="ca"/>, written as a password-protected PKCS#12 file.</summary>
    private static string MakeNodePfx(X509Certificate2 ca, string name, string dir)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // server and client authentication
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), RandomNumberGenerator.GetBytes(16));
        using var withKey = issued.CopyWithPrivateKey(key);
        string path = Path.Combine(dir, name + ".pfx");
        File.WriteAllBytes(path, withKey.Export(X509ContentType.Pfx, Password));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // a node refuses a key others can read
        return path;
    }

    private static string WriteCa(X509Certificate2 ca, string dir, string name)
    {
        string path = Path.Combine(dir, name + ".pem");
        File.WriteAllText(path, ca.ExportCertificatePem());
        return path;
    }

    private static readonly int MeshNtsPort = Chrony.FreeTcpPort();

    private static Akka.Configuration.Config Config(string role, int clusterPort, int seed, string? certificate, string? ca) =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = {{role}}
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-tls-" + Guid.NewGuid().ToString("N")[..8])}}"
              mesh { nts-port = {{MeshNtsPort}} }
              {{(certificate is null ? "" : $"cluster-tls {{ certificate = \"{certificate}\", password = \"{Password}\", ca = \"{ca}\" }}")}}
            }
            akka {
              loglevel = WARNING
              remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.{{(certificate is null ? "" : "ssl.")}}tcp://timemesh@127.0.0.1:{{seed}}"]
            }
            """);

    private static IReadOnlyList<string> UpMembers(TimeMeshNode node) =>
        Cluster.Get(node.MeshSystem!).State.Members.Where(m => m.Status == MemberStatus.Up).Select(m => m.Address.ToString()).OrderBy(a => a).ToList();

    [Fact]
    public async Task Nodes_of_one_ca_form_a_cluster_and_a_node_of_another_ca_or_without_tls_never_joins()
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-tls").FullName;
        using var clusterCa = MakeCa("TimeMesh test cluster CA");
        using var otherCa = MakeCa("Some other CA");
        string clusterCaPath = WriteCa(clusterCa, dir, "cluster-ca"), otherCaPath = WriteCa(otherCa, dir, "other-ca");
        int portA = Chrony.FreeTcpPort(), portB = Chrony.FreeTcpPort(), portC = Chrony.FreeTcpPort(), portD = Chrony.FreeTcpPort();
        // With TLS on, Akka names the protocol akka.ssl.tcp; the plain node dials akka.tcp at the same port.
        string a = $"akka.ssl.tcp://timemesh@127.0.0.1:{portA}", b = $"akka.ssl.tcp://timemesh@127.0.0.1:{portB}";
        string c = $"akka.ssl.tcp://timemesh@127.0.0.1:{portC}", d = $"akka.tcp://timemesh@127.0.0.1:{portD}";

        var nodeA = TimeMeshNode.Start(Config("master", portA, portA, MakeNodePfx(clusterCa, "node-a", dir), clusterCaPath));
        var nodeB = TimeMeshNode.Start(Config("member", portB, portA, MakeNodePfx(clusterCa, "node-b", dir), clusterCaPath));
        // C trusts its own CA and presents a certificate from it: both sides refuse the handshake.
        var nodeC = TimeMeshNode.Start(Config("member", portC, portA, MakeNodePfx(otherCa, "node-c", dir), otherCaPath));
        // D speaks plain TCP to a TLS port.
        var nodeD = TimeMeshNode.Start(Config("member", portD, portA, null, null));
        try
        {
            string[] ab = new[] { a, b }.OrderBy(x => x).ToArray();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (DateTime.UtcNow < deadline && !(UpMembers(nodeA).SequenceEqual(ab) && UpMembers(nodeB).SequenceEqual(ab)))
                await Task.Delay(200);
            output.WriteLine($"measured: A and B up in each other's view after {watch.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(ab, UpMembers(nodeA));
            Assert.Equal(ab, UpMembers(nodeB));

            // Give C and D far longer than B needed (seed-node join retries every few seconds).
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (DateTime.UtcNow < deadline)
            {
                foreach (var view in new[] { Cluster.Get(nodeA.MeshSystem!).State, Cluster.Get(nodeB.MeshSystem!).State })
                {
                    Assert.DoesNotContain(view.Members, m => m.Address.ToString() == c || m.Address.ToString() == d);
                }
                Assert.DoesNotContain(Cluster.Get(nodeC.MeshSystem!).State.Members, m => m.Status == MemberStatus.Up && m.Address.ToString() == a);
                Assert.DoesNotContain(Cluster.Get(nodeD.MeshSystem!).State.Members, m => m.Status == MemberStatus.Up && m.Address.Port == portA);
                await Task.Delay(500);
            }
            output.WriteLine($"measured: after {watch.Elapsed.TotalSeconds:0.0} s A sees [{string.Join(", ", UpMembers(nodeA))}], C sees {Cluster.Get(nodeC.MeshSystem!).State.Members.Count} members, D sees {Cluster.Get(nodeD.MeshSystem!).State.Members.Count}");
            // Refused nodes still serve NTP on their own: the cluster transport is all they are kept out of.
            Assert.NotNull(NtpProbe.Ask(nodeC.Endpoints[0], NtpProbe.ClientRequest(7), TimeSpan.FromSeconds(5)));
        }
        finally
        {
            foreach (var node in new[] { nodeD, nodeC, nodeB, nodeA }) await node.StopAsync();
        }
    }

    [Fact]
    public void The_ca_check_accepts_only_certificates_the_cluster_ca_issued()
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-tls-unit").FullName;
        using var clusterCa = MakeCa("cluster");
        using var otherCa = MakeCa("other");
        using var good = X509CertificateLoader.LoadPkcs12FromFile(MakeNodePfx(clusterCa, "good", dir), Password);
        using var foreign = X509CertificateLoader.LoadPkcs12FromFile(MakeNodePfx(otherCa, "foreign", dir), Password);
        Assert.True(ClusterTlsSettings.IssuedByCa(good, clusterCa, "peer", null));
        Assert.False(ClusterTlsSettings.IssuedByCa(foreign, clusterCa, "peer", null));
        Assert.False(ClusterTlsSettings.IssuedByCa(otherCa, clusterCa, "peer", null));
        Assert.False(ClusterTlsSettings.IssuedByCa(null, clusterCa, "peer", null));
    }

    [Fact]
    public void A_wrong_password_or_a_missing_file_stops_the_node_at_start_naming_the_key()
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-tls-bad").FullName;
        using var ca = MakeCa("cluster");
        string pfx = MakeNodePfx(ca, "node", dir), caPath = WriteCa(ca, dir, "ca");
        var wrongPassword = Akka.Configuration.ConfigurationFactory.ParseString(
            $"timemesh {{ role = member, cluster-tls {{ certificate = \"{pfx}\", password = \"nope\", ca = \"{caPath}\" }} }}");
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(wrongPassword));
        Assert.Equal("timemesh.cluster-tls.certificate", e.Key);
        var missingCa = Akka.Configuration.ConfigurationFactory.ParseString(
            $"timemesh {{ role = member, cluster-tls {{ certificate = \"{pfx}\", password = \"{Password}\", ca = \"{dir}/none.pem\" }} }}");
        e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(missingCa));
        Assert.Equal("timemesh.cluster-tls.ca", e.Key);
    }
}
