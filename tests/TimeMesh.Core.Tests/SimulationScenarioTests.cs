using TimeMesh.Simulator;

namespace TimeMesh.Core.Tests;

/// <summary>
/// The simulator's scenario suite with its pass bars: the sync engine, the server handler and the
/// discipline on virtual time, ten seeded runs per scenario.
/// </summary>
public class SimulationScenarioTests
{
    public static TheoryData<string> ScenarioIds()
    {
        var data = new TheoryData<string>();
        foreach (var s in Scenarios.All) data.Add(s.Id);
        return data;
    }

    [Theory]
    [MemberData(nameof(ScenarioIds))]
    public void ScenarioMeetsItsPassBars(string id)
    {
        var result = ScenarioRunner.RunMany(Scenarios.Get(id), runs: 10);
        Assert.True(result.Passed, $"{id}: " + string.Join("; ", result.Failures) + "\n" + ResultsTable.Markdown([result], 1));
    }

    [Fact]
    public void TheSimulationIsDeterministic()
    {
        var a = ScenarioRunner.Run(Scenarios.Get("001"), seed: 42);
        var b = ScenarioRunner.Run(Scenarios.Get("001"), seed: 42);
        Assert.Equal(a.RmsOffsetSeconds, b.RmsOffsetSeconds);
        Assert.Equal(a.RequestsSent, b.RequestsSent);
        Assert.NotEqual(a.RmsOffsetSeconds, ScenarioRunner.Run(Scenarios.Get("001"), seed: 43).RmsOffsetSeconds);
    }

    [Fact]
    public void AClientWithoutAnyServerNeverClaimsSync()
    {
        var scenario = Scenarios.Get("001") with
        {
            Servers = [new SimServerSpec { Up = new SimLink { LossProbability = 1 } }],
            DurationSeconds = 2000,
            Bars = new PassBars { MaxSyncSeconds = null },
        };
        var result = ScenarioRunner.Run(scenario, 1);
        Assert.Null(result.SyncSeconds);
        Assert.Equal(0, result.RepliesReceived);
    }
}
