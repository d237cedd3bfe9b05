using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Tests;

/// <summary>timemesh.mesh.discovery: parsing, errors naming key/value/what is allowed, and the Akka keys it maps onto.</summary>
public class DiscoverySettingsTests
{
    private static TimeMeshSettings Parse(string timemesh, string akka = "akka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }") =>
        TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\nrole = master\n" + timemesh + "\n}\n" + akka));

    [Fact]
    public void SeedNodesStayTheDefaultAndExistingConfigsKeepWorking()
    {
        var s = Parse("", "akka.cluster.seed-nodes = [\"akka.tcp://timemesh@10.0.0.11:4053\"]");
        Assert.Equal(DiscoveryMethod.Seeds, s.Mesh!.Discovery.Method);
        Assert.False(s.Mesh.Discovery.Enabled);
        Assert.True(s.Mesh.Discovery.ToAkkaConfig().IsEmpty);
    }

    [Fact]
    public void ConfigMethodMapsOntoAkkaDiscoveryAndBootstrapKeys()
    {
        var s = Parse("mesh.discovery { method = config, endpoints = [\"10.0.0.11:8558\", \"10.0.0.12:8558\"] }").Mesh!.Discovery;
        Assert.Equal(DiscoveryMethod.Config, s.Method);
        // The management endpoint is on the cluster address by default, never 0.0.0.0.
        Assert.Equal("10.0.0.11", s.ManagementHostname);
        var akka = s.ToAkkaConfig();
        Assert.Equal("10.0.0.11", akka.GetString("akka.management.http.hostname"));
        Assert.Equal(8558, akka.GetInt("akka.management.http.port"));
        Assert.Equal("config", akka.GetString("akka.discovery.method"));
        Assert.Equal(["10.0.0.11:8558", "10.0.0.12:8558"], akka.GetStringList("akka.discovery.config.services.timemesh-master.endpoints"));
        Assert.Equal("timemesh-master", akka.GetString("akka.management.cluster.bootstrap.contact-point-discovery.service-name"));
        Assert.Equal(2, akka.GetInt("akka.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr"));
        Assert.True(akka.GetBoolean("akka.management.cluster.bootstrap.contact-point-discovery.contact-with-all-contact-points"));
        Assert.Equal(TimeSpan.FromSeconds(5), akka.GetTimeSpan("akka.management.cluster.bootstrap.contact-point-discovery.stable-margin"));
        Assert.False(akka.GetBoolean("akka.management.cluster.bootstrap.contact-point.filter-on-fallback-port"));
    }

    [Fact]
    public void KubernetesMethodMapsOntoTheKubernetesApiDiscovery()
    {
        var s = Parse("""
            mesh.discovery {
              method = kubernetes
              management { hostname = "10.1.2.3", port = 8559 }
              kubernetes { label-selector = "app.kubernetes.io/name={0}", namespace = "timemesh", port-name = "mgmt" }
            }
            """).Mesh!.Discovery;
        var akka = s.ToAkkaConfig();
        Assert.Equal("kubernetes-api", akka.GetString("akka.discovery.method"));
        Assert.Equal("app.kubernetes.io/name={0}", akka.GetString("akka.discovery.kubernetes-api.pod-label-selector"));
        Assert.Equal("timemesh", akka.GetString("akka.discovery.kubernetes-api.pod-namespace"));
        Assert.Equal("mgmt", akka.GetString("akka.management.cluster.bootstrap.contact-point-discovery.port-name"));
        Assert.Equal("10.1.2.3", akka.GetString("akka.management.http.hostname"));
        Assert.Equal(8559, akka.GetInt("akka.management.http.port"));
        Assert.Equal("mgmt", s.LookupPortName);
    }

    [Theory]
    [InlineData("mesh.discovery.method = dns", "", "timemesh.mesh.discovery.method = dns", "seeds")]
    [InlineData("mesh.discovery { method = config, endpoints = [\"10.0.0.11:8558\", \"10.0.0.12:8558\"] }",
        "akka.cluster.seed-nodes = [\"akka.tcp://timemesh@10.0.0.11:4053\"]", "akka.cluster.seed-nodes = [akka.tcp://timemesh@10.0.0.11:4053]", "must be empty")]
    [InlineData("mesh.discovery.method = config", "", "timemesh.mesh.discovery.endpoints = []", "host:port")]
    [InlineData("mesh.discovery { method = config, endpoints = [\"10.0.0.11\"] }", "", "timemesh.mesh.discovery.endpoints = 10.0.0.11", "host:port")]
    [InlineData("mesh.discovery { method = config, endpoints = [\"10.0.0.11:8558\"] }", "", "timemesh.mesh.discovery.required-contact-point-nr = 2", "at most the number of endpoints")]
    [InlineData("mesh.discovery { method = kubernetes, required-contact-point-nr = 0 }", "", "timemesh.mesh.discovery.required-contact-point-nr = 0", "from 1 to 64")]
    [InlineData("mesh.discovery { method = kubernetes, management.port = 70000 }", "", "timemesh.mesh.discovery.management.port = 70000", "from 1 to 65535")]
    [InlineData("mesh.discovery { method = kubernetes, service-name = \"a b\" }", "", "timemesh.mesh.discovery.service-name = a b", "DNS label")]
    [InlineData("mesh.discovery { method = kubernetes }", "akka.remote.dot-netty.tcp.hostname = \"0.0.0.0\"", "timemesh.mesh.discovery.management.hostname = 0.0.0.0", "cluster address")]
    public void BadValuesNameKeyValueAndWhatIsAllowed(string timemesh, string akka, string keyAndValue, string allowed)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(timemesh, akka.Length == 0 ? "akka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }" : akka));
        Assert.Contains(keyAndValue, e.Message);
        Assert.Contains(allowed, e.Message);
    }

    [Fact]
    public void TheSeedNodesAnswerOfAkkaManagementGivesTheMastersClusterAddress()
    {
        // As Akka.Management 1.5.73 (and our endpoint, through its types) writes it.
        const string json = """{"SelfNode":{"Host":"127.0.0.11","Port":14281,"System":"timemesh","Protocol":"akka.tcp","HasLocalScope":false,"HasGlobalScope":true},"Nodes":[]}""";
        Assert.Equal("akka.tcp://timemesh@127.0.0.11:14281", BootstrapMasters.ParseSelfNode(json)!.ToString());
        Assert.Null(BootstrapMasters.ParseSelfNode("""{"Nodes":[]}"""));
        Assert.Null(BootstrapMasters.ParseSelfNode("""{"SelfNode":{"Host":"x"}}"""));
        Assert.Null(BootstrapMasters.ParseSelfNode("[]"));
    }
}
