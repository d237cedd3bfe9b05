using TimeMesh.Core.RateLimit;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Tests;

public class SettingsTests
{
    private static TimeMeshSettings Parse(string body) =>
        TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}"));

    [Fact]
    public void DefaultsAreClosedWithNoLocalAndNoRateLimit()
    {
        var s = Parse("");
        Assert.True(s.Access.IsClosed);
        Assert.Null(s.Local);
        Assert.Null(s.RateLimit);
        Assert.Equal(["0.0.0.0:123", "[::]:123"], s.Listen.Select(e => e.ToString()));
        Assert.Equal(524288, s.ClientLogLimitBytes);
        Assert.Equal(1, s.NtpServer.LoopsPerSocket);
        Assert.Equal(32, s.NtpServer.BatchSize);
        Assert.Equal(4 << 20, s.NtpServer.ReceiveBufferBytes);
    }

    [Fact]
    public void EmptyBlocksTakeChronysDefaults()
    {
        var s = Parse("local {}\nratelimit {}");
        Assert.Equal(10, s.Local!.Stratum);
        Assert.Equal(RateLimitSettings.ChronyDefaults, s.RateLimit);
    }

    [Fact]
    public void OffTurnsOptionalBlocksOff()
    {
        var s = Parse("local = off\nratelimit = off");
        Assert.Null(s.Local);
        Assert.Null(s.RateLimit);
    }

    [Fact]
    public void RateLimitKeysAreRead()
    {
        var s = Parse("ratelimit { interval = -2, burst = 16, leak = 3, kod = on }");
        Assert.Equal(new RateLimitSettings(-2, 16, 3, true), s.RateLimit);
    }

    [Fact]
    public void UpstreamKeysMirrorChrony()
    {
        var s = Parse("""
            server = [ { address = "127.0.0.1", port = 11124, iburst = on, minpoll = 0, maxpoll = 2, prefer = on },
                       { address = "ntp.example.org" } ]
            pool = [ { address = "pool.example.org", maxsources = 3, iburst = on } ]
            makestep { threshold = 0.5, limit = -1 }
            minsources = 2
            maxdistance = 1.5
            clock = system
            """);
        var u = s.Upstream;
        Assert.Equal(2, u.Servers.Count);
        var first = u.Servers[0];
        Assert.Equal(("127.0.0.1", 11124, true, 0, 2, true), (first.Address, first.Port, first.IBurst, first.MinPollLog2, first.MaxPollLog2, first.Prefer));
        Assert.Equal(("ntp.example.org", 123, false, 6, 10), (u.Servers[1].Address, u.Servers[1].Port, u.Servers[1].IBurst, u.Servers[1].MinPollLog2, u.Servers[1].MaxPollLog2));
        var pool = Assert.Single(u.Pools);
        Assert.Equal(("pool.example.org", 3, true), (pool.Address, pool.MaxSources, pool.Template.IBurst));
        Assert.Equal(0.5, u.Sync.Discipline.MakeStepThresholdSeconds);
        Assert.Equal(-1, u.Sync.Discipline.MakeStepLimit);
        Assert.Equal(2, u.Sync.Selection.MinSources);
        Assert.Equal(1.5, u.Sync.Selection.MaxDistanceSeconds);
        Assert.Equal(ClockMode.System, u.Clock);
    }

    [Fact]
    public void UpstreamDefaultsAreChronys()
    {
        var u = Parse("").Upstream;
        Assert.False(u.HasSources);
        Assert.Equal(ClockMode.Virtual, u.Clock);
        Assert.Equal(1.0, u.Sync.Discipline.MakeStepThresholdSeconds);
        Assert.Equal(3, u.Sync.Discipline.MakeStepLimit);
        Assert.Equal(83333, u.Sync.Discipline.MaxSlewRatePpm);
        Assert.Equal(1, u.Sync.Selection.MinSources);
        Assert.Equal(3.0, u.Sync.Selection.MaxDistanceSeconds);
        Assert.Equal(0, Parse("makestep = off").Upstream.Sync.Discipline.MakeStepLimit);
    }

    [Theory]
    [InlineData("listen = []", "timemesh.listen")]
    [InlineData("server = [ { port = 5 } ]", "timemesh.server[0].address")]
    [InlineData("server = [ { address = \"a\", minpoll = 4, maxpoll = 3 } ]", "timemesh.server[0].maxpoll")]
    [InlineData("server = [ { address = \"a\", port = 70000 } ]", "timemesh.server[0].port")]
    [InlineData("server = \"10.0.0.1\"", "timemesh.server")]
    [InlineData("pool = [ { address = \"p\", maxsources = 0 } ]", "timemesh.pool[0].maxsources")]
    [InlineData("clock = sundial", "timemesh.clock")]
    [InlineData("maxdistance = far", "timemesh.maxdistance")]
    [InlineData("makestep { threshold = -1 }", "timemesh.makestep.threshold")]
    [InlineData("listen = [\"::1:123\"]", "timemesh.listen")]
    [InlineData("listen = [\"127.0.0.1:1\", \"127.0.0.1:1\"]", "timemesh.listen")]
    [InlineData("allow = \"10.0.0.0/8\"", "timemesh.allow")]
    [InlineData("deny = [\"banana\"]", "timemesh.deny")]
    [InlineData("local { stratum = 0 }", "timemesh.local.stratum")]
    [InlineData("local = sometimes", "timemesh.local")]
    [InlineData("ratelimit { interval = 13 }", "timemesh.ratelimit.interval")]
    [InlineData("ratelimit { burst = 256 }", "timemesh.ratelimit.burst")]
    [InlineData("clientloglimit = 10", "timemesh.clientloglimit")]
    [InlineData("cmdport = 70000", "timemesh.cmdport")]
    [InlineData("bindcmdaddress = [\"/run/chrony/chronyd.sock\"]", "timemesh.bindcmdaddress")]
    [InlineData("bindcmdaddress = [\"127.0.0.1\", \"127.0.0.1\"]", "timemesh.bindcmdaddress")]
    [InlineData("cmdallow = [\"banana\"]", "timemesh.cmdallow")]
    [InlineData("cmddeny = \"10.0.0.0/8\"", "timemesh.cmddeny")]
    [InlineData("cmdratelimit { interval = 13 }", "timemesh.cmdratelimit.interval")]
    [InlineData("ntp-server.loops-per-socket = 0", "timemesh.ntp-server.loops-per-socket")]
    [InlineData("ntp-server.receive-buffer = tiny", "timemesh.ntp-server.receive-buffer")]
    [InlineData("role = leader", "timemesh.role")]
    [InlineData("role = member\nmesh.rejoin-delay = 10ms", "timemesh.mesh.rejoin-delay")]
    [InlineData("role = member\nmesh.masters = [\"10.0.0.1\"]", "timemesh.mesh.masters")]
    [InlineData("role = member\nmesh.masters = [\"10.0.0.1:0\"]", "timemesh.mesh.masters")]
    [InlineData("role = member\nmesh.masters = [\"::1:123\"]", "timemesh.mesh.masters")]
    [InlineData("role = member\nmesh.masters = [\"bad name:123\"]", "timemesh.mesh.masters")]
    [InlineData("role = member\nmesh.masters = [\"10.0.0.1:123\", \"10.0.0.1:123\"]", "timemesh.mesh.masters")]
    [InlineData("role = member\nmesh.masters = \"10.0.0.1:123\"", "timemesh.mesh.masters")]
    [InlineData("role = member\nmesh.status-interval = 0s", "timemesh.mesh.status-interval")]
    public void BadValuesNameTheirKey(string body, string key)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal(key, e.Key);
        Assert.Contains(key + " = ", e.Message);
        // After the key and the value comes what would have been accepted.
        Assert.Matches(@"; \S.{8,}", e.Message);
    }

    [Fact]
    public void MeshKeysAreRead()
    {
        var mesh = Parse("role = master\nmesh { status-interval = 2s, hysteresis = 30s, rejoin-delay = 7s }").Mesh!;
        Assert.Equal(Core.Mesh.MeshRole.Master, mesh.Role);
        Assert.Equal(TimeSpan.FromSeconds(2), mesh.StatusInterval);
        Assert.Equal(30, mesh.Election.HysteresisSeconds);
        Assert.Equal(TimeSpan.FromSeconds(7), mesh.RejoinDelay);
        Assert.Equal(TimeSpan.FromSeconds(5), Parse("role = member").Mesh!.RejoinDelay);
        Assert.Null(Parse("").Mesh);
        Assert.Empty(Parse("role = member").Mesh!.Masters);
        var masters = Parse("role = member\nmesh.masters = [\"10.0.0.11:123\", \"[fd00::12]:1123\", \"timemesh-master.ntp.svc:123\"]").Mesh!.Masters;
        Assert.Equal(["10.0.0.11:123", "[fd00::12]:1123", "timemesh-master.ntp.svc:123"], masters.Select(m => m.ToString()));
        Assert.Equal(System.Net.IPEndPoint.Parse("[fd00::12]:1123"), masters[1].Endpoint);
        Assert.Null(masters[2].Endpoint);
    }
}
