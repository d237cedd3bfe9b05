using TimeMesh.Node.Config;

namespace TimeMesh.Node.Tests.Control;

public class ControlSettingsTests
{
    private static TimeMeshSettings Parse(string body) =>
        TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}"));

    [Fact]
    public void TheDefaultIsLoopbackPort11130()
    {
        var control = Parse("").Control;
        Assert.True(control.Enabled);
        Assert.Equal("127.0.0.1:11130", control.Listen!.ToString());
    }

    [Theory]
    [InlineData("control.listen = \"[::1]:11130\"", "[::1]:11130")]
    [InlineData("control.listen = \"127.0.0.1:0\"", "127.0.0.1:0")]
    [InlineData("control { listen = \"0.0.0.0:9100\" }", "0.0.0.0:9100")]
    public void AddressesAreParsed(string body, string expected) => Assert.Equal(expected, Parse(body).Control.Listen!.ToString());

    [Theory]
    [InlineData("control.listen = off")]
    [InlineData("control.listen = \"off\"")]
    [InlineData("control.listen = \"\"")]
    [InlineData("control = off")]
    public void OffOrEmptyTurnsItOff(string body)
    {
        var control = Parse(body).Control;
        Assert.False(control.Enabled);
        Assert.Null(control.Listen);
    }

    [Theory]
    [InlineData("control = on")]
    [InlineData("control = \"127.0.0.1:11130\"")]
    public void AnythingButOffInPlaceOfTheBlockIsRefused(string body)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal("timemesh.control", e.Key);
    }

    [Theory]
    [InlineData("control.listen = \"127.0.0.1\"", "127.0.0.1")]
    [InlineData("control.listen = \"::1:11130\"", "::1:11130")]
    [InlineData("control.listen = \"[::1]\"", "[::1]")]
    [InlineData("control.listen = \"localhost:11130\"", "localhost:11130")]
    [InlineData("control.listen = \"127.0.0.1:70000\"", "127.0.0.1:70000")]
    [InlineData("control.listen = { a = 1 }", "{...}")]
    public void BadValuesNameKeyValueAndWhatIsAllowed(string body, string value)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal("timemesh.control.listen", e.Key);
        Assert.Equal(value, e.Value);
        Assert.Matches("allowed: an IP address and port|IPv6 addresses take brackets", e.Message);
    }

    [Fact]
    public void ThePortLimitsHaveTheirDefaults()
    {
        var control = Parse("").Control;
        Assert.Equal("/run/timemesh/timemesh.sock", control.Socket);
        Assert.False(control.PrivateReportsOverTcp);
        Assert.Equal((256, 8), (control.MaxConnections, control.MaxConnectionsPerClient));
        Assert.Equal((TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5)), (control.IdleTimeout, control.HeaderTimeout));
        Assert.Empty(control.AllowedHosts);
        Assert.Null(Parse("control.socket = off").Control.Socket);
        Assert.Null(Parse("control.socket = \"\"").Control.Socket);
        Assert.Equal(["time.example.org"], Parse("control.allowed-hosts = [\"Time.Example.org\"]").Control.AllowedHosts);
        // Only the socket: the TCP endpoint off, the node still answers the CLI on the socket.
        var socketOnly = Parse("control.listen = off").Control;
        Assert.Null(socketOnly.Listen);
        Assert.NotNull(socketOnly.Socket);
    }

    [Theory]
    [InlineData("control.socket = \"relative/timemesh.sock\"", "timemesh.control.socket", "relative/timemesh.sock", "absolute path")]
    [InlineData("control.socket = \"/run/timemesh/\"", "timemesh.control.socket", "/run/timemesh/", "absolute path")]
    [InlineData("control.max-connections = 0", "timemesh.control.max-connections", "0", "allowed")]
    [InlineData("control.max-connections-per-client = lots", "timemesh.control.max-connections-per-client", "lots", "allowed")]
    [InlineData("control.idle-timeout = 0s", "timemesh.control.idle-timeout", "0s", "allowed: a duration")]
    [InlineData("control.header-timeout = forever", "timemesh.control.header-timeout", "forever", "allowed: a duration")]
    [InlineData("control.allowed-hosts = [\"10.0.0.1\"]", "timemesh.control.allowed-hosts", "10.0.0.1", "allowed: DNS names")]
    [InlineData("control.private-reports-over-tcp = maybe", "timemesh.control.private-reports-over-tcp", "maybe", "allowed: on or off")]
    public void BadPortLimitsNameKeyValueAndWhatIsAllowed(string body, string key, string value, string allowed)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal(key, e.Key);
        Assert.Equal(value, e.Value);
        Assert.Contains(allowed, e.Message);
    }

    [Theory]
    [InlineData(null, "127.0.0.1:11130", true)]
    [InlineData("127.0.0.1:11130", "127.0.0.1:11130", true)]
    [InlineData("127.0.0.1", "127.0.0.1:11130", true)]
    [InlineData("localhost:11130", "127.0.0.1:11130", true)]
    [InlineData("LOCALHOST", "127.0.0.1:11130", true)]
    [InlineData("time.example.org:8443", "127.0.0.1:11130", true)]
    [InlineData("evil.example", "127.0.0.1:11130", false)]
    [InlineData("evil.example:11130", "127.0.0.1:11130", false)]
    [InlineData("127.0.0.1:11131", "127.0.0.1:11130", false)]
    [InlineData("127.0.0.2:11130", "127.0.0.1:11130", false)]
    [InlineData("[::1]:11130", "[::1]:11130", true)]
    [InlineData("192.0.2.7:11130", "0.0.0.0:11130", true)]
    [InlineData("localhost.evil.example", "0.0.0.0:11130", false)]
    public void TheHostHeaderMustNameThisEndpoint(string? host, string bound, bool allowed) =>
        Assert.Equal(allowed, global::TimeMesh.Control.ControlEndpoint.HostAllowed(host, System.Net.IPEndPoint.Parse(bound), ["time.example.org"]));

    [Fact]
    public void TheConnectionGateCapsEachClientAndAllTogether()
    {
        var gate = new TimeMesh.Node.Control.ConnectionGate(maxConnections: 3, maxPerClient: 2);
        var a = System.Net.IPAddress.Parse("10.0.0.1");
        var b = System.Net.IPAddress.Parse("10.0.0.2");
        Assert.True(gate.TryEnter(a));
        Assert.True(gate.TryEnter(a));
        Assert.False(gate.TryEnter(a));
        Assert.True(gate.TryEnter(b));
        Assert.False(gate.TryEnter(b));
        gate.Leave(a);
        Assert.True(gate.TryEnter(b));
        Assert.Equal((3, 2L), (gate.Open, gate.Refused));
        // An IPv6 client is its /64; an IPv4-mapped address is the IPv4 address.
        Assert.Equal(System.Net.IPAddress.Parse("2001:db8:1:2::"), TimeMesh.Node.Control.ConnectionGate.ClientOf(System.Net.IPEndPoint.Parse("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:5")));
        Assert.Equal(a, TimeMesh.Node.Control.ConnectionGate.ClientOf(System.Net.IPEndPoint.Parse("[::ffff:10.0.0.1]:5")));
    }

    [Fact]
    public void TheHttpEndpointsComeFromTimeMeshControlFoundByName()
    {
        // This test host carries TimeMesh.Control (as the timemesh tool does); TimeMesh.Node itself references no ASP.NET Core.
        Assert.IsType<global::TimeMesh.Control.HttpEndpoints>(TimeMesh.Node.Control.HttpPart.Load(TimeMesh.Node.Control.HttpPart.PackageId));
        Assert.DoesNotContain(typeof(TimeMesh.Node.Control.ControlSettings).Assembly.GetReferencedAssemblies(),
            a => a.Name!.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        Assert.Null(TimeMesh.Node.Control.HttpPart.Load("TimeMesh.Control.NotCarried"));
        var e = TimeMesh.Node.Control.HttpPart.Missing("timemesh.control.listen", "127.0.0.1:11130", "the monitoring endpoint", "or turn it off", "TimeMesh.Control.NotCarried");
        Assert.Equal("timemesh.control.listen", e.Key);
        Assert.Contains("timemesh.control.listen = 127.0.0.1:11130", e.Message);
        Assert.Contains("dotnet add package TimeMesh.Control.NotCarried", e.Message);
    }
}
