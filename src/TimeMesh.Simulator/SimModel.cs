namespace TimeMesh.Simulator;

/// <summary>
/// The client's raw clock in the simulation: raw(t) = t + offset(t), where the offset integrates a
/// frequency error that wanders as a random walk, plus scheduled steps. t is true time in ns.
/// </summary>
public sealed class SimClock(long startNs, double initialOffsetSeconds, double frequencyPpm, double wanderPerSecond, Random random)
{
    private double _offsetSeconds = initialOffsetSeconds;
    private double _frequency = frequencyPpm * 1e-6;
    private long _lastNs = startNs;

    /// <summary>The raw clock's frequency error, s/s (positive: fast).</summary>
    public double FrequencySecondsPerSecond => _frequency;
    public double OffsetSeconds => _offsetSeconds;

    /// <summary>Moves the clock's state to true time <paramref name="nowNs"/> (never backwards).</summary>
    public void AdvanceTo(long nowNs)
    {
        if (nowNs <= _lastNs) return;
        double dt = (nowNs - _lastNs) * 1e-9;
        _lastNs = nowNs;
        // Integrate the offset over dt at the frequency, then let the frequency wander (random walk).
        _offsetSeconds += _frequency * dt;
        if (wanderPerSecond > 0) _frequency += wanderPerSecond * Math.Sqrt(dt) * Gaussian(random);
    }

    public void Step(double seconds) => _offsetSeconds += seconds;

    /// <summary>The raw reading at true time <paramref name="nowNs"/> (the clock must have been advanced there).</summary>
    public long RawNs(long nowNs) => nowNs + (long)Math.Round(_offsetSeconds * 1e9);

    /// <summary>The true time at which the raw clock will read <paramref name="rawNs"/>, from now on.</summary>
    public long TrueTimeOfRaw(long rawNs, long nowNs)
    {
        long rawNow = RawNs(nowNs);
        return nowNs + (long)Math.Ceiling((rawNs - rawNow) / (1 + _frequency));
    }

    public static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}

/// <summary>One direction of a network path: base delay, exponential jitter, loss and outages.</summary>
public sealed record SimLink
{
    public double BaseDelaySeconds { get; init; } = 100e-6;
    /// <summary>Mean of the exponentially distributed extra delay.</summary>
    public double JitterSeconds { get; init; } = 100e-6;
    public double LossProbability { get; init; }

    public double Delay(Random random) =>
        BaseDelaySeconds + (JitterSeconds > 0 ? -JitterSeconds * Math.Log(1.0 - random.NextDouble()) : 0);
}

/// <summary>Windows of true time in which every packet is lost (an outage of the path or the server).</summary>
public sealed record OutageSchedule(double PeriodSeconds, double DurationSeconds, double FirstAtSeconds)
{
    public bool IsDown(double trueSeconds)
    {
        if (trueSeconds < FirstAtSeconds) return false;
        double phase = (trueSeconds - FirstAtSeconds) % PeriodSeconds;
        return phase < DurationSeconds;
    }
}

/// <summary>
/// The time from a timestamp read in user space to the datagram leaving the host (the send call, the stack, the
/// driver): a base plus an exponentially distributed extra, drawn per datagram from the run's seeded generator.
/// </summary>
public sealed record SendLatency
{
    public double BaseSeconds { get; init; }
    /// <summary>Mean of the exponentially distributed extra.</summary>
    public double ExponentialMeanSeconds { get; init; }

    public double MeanSeconds => BaseSeconds + ExponentialMeanSeconds;

    public double Draw(Random random) =>
        BaseSeconds + (ExponentialMeanSeconds > 0 ? -ExponentialMeanSeconds * Math.Log(1.0 - random.NextDouble()) : 0);
}

/// <summary>Where the client's T1 comes from when its requests leave with a <see cref="SendLatency"/>.</summary>
public enum ClientTransmitStamp : byte
{
    /// <summary>The kernel's software transmit timestamp (SO_TIMESTAMPING): the instant the request left. The node's default.</summary>
    Kernel,
    /// <summary>The clock read right before the send call (the node's fallback, kernel-tx-timestamps = off): earlier than the request left.</summary>
    UserSpace,
}
