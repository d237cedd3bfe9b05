using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Tests;

/// <summary>Issue 18 step 2: a mesh node states its cluster address and runs without TLS only on loopback or when told to.</summary>
public class ClusterTransportTests
{
    private static ClusterTransport Judge(string akka, bool tls = false, bool insecure = false) =>
        ClusterTransport.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString(akka), tls, insecure);

    [Fact]
    public void ALoopbackClusterAddressRunsWithoutTls()
    {
        var t = Judge("akka.remote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 4053 }");
        Assert.Equal(ClusterSecurity.Loopback, t.Security);
        Assert.Equal("127.0.0.1:4053, loopback without TLS", t.Describe());
        Assert.Equal(ClusterSecurity.Loopback, Judge("akka.remote.dot-netty.tcp { hostname = \"::1\", port = 0 }").Security);
        Assert.Equal(ClusterSecurity.Loopback, Judge("akka.remote.dot-netty.tcp { hostname = localhost, port = 0 }").Security);
    }

    [Fact]
    public void ALanAddressWithoutTlsIsRefusedNamingTheKeyAndTheWayOut()
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Judge("akka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }"));
        Assert.Equal("timemesh.cluster-tls", e.Key);
        Assert.Contains("10.0.0.11", e.Message);
        Assert.Contains("timemesh cert init", e.Message);
        Assert.Contains("timemesh.mesh.insecure = on", e.Message);
    }

    [Fact]
    public void AWildcardBindIsNotLoopbackEvenWithALoopbackPublicName()
    {
        Assert.Throws<TimeMeshConfigException>(() => Judge("akka.remote.dot-netty.tcp { hostname = \"127.0.0.1\", bind-hostname = \"0.0.0.0\", port = 4053 }"));
        var t = Judge("akka.remote.dot-netty.tcp { hostname = \"127.0.0.1\", bind-hostname = \"0.0.0.0\", port = 4053 }", insecure: true);
        Assert.Equal(ClusterSecurity.Insecure, t.Security);
        Assert.Equal("127.0.0.1:4053 (bound to 0.0.0.0:4053), INSECURE: no TLS (timemesh.mesh.insecure = on)", t.Describe());
    }

    [Fact]
    public void TlsOrTheExplicitOverrideLetALanNodeStart()
    {
        Assert.Equal(ClusterSecurity.Tls, Judge("akka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }", tls: true).Security);
        var insecure = Judge("akka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }", insecure: true);
        Assert.Equal(ClusterSecurity.Insecure, insecure.Security);
        Assert.Contains("WITHOUT TLS", insecure.InsecureWarning);
    }

    [Theory]
    [InlineData("akka.remote.dot-netty.tcp { port = 4053 }", "(not set)")]
    [InlineData("akka.remote.dot-netty.tcp { hostname = \"\", port = 4053 }", "(not set)")]
    [InlineData("akka.remote.dot-netty.tcp { hostname = \"0.0.0.0\", port = 4053 }", "0.0.0.0")]
    [InlineData("akka.remote.dot-netty.tcp { hostname = \"::\", port = 4053 }", "::")]
    public void AMeshNodeStatesItsClusterAddress(string akka, string value)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Judge(akka, tls: true));
        Assert.Equal("akka.remote.dot-netty.tcp.hostname", e.Key);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void WithoutAPortTheLineSaysAkkasDefaultThatIsReallyBound()
    {
        var t = Judge("akka.remote.dot-netty.tcp { hostname = \"127.0.0.1\" }");
        Assert.Equal(ClusterTransport.AkkaDefaultPort, t.Port);
        Assert.Equal("127.0.0.1:2552, loopback without TLS", t.Describe());
        var p = Assert.Throws<TimeMeshConfigException>(() => Judge("akka.remote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 70000 }"));
        Assert.Equal("akka.remote.dot-netty.tcp.port", p.Key);
    }

    [Fact]
    public void ANodeOnALanAddressWithoutTlsDoesNotStart()
    {
        var config = Akka.Configuration.ConfigurationFactory.ParseString("""
            timemesh {
              role = member
              listen = ["127.0.0.1:0"]
              data-dir = "DATA"
            }
            akka.remote.dot-netty.tcp { hostname = "10.0.0.11", port = 0 }
            """.Replace("DATA", Path.Combine(Path.GetTempPath(), "tm-transport-" + Guid.NewGuid().ToString("N"))));
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(config));
        Assert.Equal("timemesh.cluster-tls", e.Key);
    }
}
