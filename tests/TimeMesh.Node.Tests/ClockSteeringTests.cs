using TimeMesh.Core.Clock;
using TimeMesh.Core.Discipline;
using TimeMesh.Node.Clock;

namespace TimeMesh.Node.Tests;

/// <summary>
/// clock = system, against a fake kernel clock: this machine's clock is never touched. The kernel must
/// end up reading exactly what the virtual clock would serve.
/// </summary>
public class ClockSteeringTests
{
    /// <summary>A kernel clock on virtual time: its own drift, the frequency we set, and steps.</summary>
    private sealed class FakeKernel(double initialFrequencyPpm) : IKernelClock
    {
        // Small values keep the doubles exact to far below a nanosecond.
        public long TrueNs = 1_000_000_000_000;
        public double ReadingNs;
        private double _frequencyPpm = initialFrequencyPpm;
        public int Steps;

        public void Advance(long ns)
        {
            TrueNs += ns;
            ReadingNs += ns * (1 + _frequencyPpm * 1e-6);
        }

        public long ReadNs() => (long)ReadingNs;
        public double FrequencyPpm => _frequencyPpm;
        public void SetFrequencyPpm(double ppm) => _frequencyPpm = ppm;
        public void StepNs(long deltaNs) { ReadingNs += deltaNs; Steps++; }
    }

    [Fact]
    public void TheKernelFollowsTheCorrectionThroughSlewsAndSteps()
    {
        var kernel = new FakeKernel(initialFrequencyPpm: 12.5);
        kernel.ReadingNs = kernel.TrueNs;
        // The raw clock is the kernel as it would run untouched: at its own starting frequency.
        double rawNs = kernel.ReadingNs;
        var steering = new KernelClockSteering(kernel);
        var discipline = new ClockDiscipline(new DisciplineSettings { MakeStepThresholdSeconds = 1, MakeStepLimit = 3 }, (long)rawNs);
        SlewEnd? pendingEnd = null;
        long pendingEndAtRaw = 0;

        void Step(long ns)
        {
            // Move time in small steps, ending a slew when its timer would fire.
            const long tick = 10_000_000;
            for (long done = 0; done < ns; done += tick)
            {
                kernel.Advance(tick);
                rawNs += tick * (1 + 12.5e-6);
                if (pendingEnd is { } end && rawNs >= pendingEndAtRaw)
                {
                    steering.EndSlew(end.Generation);
                    pendingEnd = null;
                }
            }
        }

        void Update(double sourceOffset, double frequency, double interval)
        {
            long before = kernel.ReadNs() - (long)(rawNs + discipline.Correction.CorrectionNs((long)rawNs));
            discipline.Update((long)rawNs, sourceOffset, frequency, 1e-8, interval);
            Assert.True(Math.Abs(before) < 2000 || discipline.Steps == 1 && before > 1e9, $"before update: kernel − served {before} ns");
            pendingEnd = steering.Apply(discipline.Correction, kernel.ReadNs());
            if (pendingEnd is { } e) pendingEndAtRaw = (long)rawNs + e.After.Ticks * 100;
            Assert.InRange(kernel.ReadNs() - (rawNs + discipline.Correction.CorrectionNs((long)rawNs)), -2000, 2000);
        }

        Update(5.0, -3e-6, 16);      // beyond makestep: one step
        Assert.Equal(1, kernel.Steps);
        Assert.Equal(12.5 - 3, kernel.FrequencyPpm, 6);
        Step(16_000_000_000);
        Update(5.0 - 3e-6 * 16 + 0.002, -3e-6, 16); // 2 ms: slewed
        Assert.Equal(1, kernel.Steps);
        foreach (long at in new long[] { 1, 4, 8, 15, 16, 30 })
        {
            Step(1_000_000_000);
            // Whatever moment: the kernel reads raw + correction, as the virtual clock would serve.
            double expected = rawNs + discipline.Correction.CorrectionNs((long)rawNs);
            Assert.InRange(kernel.ReadNs() - expected, -20_000, 20_000);
        }
    }

    [Fact]
    public void AKernelSteeredClockServesTheOsClockAndRecoversTheRaw()
    {
        long os = 1_000_000_000_000;
        var clock = new DisciplinedClock(() => os, kernelSteered: true);
        clock.SetCorrection(new ClockCorrection(os, 2_000_000, 0));
        Assert.Equal(os, clock.NowUnixNs());
        Assert.Equal(os - 2_000_000, clock.ReadRawUnixNs());
        var virtualClock = new DisciplinedClock(() => os);
        virtualClock.SetCorrection(new ClockCorrection(os, 2_000_000, 0));
        Assert.Equal(os + 2_000_000, virtualClock.NowUnixNs());
        Assert.Equal(os, virtualClock.ReadRawUnixNs());
    }

    [Fact]
    public void TheKernelClockCanBeQueriedReadOnly()
    {
        // adjtimex with modes = 0 only reads; nothing on this machine changes.
        var state = LinuxKernelClock.Query();
        Assert.InRange(state.FrequencyPpm, -600, 600);
        Assert.True(state.TickUs > 0);
    }
}
