namespace TimeMesh.Core.Sources;

/// <summary>What a source's samples say about the raw clock, at the time of the newest sample.</summary>
/// <param name="TimeNs">The newest sample's time on the raw clock, Unix ns: the instant the estimate describes.</param>
/// <param name="OffsetSeconds">
/// Source time − raw time at <paramref name="TimeNs"/>, seconds. With fewer than three samples: the best sample's
/// offset carried forward on the prior frequency.
/// </param>
/// <param name="FrequencySecondsPerSecond">
/// d(offset)/dt: the raw clock's frequency error, negated (s/s); the prior frequency while there are fewer than three samples.
/// </param>
/// <param name="SkewSecondsPerSecond">
/// Standard error of <paramref name="FrequencySecondsPerSecond"/> (s/s; chronyc sourcestats' "Freq Skew" is this in ppm).
/// </param>
/// <param name="OffsetStdError">Standard error of <paramref name="OffsetSeconds"/>, seconds; half the newest delay while there are fewer than three samples.</param>
/// <param name="StdDev">Scatter of the samples about the fit, seconds (chronyc sourcestats "Std Dev"); 0 with fewer than three samples.</param>
/// <param name="Samples">Samples in the fit (chronyc sourcestats "NP").</param>
/// <param name="Runs">Runs of same-sign residuals (chronyc sourcestats "NR"); see <see cref="RegressionFit.Runs"/>.</param>
/// <param name="SpanSeconds">From the oldest sample in the fit to the newest, seconds (chronyc sourcestats "Span").</param>
/// <param name="MinDelaySeconds">The smallest round-trip delay among the last eight samples, seconds: the least disturbed path.</param>
public readonly record struct SourceEstimate(
    long TimeNs,
    double OffsetSeconds,
    double FrequencySecondsPerSecond,
    double SkewSecondsPerSecond,
    double OffsetStdError,
    double StdDev,
    int Samples,
    int Runs,
    double SpanSeconds,
    double MinDelaySeconds)
{
    /// <summary>
    /// The offset (source − raw, seconds) the fit predicts at raw time <paramref name="timeNs"/> (Unix ns): the
    /// offset at <see cref="TimeNs"/> carried along the fitted frequency, forwards or backwards.
    /// </summary>
    public double OffsetAt(long timeNs) => OffsetSeconds + FrequencySecondsPerSecond * (timeNs - TimeNs) * 1e-9;

    /// <summary>Standard error of <see cref="OffsetAt"/>: the fit's own, grown by the skew since (chrony's offset_sd).</summary>
    public double OffsetSdAt(long timeNs) => OffsetStdError + SkewSecondsPerSecond * Math.Max(0, (timeNs - TimeNs) * 1e-9);
}

/// <summary>
/// Per-source sample history and its regression (chrony's sourcestats): a weighted line through the
/// offsets, with samples whose delay exceeds the minimum weighted down (they carry queueing noise),
/// and old samples dropped when the runs test says the clock has wandered off the line.
/// </summary>
public sealed class SourceStatistics(int maxSamples = SourceStatistics.DefaultMaxSamples)
{
    /// <summary>How many samples a source keeps by default (chrony's sourcestats keeps 64); beyond it the oldest is dropped.</summary>
    public const int DefaultMaxSamples = 64;
    /// <summary>Skew assumed while there are too few samples for a frequency estimate: 2000 ppm.</summary>
    public const double UnknownSkewSecondsPerSecond = 2e-3;

    private readonly List<NtpSample> _samples = new(maxSamples);

    /// <summary>
    /// The samples the fit is made from, oldest first: at most the configured maximum, less those the runs test has
    /// discarded. A sample that is not newer than the last one (the raw clock went back) empties the list first.
    /// </summary>
    public IReadOnlyList<NtpSample> Samples => _samples;
    /// <summary>The fit as of the newest sample; null before the first sample and after <see cref="Clear"/>.</summary>
    public SourceEstimate? Estimate { get; private set; }
    /// <summary>The newest sample kept; null when there is none.</summary>
    public NtpSample? Last => _samples.Count > 0 ? _samples[^1] : null;

    /// <summary>
    /// Forgets the samples, the estimate and the run of delay rejections, as when a source starts over; the total of
    /// <see cref="DelayRejections"/> is kept.
    /// </summary>
    public void Clear()
    {
        _samples.Clear();
        Estimate = null;
        DelayRejectionsInARow = 0;
    }

    /// <param name="sample">The new measurement.</param>
    /// <param name="priorFrequencySecondsPerSecond">The frequency to assume while fewer than three samples exist (the drift estimate).</param>
    /// <param name="priorSkewSecondsPerSecond">Its uncertainty.</param>
    public SourceEstimate Add(NtpSample sample, double priorFrequencySecondsPerSecond, double priorSkewSecondsPerSecond)
    {
        if (_samples.Count > 0 && sample.LocalTimeNs <= _samples[^1].LocalTimeNs)
        {
            // Out of order (a step of the raw clock): start over rather than fit across it.
            Clear();
        }
        if (_samples.Count == maxSamples)
        {
            _samples.RemoveAt(0);
        }
        _samples.Add(sample);
        Estimate = Compute(priorFrequencySecondsPerSecond, priorSkewSecondsPerSecond);
        return Estimate.Value;
    }

    /// <summary>A sample with a round trip longer than this is never used (chrony's <c>maxdelay</c> default).</summary>
    public const double MaxDelaySeconds = 3.0;
    /// <summary>How many offset standard deviations a sample's extra delay may reach (chrony's <c>maxdelaydevratio</c> default).</summary>
    public const double MaxDelayDevRatio = 10.0;
    /// <summary>Samples needed before the delay-deviation test applies: below it the standard deviation means little.</summary>
    public const int DelayTestMinSamples = 6;
    /// <summary>Rejections in a row after which a sample is taken anyway: the path itself has become slower.</summary>
    public const int MaxDelayRejectionsInARow = 8;
    /// <summary>The local clock's frequency error assumed between samples (chrony's <c>maxclockerror</c> default, 1 ppm).</summary>
    public const double ClockErrorSecondsPerSecond = 1e-6;

    /// <summary>Delay-test rejections since the last sample that passed.</summary>
    public int DelayRejectionsInARow { get; private set; }
    /// <summary>Samples the delay tests rejected, in all.</summary>
    public long DelayRejections { get; private set; }

    /// <summary>
    /// The delay tests a sample passes before <see cref="Add"/> (chrony's tests B and D). A sample whose round
    /// trip took longer than the shortest one seen carries that extra time somewhere on its path, unknown on
    /// which leg, so its offset may be off by up to half of it. It is rejected when half the extra delay exceeds
    /// <see cref="MaxDelayDevRatio"/> times the offsets' standard deviation (plus what skew and clock error
    /// allow since the last sample), unless its offset differs from the prediction by clearly more than the
    /// extra delay could explain (then the clock has moved, not the path). Seen with a server that was stopped
    /// and continued: it answered the requests queued meanwhile with receive timestamps taken after the pause.
    /// </summary>
    /// <returns>true to use the sample; false when it is rejected (counted).</returns>
    public bool PassesDelayTests(NtpSample sample)
    {
        if (sample.DelaySeconds > MaxDelaySeconds)
        {
            DelayRejections++;
            return false;
        }
        if (DelayGood(sample) || ++DelayRejectionsInARow > MaxDelayRejectionsInARow)
        {
            DelayRejectionsInARow = 0;
            return true;
        }
        DelayRejections++;
        return false;
    }

    private bool DelayGood(NtpSample sample)
    {
        if (_samples.Count < DelayTestMinSamples || Estimate is not { } e) return true;
        double minDelay = double.MaxValue;
        foreach (var s in _samples) minDelay = Math.Min(minDelay, s.DelaySeconds);
        double elapsed = Math.Max(0, (sample.LocalTimeNs - e.TimeNs) * 1e-9);
        double allowed = e.StdDev * MaxDelayDevRatio + elapsed * (e.SkewSecondsPerSecond + ClockErrorSecondsPerSecond);
        double increase = (sample.DelaySeconds - minDelay) / 2;
        if (increase <= allowed) return true;
        double surprise = Math.Abs(sample.OffsetSeconds - e.OffsetAt(sample.LocalTimeNs));
        return surprise - increase > allowed;
    }

    /// <summary>Shifts every sample's offset by <paramref name="seconds"/>.</summary>
    public void ShiftOffsets(double seconds)
    {
        for (int i = 0; i < _samples.Count; i++)
            _samples[i] = _samples[i] with { OffsetSeconds = _samples[i].OffsetSeconds + seconds };
        if (_samples.Count > 0) Estimate = Estimate!.Value with { OffsetSeconds = Estimate.Value.OffsetSeconds + seconds };
    }

    /// <summary>
    /// The raw clock was stepped by <paramref name="deltaNs"/>: every sample happened Δ later on it and
    /// saw an offset Δ smaller, so the fit carries on across the step.
    /// </summary>
    public void RawClockStepped(long deltaNs)
    {
        double seconds = deltaNs * 1e-9;
        for (int i = 0; i < _samples.Count; i++)
            _samples[i] = _samples[i] with { LocalTimeNs = _samples[i].LocalTimeNs + deltaNs, OffsetSeconds = _samples[i].OffsetSeconds - seconds };
        if (Estimate is { } e) Estimate = e with { TimeNs = e.TimeNs + deltaNs, OffsetSeconds = e.OffsetSeconds - seconds };
    }

    /// <summary>How much of a sample's excess distance counts as standard deviation (chrony's SD_TO_DIST_RATIO).</summary>
    private const double DistanceToSdRatio = 0.7;

    private static double Distance(NtpSample s) => Math.Abs(s.DelaySeconds) / 2 + s.DispersionSeconds;

    private SourceEstimate Compute(double priorFrequencySecondsPerSecond, double priorSkewSecondsPerSecond)
    {
        int n = _samples.Count;
        var newest = _samples[^1];
        // Each sample's distance (half its round trip plus its dispersion) against the least one: a sample whose
        // distance is larger carries more queueing noise. The scale is the mean excess distance, at most the least
        // distance itself; the variance grows with the square of (1 + 0.7 × excess / scale), as chrony's sourcestats.
        double minDelay = double.MaxValue, minDistance = double.MaxValue, meanDistance = 0;
        for (int i = 0; i < n; i++)
        {
            minDelay = Math.Min(minDelay, _samples[i].DelaySeconds);
            double d = Distance(_samples[i]);
            minDistance = Math.Min(minDistance, d);
            meanDistance += d;
        }
        meanDistance /= n;
        double scale = meanDistance - minDistance;
        if (scale > minDistance || scale <= 0) scale = Math.Max(minDistance, 1e-9);

        Span<double> x = n <= 256 ? stackalloc double[n] : new double[n];
        Span<double> y = n <= 256 ? stackalloc double[n] : new double[n];
        Span<double> v = n <= 256 ? stackalloc double[n] : new double[n];
        for (int i = 0; i < n; i++)
        {
            var s = _samples[i];
            x[i] = (s.LocalTimeNs - newest.LocalTimeNs) * 1e-9;
            y[i] = s.OffsetSeconds;
            double w = 1 + DistanceToSdRatio * (Distance(s) - minDistance) / scale;
            v[i] = w * w;
        }

        if (n < Regression.MinPoints)
        {
            // Too few for a slope: take the best sample's offset carried forward on the prior frequency.
            int best = 0;
            for (int i = 1; i < n; i++) if (v[i] < v[best]) best = i;
            double offsetNow = y[best] + priorFrequencySecondsPerSecond * (0 - x[best]);
            return new SourceEstimate(newest.LocalTimeNs, offsetNow, priorFrequencySecondsPerSecond, Math.Max(priorSkewSecondsPerSecond, 1e-9),
                Math.Abs(newest.DelaySeconds) / 2, 0, n, n, -x[0], minDelay);
        }

        var fit = Regression.FitWithRunsTest(x, y, v);
        int dropped = n - fit.Count;
        double span = -x[dropped];
        // As chrony does, samples the runs test rejected are gone for good: the clock has moved on.
        if (dropped > 0) _samples.RemoveRange(0, dropped);
        double recentMinDelay = double.MaxValue;
        for (int i = Math.Max(0, _samples.Count - 8); i < _samples.Count; i++) recentMinDelay = Math.Min(recentMinDelay, _samples[i].DelaySeconds);
        return new SourceEstimate(
            newest.LocalTimeNs,
            fit.Intercept,
            fit.Slope,
            double.IsFinite(fit.SlopeStdError) ? fit.SlopeStdError : UnknownSkewSecondsPerSecond,
            fit.InterceptStdError,
            fit.ResidualStdDev,
            fit.Count,
            fit.Runs,
            span,
            recentMinDelay);
    }
}
