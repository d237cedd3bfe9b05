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

    [Theory]
    [InlineData("listen = []", "timemesh.listen")]
    [InlineData("listen = [\"::1:123\"]", "timemesh.listen")]
    [InlineData("listen = [\"127.0.0.1:1\", \"127.0.0.1:1\"]", "timemesh.listen")]
    [InlineData("allow = \"10.0.0.0/8\"", "timemesh.allow")]
    [InlineData("deny = [\"banana\"]", "timemesh.deny")]
    [InlineData("local { stratum = 0 }", "timemesh.local.stratum")]
    [InlineData("local = sometimes", "timemesh.local")]
    [InlineData("ratelimit { interval = 13 }", "timemesh.ratelimit.interval")]
    [InlineData("ratelimit { burst = 256 }", "timemesh.ratelimit.burst")]
    [InlineData("clientloglimit = 10", "timemesh.clientloglimit")]
    [InlineData("ntp-server.loops-per-socket = 0", "timemesh.ntp-server.loops-per-socket")]
    [InlineData("ntp-server.receive-buffer = tiny", "timemesh.ntp-server.receive-buffer")]
    public void BadValuesNameTheirKey(string body, string key)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal(key, e.Key);
        Assert.Contains(key + " = ", e.Message);
        // After the key and the value comes what would have been accepted.
        Assert.Matches(@"; \S.{8,}", e.Message);
    }
}
