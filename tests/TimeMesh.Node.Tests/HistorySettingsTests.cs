using TimeMesh.Node.Config;
using TimeMesh.Node.StatusPage;

namespace TimeMesh.Node.Tests;

public class HistorySettingsTests
{
    private static HistorySettings Parse(string body) =>
        HistorySettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh.history {\n" + body + "\n}"));

    [Fact]
    public void DefaultsKeepADayAtOneSampleEvery16Seconds()
    {
        var s = Parse("");
        Assert.Equal(TimeSpan.FromSeconds(16), s.Interval);
        Assert.Equal(TimeSpan.FromHours(24), s.Length);
        Assert.Equal(5400, s.Capacity);
    }

    [Theory]
    [InlineData("interval = 1s, length = 10m", 600)]
    [InlineData("interval = 500ms, length = 3s", 6)]
    [InlineData("interval = 7s, length = 20s", 3)]
    [InlineData("interval = 64s, length = 7d", 9450)]
    public void CapacityIsLengthOverInterval(string body, int capacity) => Assert.Equal(capacity, Parse(body).Capacity);

    [Theory]
    [InlineData("interval = 0s", "timemesh.history.interval = 0s")]
    [InlineData("interval = fast", "timemesh.history.interval = fast")]
    [InlineData("length = 40d", "timemesh.history.length = 40d")]
    [InlineData("interval = 10s, length = 5s", "no shorter than interval")]
    [InlineData("interval = 100ms, length = 30d", "at most 1000000 samples")]
    public void ABadValueNamesKeyValueAndWhatIsAllowed(string body, string expected)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Contains(expected, e.Message);
        Assert.Contains("allowed", e.Message);
    }
}
