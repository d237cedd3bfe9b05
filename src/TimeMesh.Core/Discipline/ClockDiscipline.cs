using TimeMesh.Core.Clock;

namespace TimeMesh.Core.Discipline;

/// <summary>chrony's makestep, maxslewrate and the drift estimate's starting point.</summary>
public sealed record DisciplineSettings
{
    /// <summary>makestep threshold: step when the offset is larger than this, seconds.</summary>
    public double MakeStepThresholdSeconds { get; init; } = 1.0;
    /// <summary>makestep limit: only during the first this many updates; −1 = always; 0 = never step.</summary>
    public int MakeStepLimit { get; init; } = 3;
    /// <summary>chrony's maxslewrate, ppm.</summary>
    public double MaxSlewRatePpm { get; init; } = 83_333;
    /// <summary>
    /// chrony's corrtimeratio: an offset as large as its own standard error is slewed out over half this many intervals
    /// to the next update, and the time is inversely proportional to the offset (twice the offset, half the time). Offsets
    /// of the size of the measurement noise are so corrected slowly and mostly cancel out, real ones quickly; never
    /// faster than one interval, nor than <see cref="MaxSlewRatePpm"/> allows. 0 turns the noise term off (every
    /// offset over one interval).
    /// </summary>
    public double CorrectionTimeRatio { get; init; } = DefaultCorrectionTimeRatio;

    /// <summary>chrony's default corrtimeratio.</summary>
    public const double DefaultCorrectionTimeRatio = 3.0;

    /// <summary>The longest slew the noise term asks for, seconds (chrony's limit on one slew).</summary>
    public const double MaxSlewSeconds = 10_000;
    /// <summary>Random-walk of the raw clock's frequency assumed between updates (skew growth), s/s per s.</summary>
    public double FrequencyWanderPerSecond { get; init; } = 1e-9;
}

/// <summary>What one update did.</summary>
public enum DisciplineAction : byte
{
    /// <summary>The gap was left to be slewed out gradually, at no more than the maximum slew rate.</summary>
    Slewed,
    /// <summary>The served time jumped straight to the estimate, as makestep allowed for an offset over its threshold.</summary>
    Stepped,
}

/// <summary>The outcome of one <see cref="ClockDiscipline.Update"/>, for logs and the tracking report.</summary>
/// <param name="Action">Whether the gap was stepped or is being slewed.</param>
/// <param name="OffsetSeconds">Served minus estimated true time just before the update, in seconds; positive means the served clock was fast.</param>
/// <param name="FrequencyPpm">The frequency correction after combining the old and new estimates, ppm (positive: the raw clock runs slow and is sped up).</param>
/// <param name="SkewPpm">The estimated error of <paramref name="FrequencyPpm"/> after the update, ppm.</param>
public readonly record struct DisciplineUpdate(
    DisciplineAction Action,
    // Served − estimated true time just before the update, seconds (positive: we were fast).
    double OffsetSeconds,
    double FrequencyPpm,
    double SkewPpm);

/// <summary>
/// The clock discipline for the virtual clock (chrony's reference module): each update names where
/// the raw clock stands against true time (offset now and frequency); the correction is moved onto that
/// line, the gap slewed out at a bounded rate, or stepped as makestep allows. The frequency estimate
/// (the drift) is what the node persists and starts from.
/// </summary>
/// <param name="settings">Makestep, the maximum slew rate, the correction time ratio and the frequency wander.</param>
/// <param name="startRawNs">Now, on the raw clock: a known frequency applies from here.</param>
/// <param name="initialFrequencyPpm">The drift to start from (chrony's driftfile), ppm.</param>
/// <param name="initialSkewPpm">How much it is to be trusted, ppm.</param>
public sealed class ClockDiscipline(DisciplineSettings settings, long startRawNs = 0, double initialFrequencyPpm = 0, double initialSkewPpm = ClockDiscipline.UnknownSkewPpm)
{
    /// <summary>The skew of a frequency nobody has measured: 2000 ppm.</summary>
    public const double UnknownSkewPpm = 2000;

    /// <summary>The makestep, slew rate, correction time ratio and wander settings this discipline was built with.</summary>
    public DisciplineSettings Settings { get; } = settings;
    /// <summary>
    /// The mapping from raw to served time now in force: offset, frequency and any slew still in progress.
    /// Replaced on each update and when the raw clock is stepped; before the first update it only carries the initial frequency.
    /// </summary>
    public ClockCorrection Correction { get; private set; } = initialFrequencyPpm == 0
        ? ClockCorrection.Identity
        : new ClockCorrection(startRawNs, 0, initialFrequencyPpm);

    /// <summary>The correction's frequency: how much the raw clock must be sped up, ppm (chrony's "Frequency", sign flipped: raw slow = positive).</summary>
    public double FrequencyPpm { get; private set; } = initialFrequencyPpm;
    /// <summary>
    /// The estimated error of <see cref="FrequencyPpm"/>, ppm (chrony's "Skew"). Each update weighs the old and the new
    /// frequency by the inverse square of their skews, the old skew first grown by the frequency wander since the last update.
    /// </summary>
    public double SkewPpm { get; private set; } = initialSkewPpm;
    /// <summary>Updates applied since construction, steps included; makestep's limit counts against this.</summary>
    public int Updates { get; private set; }
    /// <summary>How many of the <see cref="Updates"/> stepped the served time.</summary>
    public int Steps { get; private set; }
    /// <summary>Raw-clock time of the last update, Unix nanoseconds; 0 before the first. Moved along when the raw clock is stepped.</summary>
    public long LastUpdateNs { get; private set; }
    /// <summary>The offset the last update found (served minus estimated true time), seconds; 0 before the first update.</summary>
    public double LastOffsetSeconds { get; private set; }
    private double _offsetSquares;

    /// <summary>Root mean square of the offsets of all updates so far, seconds (chrony's "RMS offset"); 0 before the first update.</summary>
    public double RmsOffsetSeconds => Updates == 0 ? 0 : Math.Sqrt(_offsetSquares / Updates);

    /// <summary>Served − estimated true time at <paramref name="rawNowNs"/>, seconds, given the source's view.</summary>
    public double OffsetSeconds(long rawNowNs, double sourceOffsetSeconds) =>
        Correction.CorrectionNs(rawNowNs) * 1e-9 - sourceOffsetSeconds;

    /// <summary>
    /// The raw clock jumped by <paramref name="deltaNs"/> (someone stepped the OS clock): the correction
    /// absorbs it, so the served time does not move.
    /// </summary>
    public void RawClockStepped(long deltaNs)
    {
        var c = Correction;
        Correction = c with { BaseRawUnixNs = c.BaseRawUnixNs + deltaNs, OffsetNs = c.OffsetNs - deltaNs };
        if (LastUpdateNs != 0) LastUpdateNs += deltaNs;
    }

    /// <summary>
    /// Takes a new estimate of true time from the sources: combines the frequency with the current one, then either steps
    /// the served time onto the estimate (makestep) or slews the gap out over at least the next interval.
    /// </summary>
    /// <param name="rawNowNs">When, on the raw clock.</param>
    /// <param name="sourceOffsetSeconds">True − raw at that instant (from the selected/combined sources).</param>
    /// <param name="sourceFrequency">d(true − raw)/dt (s/s).</param>
    /// <param name="sourceSkew">Uncertainty of that frequency (s/s).</param>
    /// <param name="nextUpdateSeconds">Expected time to the next update (the poll interval).</param>
    /// <param name="sourceOffsetSdSeconds">Standard error of <paramref name="sourceOffsetSeconds"/>; 0 when unknown (then the gap is slewed over one interval).</param>
    /// <returns>What was done, the offset found before the update and the new frequency and skew.</returns>
    public DisciplineUpdate Update(long rawNowNs, double sourceOffsetSeconds, double sourceFrequency, double sourceSkew, double nextUpdateSeconds,
        double sourceOffsetSdSeconds = 0)
    {
        // Frequency: combine the previous estimate (its skew grown by the wander since) with the new one.
        double sinceLast = LastUpdateNs == 0 ? 0 : (rawNowNs - LastUpdateNs) * 1e-9;
        double oldSkew = SkewPpm * 1e-6 + Settings.FrequencyWanderPerSecond * sinceLast;
        double newSkew = Math.Max(sourceSkew, 1e-12);
        double wOld = 1 / (oldSkew * oldSkew), wNew = 1 / (newSkew * newSkew);
        double frequency = (wOld * FrequencyPpm * 1e-6 + wNew * sourceFrequency) / (wOld + wNew);
        double skew = Math.Sqrt(1 / (wOld + wNew));

        long currentNs = Correction.CorrectionNs(rawNowNs);
        long targetNs = (long)Math.Round(sourceOffsetSeconds * 1e9);
        long gapNs = currentNs - targetNs;
        double offset = gapNs * 1e-9;

        bool step = Math.Abs(offset) > Settings.MakeStepThresholdSeconds
            && Settings.MakeStepLimit != 0
            && (Settings.MakeStepLimit < 0 || Updates < Settings.MakeStepLimit);
        if (step)
        {
            Correction = new ClockCorrection(rawNowNs, targetNs, frequency * 1e6);
            Steps++;
        }
        else
        {
            double byRate = Math.Abs(offset) / (Settings.MaxSlewRatePpm * 1e-6);
            double interval = Math.Max(nextUpdateSeconds, 0);
            double byNoise = SlewSecondsForNoise(Math.Abs(offset), sourceOffsetSdSeconds, interval);
            long durationNs = (long)(Math.Max(byRate, Math.Max(interval, byNoise)) * 1e9);
            Correction = durationNs <= 0
                ? new ClockCorrection(rawNowNs, targetNs, frequency * 1e6)
                : new ClockCorrection(rawNowNs, targetNs, frequency * 1e6, gapNs, durationNs);
        }

        FrequencyPpm = frequency * 1e6;
        SkewPpm = skew * 1e6;
        Updates++;
        LastUpdateNs = rawNowNs;
        LastOffsetSeconds = offset;
        _offsetSquares += offset * offset;
        return new DisciplineUpdate(step ? DisciplineAction.Stepped : DisciplineAction.Slewed, offset, FrequencyPpm, SkewPpm);
    }

    /// <summary>
    /// chrony's correction rate (ratio × sd × interval / 2, in s²) divided by the gap: a gap of one standard error
    /// takes ratio / 2 intervals, a gap k times larger 1/k of that. 0 when the standard error is unknown or the ratio is 0.
    /// </summary>
    private double SlewSecondsForNoise(double gapSeconds, double offsetSdSeconds, double intervalSeconds)
    {
        if (!(offsetSdSeconds > 0) || !double.IsFinite(offsetSdSeconds) || Settings.CorrectionTimeRatio <= 0) return 0;
        double rate = Settings.CorrectionTimeRatio * 0.5 * offsetSdSeconds * intervalSeconds;
        return gapSeconds * DisciplineSettings.MaxSlewSeconds <= rate ? DisciplineSettings.MaxSlewSeconds : rate / gapSeconds;
    }
}
