using Akka.Configuration;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Tests;

public class SchedulerTickTests
{
    private static Akka.Configuration.Config Full(string user) =>
        TimeMeshSettings.WithReference(ConfigurationFactory.ParseString(user));

    [Fact]
    public void ReferenceConfTicksEvery100Ms()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(100), SchedulerTick.Read(Full("")));
        var applied = SchedulerTick.Apply(Full(""), ClockMode.Virtual);
        Assert.Equal(TimeSpan.FromMilliseconds(100), applied.GetTimeSpan(SchedulerTick.Key));
    }

    [Fact]
    public void TheUsersTickIsKept() =>
        Assert.Equal(TimeSpan.FromMilliseconds(20),
            SchedulerTick.Apply(Full("akka.scheduler.tick-duration = 20ms"), ClockMode.Virtual).GetTimeSpan(SchedulerTick.Key));

    [Theory]
    [InlineData("")]
    [InlineData("akka.scheduler.tick-duration = 50ms")]
    public void ANodeSteeringTheSystemClockTicksEvery10Ms(string user) =>
        Assert.Equal(TimeSpan.FromMilliseconds(10), SchedulerTick.Apply(Full(user), ClockMode.System).GetTimeSpan(SchedulerTick.Key));

    [Fact]
    public void AFinerTickIsKeptWhenSteeringTheSystemClock() =>
        Assert.Equal(TimeSpan.FromMilliseconds(5),
            SchedulerTick.Apply(Full("akka.scheduler.tick-duration = 5ms"), ClockMode.System).GetTimeSpan(SchedulerTick.Key));

    [Theory]
    [InlineData("200ms")]
    [InlineData("0ms")]
    [InlineData("10")]
    [InlineData("soon")]
    public void ABadTickNamesKeyValueAndWhatIsAllowed(string value)
    {
        var config = ConfigurationFactory.ParseString($"akka.scheduler.tick-duration = {value}\ntimemesh.listen = [\"127.0.0.1:0\"]");
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshSettings.FromConfig(config));
        Assert.Contains("akka.scheduler.tick-duration", e.Message);
        Assert.Contains(value, e.Message);
        Assert.Contains("allowed", e.Message);
    }
}
