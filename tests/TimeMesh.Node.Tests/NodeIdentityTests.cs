using System.Net;
using Akka.Configuration;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Tests;

/// <summary>
/// NodeIdentity (issue 16, step 3): the cluster address, the drift state's node name and the advertised NTP endpoint,
/// computed once from the config for a standalone node and from the application's actor system for an embedded one.
/// </summary>
public class NodeIdentityTests
{
    private static NodeIdentity Standalone(string hocon, bool inMesh = true)
    {
        var full = TimeMeshSettings.WithReference(ConfigurationFactory.ParseString(hocon));
        var settings = TimeMeshSettings.FromConfig(full);
        return NodeIdentity.FromConfig(full, settings.SystemName, inMesh);
    }

    private static IPEndPoint[] Listening(params string[] endpoints) => endpoints.Select(IPEndPoint.Parse).ToArray();

    [Fact]
    public void ANodeOutsideAMeshIsLocalAndReadsNoRemotingKeys()
    {
        // A port that is no port does not matter to a node that never runs a cluster transport.
        var identity = Standalone("akka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = \"not a port\" }", inMesh: false);
        Assert.False(identity.InMesh);
        Assert.Equal("local", identity.NodeName);
        Assert.Equal("timemesh", identity.SystemName);
        Assert.Equal("", identity.Hostname);
        Assert.Equal("127.0.0.1:123", identity.WithNtpEndpoints(Listening("127.0.0.1:123")).AdvertisedNtpEndpoint);
        Assert.Equal("127.0.0.1:11123", identity.WithNtpEndpoints(Listening("0.0.0.0:11123")).AdvertisedNtpEndpoint);
    }

    [Fact]
    public void UnsetKeysTakeAkkasDefaultPortAndTheNodeNameKeepsItsFirstForm()
    {
        var identity = Standalone("timemesh.role = member");
        Assert.True(identity.InMesh);
        Assert.Equal("", identity.Hostname);
        Assert.Equal(NodeIdentity.AkkaDefaultPort, identity.Port);
        Assert.Equal(NodeIdentity.AkkaDefaultPort, identity.PublicPort);
        Assert.Equal(NodeIdentity.AkkaDefaultPort, identity.BindPort);
        // The drift state's key as every earlier version computed it: "localhost" and port 0 when unset.
        Assert.Equal("localhost-0", identity.NodeName);
        Assert.Null(identity.BindEndpoint);
        Assert.Equal("127.0.0.1:11123", identity.WithNtpEndpoints(Listening("0.0.0.0:11123")).AdvertisedNtpEndpoint);
        // No hostname: the transport refuses to run with it, naming the key.
        var e = Assert.Throws<TimeMeshConfigException>(() => ClusterTransport.From(identity, tls: false, insecure: false));
        Assert.Equal("akka.remote.dot-netty.tcp.hostname", e.Key);
    }

    [Fact]
    public void AnExplicitHostnameAndPortAreTheClusterAddressTheNodeNameAndTheWildcardNtpEndpoint()
    {
        var identity = Standalone("timemesh { role = master, system-name = tm2 }\nakka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }");
        Assert.Equal("10.0.0.11", identity.Hostname);
        Assert.Equal("10.0.0.11", identity.PublicHostname);
        Assert.Equal("10.0.0.11", identity.BindHostname);
        Assert.Equal(4053, identity.Port);
        Assert.Equal("akka.tcp://tm2@10.0.0.11:4053", identity.ClusterAddress);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.11"), 4053), identity.BindEndpoint);
        Assert.Equal("10.0.0.11-4053", identity.NodeName);
        // A wildcard NTP listen address is advertised as the cluster host with the NTP port; a specific one as itself.
        Assert.Equal("10.0.0.11:123", identity.WithNtpEndpoints(Listening("0.0.0.0:123", "127.0.0.1:123")).AdvertisedNtpEndpoint);
        Assert.Equal("10.0.0.11:1123", identity.WithNtpEndpoints(Listening("[::]:1123")).AdvertisedNtpEndpoint);
        Assert.Equal("192.0.2.7:123", identity.WithNtpEndpoints(Listening("192.0.2.7:123", "0.0.0.0:123")).AdvertisedNtpEndpoint);
        Assert.Equal("", identity.WithNtpEndpoints([]).AdvertisedNtpEndpoint);
    }

    [Fact]
    public void AHostNameThatIsNoAddressIsAdvertisedAsLoopbackForAWildcardListen()
    {
        var identity = Standalone("timemesh.role = member\nakka.remote.dot-netty.tcp { hostname = \"node-a.example\", port = 4053 }");
        Assert.Equal("node-a.example-4053", identity.NodeName);
        Assert.Equal("akka.tcp://timemesh@node-a.example:4053", identity.ClusterAddress);
        Assert.Null(identity.BindEndpoint);
        Assert.Equal("127.0.0.1:123", identity.WithNtpEndpoints(Listening("0.0.0.0:123")).AdvertisedNtpEndpoint);
    }

    [Fact]
    public void PublicAndBindKeysSplitWhatOthersDialFromWhatTheTransportBinds()
    {
        var identity = Standalone("timemesh.role = master\nakka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053, "
            + "public-hostname = \"203.0.113.5\", public-port = 14053, bind-hostname = \"0.0.0.0\", bind-port = 0 }");
        Assert.Equal("203.0.113.5", identity.PublicHostname);
        Assert.Equal(14053, identity.PublicPort);
        Assert.Equal("0.0.0.0", identity.BindHostname);
        // bind-port 0 means "the port", as Akka reads it.
        Assert.Equal(4053, identity.BindPort);
        Assert.Equal("akka.tcp://timemesh@203.0.113.5:14053", identity.ClusterAddress);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 4053), identity.BindEndpoint);
        // The drift state's name and the advertised NTP endpoint stay on the hostname, as before public-hostname was read here.
        Assert.Equal("10.0.0.11-4053", identity.NodeName);
        Assert.Equal("10.0.0.11:123", identity.WithNtpEndpoints(Listening("0.0.0.0:123")).AdvertisedNtpEndpoint);
        var transport = ClusterTransport.From(identity, tls: true, insecure: false);
        Assert.Equal(("203.0.113.5", 14053, "0.0.0.0", 4053), (transport.PublicHost, transport.Port, transport.BindHost, transport.BindPort));
        Assert.Equal("akka.tcp://timemesh@[2001:db8::1]:4053",
            Standalone("timemesh.role = member\nakka.remote.dot-netty.tcp { hostname = \"2001:db8::1\", port = 4053 }").ClusterAddress);
    }

    [Theory]
    [InlineData("port", "70000")]
    [InlineData("public-port", "-1")]
    [InlineData("bind-port", "abc")]
    public void APortThatIsNoTcpPortIsRefusedNamingTheKey(string key, string value)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() =>
            Standalone($"timemesh.role = member\nakka.remote.dot-netty.tcp {{ hostname = \"127.0.0.1\", {key} = \"{value}\" }}"));
        Assert.Equal("akka.remote.dot-netty.tcp." + key, e.Key);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void EmbeddedTheApplicationsSystemNameAndRemotingConfigAreTheIdentity()
    {
        // An application's cluster system carries Akka.Remote's reference config (hostname "" and port 2552 unless the
        // application sets them); the drift state's name reads them as it always did.
        var appConfig = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 0 }")
            .WithFallback(ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp { hostname = \"\", port = 2552, public-hostname = \"\", public-port = 0, bind-hostname = \"\", bind-port = \"\" }"));
        var identity = NodeIdentity.FromConfig(appConfig, "MyApp", inMesh: true);
        Assert.Equal("MyApp", identity.SystemName);
        Assert.Equal("127.0.0.1", identity.PublicHostname);
        Assert.Equal(0, identity.Port);
        Assert.Equal("127.0.0.1-0", identity.NodeName);
        Assert.Equal("akka.tcp://MyApp@127.0.0.1:0", identity.ClusterAddress);
        var unset = NodeIdentity.FromConfig(ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp { hostname = \"\", port = 2552 }"), "MyApp", inMesh: true);
        Assert.Equal("-2552", unset.NodeName);
        Assert.Equal("127.0.0.1:5123", unset.WithNtpEndpoints(Listening("0.0.0.0:5123")).AdvertisedNtpEndpoint);
        Assert.Equal("local", NodeIdentity.FromConfig(appConfig, "MyApp", inMesh: false).NodeName);
    }

    [Fact]
    public void TheManagementEndpointDefaultsToThePublicClusterHost()
    {
        static string Management(string remote) => TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(
            "timemesh { role = master, mesh.discovery { method = config, endpoints = [\"10.0.0.11:8558\"], required-contact-point-nr = 1 } }\n"
            + "akka.remote.dot-netty.tcp { " + remote + " }")).Mesh!.Discovery.ManagementHostname;
        Assert.Equal("10.0.0.11", Management("hostname = \"10.0.0.11\""));
        Assert.Equal("203.0.113.5", Management("hostname = \"10.0.0.11\", public-hostname = \"203.0.113.5\""));
    }
}
