namespace TimeMesh.Core.Clock;

/// <summary>
/// One reading of a NIC's PTP hardware clock (PHC) between two readings of the system clock, as the kernel's
/// PTP_SYS_OFFSET_EXTENDED ioctl returns them (all in ns; the PHC's own time scale, the system's CLOCK_REALTIME).
/// </summary>
/// <param name="SystemBeforeNs">The system clock read just before the PHC, ns.</param>
/// <param name="PhcNs">The PHC reading, ns on the PHC's time scale.</param>
/// <param name="SystemAfterNs">The system clock read just after the PHC, ns.</param>
public readonly record struct PhcSample(long SystemBeforeNs, long PhcNs, long SystemAfterNs)
{
    /// <summary>How long the PHC reading took as the system clock saw it: the width of the bracket.</summary>
    public long WidthNs => SystemAfterNs - SystemBeforeNs;
}

/// <summary>
/// The PHC and the system clock at one instant: <see cref="SystemNs"/> is the middle of the narrowest bracket of a
/// batch, known to ±<see cref="UncertaintyNs"/> (half its width).
/// </summary>
/// <param name="PhcNs">The PHC reading, ns on the PHC's time scale.</param>
/// <param name="SystemNs">The system time taken to match it, ns: the midpoint of the bracket.</param>
/// <param name="UncertaintyNs">How far <paramref name="SystemNs"/> may be off, ns (<see cref="TryPick"/> never gives less than 1, so it can weight a fit).</param>
public readonly record struct PhcReading(long PhcNs, long SystemNs, long UncertaintyNs)
{
    /// <summary>System minus PHC time at this instant.</summary>
    public long OffsetNs => SystemNs - PhcNs;

    /// <summary>
    /// The reading of a batch whose bracket is the narrowest (the system clock readings closest around the PHC
    /// reading, so the least disturbed by interrupts and bus delays). False when no sample has a sane bracket
    /// (system time running backwards across the reading, e.g. stepped meanwhile).
    /// </summary>
    public static bool TryPick(ReadOnlySpan<PhcSample> samples, out PhcReading reading)
    {
        reading = default;
        int best = -1;
        for (int i = 0; i < samples.Length; i++)
        {
            if (samples[i].WidthNs < 0) continue;
            if (best < 0 || samples[i].WidthNs < samples[best].WidthNs) best = i;
        }
        if (best < 0) return false;
        var s = samples[best];
        long half = s.WidthNs / 2;
        reading = new PhcReading(s.PhcNs, s.SystemBeforeNs + half, Math.Max(1, s.WidthNs - half));
        return true;
    }
}

/// <summary>
/// How to turn a PHC time into system time: system = phc + <see cref="OffsetNs"/> + <see cref="RateNsPerNs"/> × (phc −
/// <see cref="ReferencePhcNs"/>), fitted to the readings up to <see cref="LastReadingPhcNs"/>.
/// </summary>
/// <param name="ReferencePhcNs">The PHC time the fit is anchored at (the newest reading's), ns.</param>
/// <param name="OffsetNs">System minus PHC time at <paramref name="ReferencePhcNs"/>, as fitted, ns.</param>
/// <param name="RateNsPerNs">How much system minus PHC time changes per ns of PHC time (a fraction, not ppm).</param>
/// <param name="UncertaintyNs">The fit's RMS residual, but never below the most precise reading's uncertainty, ns.</param>
/// <param name="LastReadingPhcNs">The PHC time of the newest reading in the fit, ns.</param>
/// <param name="Readings">How many readings the fit was made from (1: offset only, rate 0).</param>
public sealed record PhcConversion(long ReferencePhcNs, long OffsetNs, double RateNsPerNs, long UncertaintyNs, long LastReadingPhcNs, int Readings)
{
    /// <summary>The PHC's frequency relative to the system clock, in ppm (positive: the PHC runs slow against the system clock).</summary>
    public double RatePpm => RateNsPerNs * 1e6;

    /// <summary>
    /// The system time (CLOCK_REALTIME ns) the fit gives for the PHC time <paramref name="phcNs"/>. It extrapolates as far
    /// as asked; check <see cref="Covers"/> first when the stamp may be old or far ahead.
    /// </summary>
    public long ToSystemNs(long phcNs)
    {
        long elapsed = phcNs - ReferencePhcNs;
        return phcNs + OffsetNs + (long)Math.Round(elapsed * RateNsPerNs);
    }

    /// <summary>
    /// True when <paramref name="phcNs"/> is no further than <paramref name="maxAgeNs"/> past the last reading (and not
    /// before the first): a stamp outside is converted by extrapolation too far to trust.
    /// </summary>
    public bool Covers(long phcNs, long maxAgeNs) => phcNs - LastReadingPhcNs <= maxAgeNs && phcNs - ReferencePhcNs >= -maxAgeNs;
}

/// <summary>
/// Tracks a PHC against the system clock from periodic <see cref="PhcReading"/>s (as chrony's hwclock module does):
/// keeps the latest <see cref="MaxReadings"/>, fits offset and rate by least squares weighted by each reading's
/// uncertainty, and starts over when a reading disagrees with the fit by more than <see cref="StepThresholdNs"/>
/// (the PHC or the system clock was stepped). Not thread-safe; <see cref="Conversion"/> is immutable and may be
/// handed to other threads.
/// </summary>
public sealed class HardwareClockModel
{
    private readonly PhcReading[] _readings;
    private int _count;
    private int _next;

    /// <param name="maxReadings">Readings kept for the fit (chrony keeps 16).</param>
    /// <param name="stepThresholdNs">A reading this far from the fit's prediction resets the model.</param>
    public HardwareClockModel(int maxReadings = 16, long stepThresholdNs = 1_000_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxReadings, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(stepThresholdNs, 1);
        _readings = new PhcReading[maxReadings];
        StepThresholdNs = stepThresholdNs;
    }

    /// <summary>How many of the newest readings the fit uses (at least 2); older ones are overwritten.</summary>
    public int MaxReadings => _readings.Length;
    /// <summary>
    /// In ns: a reading whose system time misses the fit's prediction by more than this (plus the reading's own
    /// uncertainty) resets the model, as does a reading no newer than the last.
    /// </summary>
    public long StepThresholdNs { get; }

    /// <summary>The conversion fitted to the readings so far; null before the first.</summary>
    public PhcConversion? Conversion { get; private set; }

    /// <summary>Times the model started over because a reading broke with the fit.</summary>
    public long Resets { get; private set; }

    /// <summary>Adds a reading (newer than the last one) and refits. Returns false when it reset the model.</summary>
    public bool Add(PhcReading reading)
    {
        bool kept = true;
        if (Conversion is { } c)
        {
            long predicted = c.ToSystemNs(reading.PhcNs);
            bool backwards = _count > 0 && reading.PhcNs <= Latest.PhcNs;
            if (backwards || Math.Abs(reading.SystemNs - predicted) > StepThresholdNs + reading.UncertaintyNs)
            {
                _count = 0;
                _next = 0;
                Resets++;
                kept = false;
            }
        }
        _readings[_next] = reading;
        _next = (_next + 1) % _readings.Length;
        _count = Math.Min(_count + 1, _readings.Length);
        Conversion = Fit();
        return kept;
    }

    private PhcReading Latest => _readings[(_next - 1 + _readings.Length) % _readings.Length];

    private PhcConversion Fit()
    {
        var latest = Latest;
        long referencePhc = latest.PhcNs;
        if (_count == 1)
            return new PhcConversion(referencePhc, latest.OffsetNs, 0, latest.UncertaintyNs, latest.PhcNs, 1);

        // Weighted least squares of offset (ns, relative to the latest) against PHC time since the latest (ns).
        double sw = 0, sx = 0, sy = 0;
        for (int i = 0; i < _count; i++)
        {
            var r = _readings[i];
            double w = 1.0 / ((double)r.UncertaintyNs * r.UncertaintyNs);
            sw += w;
            sx += w * (r.PhcNs - referencePhc);
            sy += w * (r.OffsetNs - latest.OffsetNs);
        }
        double mx = sx / sw, my = sy / sw;
        double sxx = 0, sxy = 0;
        for (int i = 0; i < _count; i++)
        {
            var r = _readings[i];
            double w = 1.0 / ((double)r.UncertaintyNs * r.UncertaintyNs);
            double dx = r.PhcNs - referencePhc - mx;
            sxx += w * dx * dx;
            sxy += w * dx * (r.OffsetNs - latest.OffsetNs - my);
        }
        double rate = sxx > 0 ? sxy / sxx : 0;
        double offsetAtReference = my - rate * mx;

        double sumSquares = 0;
        for (int i = 0; i < _count; i++)
        {
            var r = _readings[i];
            double residual = r.OffsetNs - latest.OffsetNs - (offsetAtReference + rate * (r.PhcNs - referencePhc));
            sumSquares += residual * residual;
        }
        long rms = (long)Math.Ceiling(Math.Sqrt(sumSquares / _count));
        long uncertainty = Math.Max(rms, MinimumUncertainty());
        return new PhcConversion(referencePhc, latest.OffsetNs + (long)Math.Round(offsetAtReference), rate, uncertainty, latest.PhcNs, _count);
    }

    private long MinimumUncertainty()
    {
        long min = long.MaxValue;
        for (int i = 0; i < _count; i++) min = Math.Min(min, _readings[i].UncertaintyNs);
        return min;
    }
}
