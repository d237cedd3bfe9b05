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
    public void KernelTransmitStampsRemoveTheBiasOfAUserSpaceT1()
    {
        // Same seeds, same path delays, same send latencies: only where T1 comes from differs.
        var userSpace = ScenarioRunner.RunMany(Scenarios.Get("013a"), runs: 10);
        var kernel = ScenarioRunner.RunMany(Scenarios.Get("013b"), runs: 10);
        // A T1 read 50 µs (mean) before the request leaves moves the served time ahead by about half of that.
        Assert.InRange(userSpace.MeanOffsetSeconds, 10e-6, 40e-6);
        Assert.InRange(kernel.MeanOffsetSeconds, -5e-6, 5e-6);
        Assert.True(userSpace.MeanOffsetSeconds - kernel.MeanOffsetSeconds >= 10e-6,
            $"user-space mean {userSpace.MeanOffsetSeconds * 1e6:0.0} µs, kernel {kernel.MeanOffsetSeconds * 1e6:0.0} µs");
        Assert.Equal(userSpace.RequestsSent, kernel.RequestsSent);
    }

    [Fact]
    public void TheInterleavedModeRemovesTheBiasOfAServerThatStampsBeforeItSends()
    {
        var basic = ScenarioRunner.RunMany(Scenarios.Get("014a"), runs: 10);
        var interleaved = ScenarioRunner.RunMany(Scenarios.Get("014b"), runs: 10);
        Assert.Equal(0, basic.InterleavedSamples);
        // Every sample but the first two of a run completes an exchange with the server's real transmit time.
        Assert.True(interleaved.InterleavedShare >= 0.95, $"{interleaved.InterleavedSamples} of {interleaved.Samples} interleaved");
        Assert.InRange(basic.MeanOffsetSeconds, -40e-6, -10e-6);
        Assert.True(Math.Abs(interleaved.MeanOffsetSeconds) + 10e-6 <= Math.Abs(basic.MeanOffsetSeconds),
            $"basic mean {basic.MeanOffsetSeconds * 1e6:0.0} µs, interleaved {interleaved.MeanOffsetSeconds * 1e6:0.0} µs");
        Assert.InRange(interleaved.MeanOffsetSeconds, -5e-6, 5e-6);
    }

    [Fact]
    public void AnXleaveClientOfAServerWithoutTheInterleavedModeTakesBasicSamples()
    {
        var scenario = Scenarios.Get("014b") with
        {
            Servers = [new SimServerSpec { TransmitLatency = new SendLatency { BaseSeconds = 30e-6, ExponentialMeanSeconds = 20e-6 } }],
        };
        var r = ScenarioRunner.Run(scenario, 1);
        Assert.Equal(0, r.InterleavedSamples);
        Assert.True(r.Samples > 1_500, $"{r.Samples} samples");
        Assert.NotNull(r.SyncSeconds);
        // Basic mode, so the server's late send shows again.
        Assert.True(r.MeanOffsetSeconds < -10e-6, $"mean {r.MeanOffsetSeconds * 1e6:0.0} µs");
    }

    [Fact]
    public void ASendLatencyOfZeroLeavesEveryFigureAsWithoutTheModel()
    {
        // The model's own plumbing (the extra event, the stamp choice, the server's FinishReply and table) changes nothing
        // when the datagrams leave as they are stamped.
        var zero = new SendLatency();
        foreach (var stamp in new[] { ClientTransmitStamp.UserSpace, ClientTransmitStamp.Kernel })
        {
            var plain = ScenarioRunner.Run(Scenarios.Get("001"), seed: 3);
            var modelled = ScenarioRunner.Run(Scenarios.Get("001") with
            {
                ClientSendLatency = zero,
                ClientTransmitStamp = stamp,
                Servers = [new SimServerSpec { TransmitLatency = zero }],
            }, seed: 3);
            Assert.Equal(plain.RmsOffsetSeconds, modelled.RmsOffsetSeconds);
            Assert.Equal(plain.MeanOffsetSeconds, modelled.MeanOffsetSeconds);
            Assert.Equal(plain.SyncSeconds, modelled.SyncSeconds);
            Assert.Equal(plain.RepliesReceived, modelled.RepliesReceived);
        }
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
