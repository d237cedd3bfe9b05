using TimeMesh.Core.Clock;
using TimeMesh.Core.Discipline;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Server;

namespace TimeMesh.Core.Sources;

public sealed record SyncSettings
{
    public SelectionSettings Selection { get; init; } = new();
    public DisciplineSettings Discipline { get; init; } = new();
    /// <summary>chrony's polltarget: samples the fit should hold before the poll interval lengthens.</summary>
    public int PollTarget { get; init; } = 8;
    /// <summary>Our clock's precision, log2 s.</summary>
    public sbyte PrecisionLog2 { get; init; } = -20;
    /// <summary>
    /// Before its first synchronisation the engine waits until this many sources agree (survive the intersection),
    /// for at most <see cref="StartQuorumWaitSeconds"/> from its start; 0 or 1: the first source that answers will
    /// do (chrony's behaviour). A mesh member with three or more pinned masters waits for a majority of them, so a
    /// master that answers first with the wrong time cannot set the member's clock before the others are heard.
    /// </summary>
    public int StartQuorum { get; init; }
    public double StartQuorumWaitSeconds { get; init; } = 10;
}

/// <summary>
/// The NTP client side of a node, sans I/O (chronyd as a client): its sources, their statistics, the
/// selection and the clock discipline. A driver — the node's actor or the simulator — asks it for due
/// requests, sends them from fresh random ports, hands back replies with their receive times, and
/// applies <see cref="Correction"/> to the clock and <see cref="Reference"/> to what it serves.
/// Every time is the raw clock's Unix ns.
/// </summary>
public sealed class SyncEngine
{
    private sealed class Source(NtpSourcePoller poller, uint referenceId)
    {
        public NtpSourcePoller Poller { get; } = poller;
        public SourceStatistics Stats { get; } = new();
        public uint ReferenceId { get; } = referenceId;
        public int Id => Poller.Id;
        /// <summary>Votes in the intersection but is selected only when no other survivor is left (<see cref="SetDemoted"/>).</summary>
        public bool Demoted { get; set; }
    }

    private readonly SyncSettings _settings;
    private readonly List<Source> _sources = new();
    private ClockDiscipline _discipline;
    private bool _synchronisedOnce;
    private ulong _random;
    private int _nextId;

    public SyncEngine(SyncSettings settings, long startRawNs, ulong seed, double initialFrequencyPpm = 0, double initialSkewPpm = ClockDiscipline.UnknownSkewPpm)
    {
        _settings = settings;
        _random = seed == 0 ? 0x9E3779B97F4A7C15 : seed;
        _discipline = new ClockDiscipline(settings.Discipline, startRawNs, initialFrequencyPpm, initialSkewPpm);
        _startRawNs = startRawNs;
    }

    /// <summary>When the engine started, on the raw clock: the start quorum waits from here.</summary>
    private readonly long _startRawNs;
    public ClockCorrection Correction => _discipline.Correction;
    public ClockDiscipline Discipline => _discipline;
    /// <summary>What to serve while synchronised; null when no source is selected.</summary>
    public ReferenceState? Reference { get; private set; }
    public SelectionResult? LastSelection { get; private set; }
    public int? SelectedId => LastSelection?.SelectedId;
    /// <summary>Changes whenever the correction or the reference changes, so a driver publishes only news.</summary>
    public int Version { get; private set; }
    public long StepCount => _discipline.Steps;
    public string? NotSynchronisedReason => Reference is null ? LastSelection?.NoSelectionReason ?? "no sample yet" : null;

    public ulong NextRandom()
    {
        _random ^= _random >> 12;
        _random ^= _random << 25;
        _random ^= _random >> 27;
        return _random * 0x2545F4914F6CDD1D;
    }

    public int AddSource(SourceSettings settings, uint referenceId, long nowRawNs)
    {
        int id = _nextId++;
        _sources.Add(new Source(new NtpSourcePoller(id, settings, nowRawNs, NextRandom), referenceId));
        return id;
    }

    public void RemoveSource(int id, long nowRawNs)
    {
        _sources.RemoveAll(s => s.Id == id);
        Reselect(nowRawNs, updateClock: false);
    }

    /// <summary>
    /// Marks a source preferred or not (chrony's prefer) and, when that changes, selects again at once: a mesh
    /// member whose leader moved takes time from the new leader now, not at that source's next reply.
    /// </summary>
    public void SetPrefer(int id, bool prefer, long nowRawNs)
    {
        var poller = Find(id).Poller;
        if (poller.Settings.Prefer == prefer) return;
        poller.SetPrefer(prefer);
        Reselect(nowRawNs, updateClock: false);
    }

    public IEnumerable<int> SourceIds => _sources.Select(s => s.Id);

    /// <summary>
    /// Demotes a source or restores it, and selects again at once when that changes. A demoted source keeps its vote
    /// in the intersection (so it can still outvote a falseticker) but is neither selected nor combined while another
    /// survivor is not demoted. The mesh demotes a master that answers at a worse stratum than another.
    /// </summary>
    public void SetDemoted(int id, bool demoted, long nowRawNs)
    {
        var source = Find(id);
        if (source.Demoted == demoted) return;
        source.Demoted = demoted;
        Reselect(nowRawNs, updateClock: false);
    }

    /// <summary>Whether <see cref="SetDemoted"/> demoted the source.</summary>
    public bool IsDemoted(int id) => Find(id).Demoted;

    /// <summary>Polls the source as soon as its poller allows (<see cref="NtpSourcePoller.PollSoon"/>); the driver reschedules with <see cref="NextPollNs"/>.</summary>
    public void PollSoon(int id, long nowRawNs) => Find(id).Poller.PollSoon(nowRawNs);

    /// <summary>The stratum of the source's last good sample; null before the first.</summary>
    public int? LastStratum(int id) => Find(id).Stats.Last?.Stratum;

    public NtpSourcePoller Poller(int id) => Find(id).Poller;

    /// <summary>The earliest time a poll is due.</summary>
    public long NextPollNs => _sources.Count == 0 ? long.MaxValue : _sources.Where(s => !s.Poller.Demobilised).Select(s => s.Poller.NextPollNs).DefaultIfEmpty(long.MaxValue).Min();

    /// <summary>
    /// Writes the request of one source whose poll is due into <paramref name="request"/>; call until
    /// it returns false. Reachability changes re-run the selection, so a dead source is left.
    /// </summary>
    public bool TryPoll(long nowRawNs, Span<byte> request, out int sourceId)
    {
        foreach (var s in _sources)
        {
            bool wasReachable = s.Poller.IsReachable;
            if (!s.Poller.TryPoll(nowRawNs, request)) continue;
            if (wasReachable != s.Poller.IsReachable) Reselect(nowRawNs, updateClock: false);
            sourceId = s.Id;
            return true;
        }
        sourceId = -1;
        return false;
    }

    /// <summary>
    /// The driver saw the raw clock jump by <paramref name="deltaNs"/> against a monotonic clock (the
    /// OS clock was set by someone else). Everything measured on the raw clock moves with it and the
    /// served time stays continuous.
    /// </summary>
    public void RawClockStepped(long deltaNs)
    {
        if (deltaNs == 0) return;
        foreach (var s in _sources)
        {
            s.Stats.RawClockStepped(deltaNs);
            s.Poller.RawClockStepped(deltaNs);
        }
        _discipline.RawClockStepped(deltaNs);
        Version++;
    }

    /// <summary>
    /// Starts from a known drift (chrony's driftfile: the persisted frequency, applied at once). Ignored
    /// once the discipline has made its first update: by then the sources know better.
    /// </summary>
    public bool ApplyKnownDrift(double frequencyPpm, double skewPpm, long rawNowNs)
    {
        if (_discipline.Updates > 0) return false;
        _discipline = new ClockDiscipline(_settings.Discipline, rawNowNs, frequencyPpm, skewPpm);
        Version++;
        return true;
    }

    public void RequestSent(int sourceId, long sentRawNs) => Find(sourceId).Poller.RequestSent(sentRawNs);

    public ReplyOutcome HandleReply(int sourceId, ReadOnlySpan<byte> reply, long receivedRawNs)
    {
        var source = _sources.FirstOrDefault(s => s.Id == sourceId);
        if (source is null) return ReplyOutcome.Bogus;
        bool wasReachable = source.Poller.IsReachable;
        var outcome = source.Poller.HandleReply(reply, receivedRawNs, _settings.PrecisionLog2, out var sample);
        if (outcome != ReplyOutcome.Sample)
        {
            if (wasReachable != source.Poller.IsReachable) Reselect(receivedRawNs, updateClock: false);
            return outcome;
        }
        if (!source.Stats.PassesDelayTests(sample))
        {
            if (wasReachable != source.Poller.IsReachable) Reselect(receivedRawNs, updateClock: false);
            return ReplyOutcome.DelayRejected;
        }
        var estimate = source.Stats.Add(sample, _discipline.FrequencyPpm * 1e-6, _discipline.SkewPpm * 1e-6);
        source.Poller.AdjustPoll(estimate.Samples, _settings.PollTarget);
        Reselect(receivedRawNs, updateClock: true, updatedSourceId: sourceId);
        return outcome;
    }

    private Source Find(int id) => _sources.First(s => s.Id == id);

    private double RootDistance(Source s, long nowNs)
    {
        var e = s.Stats.Estimate!.Value;
        var last = s.Stats.Last!.Value;
        double age = Math.Max(0, (nowNs - e.TimeNs) * 1e-9);
        return (last.RootDelaySeconds + e.MinDelaySeconds) / 2 + last.RootDispersionSeconds + last.DispersionSeconds
            + (NtpSourcePoller.Phi + e.SkewSecondsPerSecond) * age + e.StdDev;
    }

    private void Reselect(long nowNs, bool updateClock, int? updatedSourceId = null)
    {
        var candidates = _sources.Select(s =>
        {
            var e = s.Stats.Estimate;
            var last = s.Stats.Last;
            bool usable = e is not null && last is not null && s.Poller.IsReachable;
            return new SelectionCandidate(
                s.Id,
                usable,
                usable ? e!.Value.OffsetAt(nowNs) : 0,
                usable ? e!.Value.FrequencySecondsPerSecond : 0,
                usable ? e!.Value.SkewSecondsPerSecond : 1,
                usable ? RootDistance(s, nowNs) : double.MaxValue,
                usable ? e!.Value.StdDev : 0,
                last?.Stratum ?? 16,
                s.Poller.Settings.Prefer,
                last?.Leap ?? LeapIndicator.Unsynchronised,
                s.Demoted,
                usable ? e!.Value.OffsetSdAt(nowNs) : 0);
        }).ToList();
        var previous = Reference;
        var selection = SourceSelection.Select(candidates, _settings.Selection, LastSelection?.SelectedId);
        if (selection.HasSelection && !_synchronisedOnce && _settings.StartQuorum > 1 && nowNs - _startRawNs < _settings.StartQuorumWaitSeconds * 1e9)
        {
            int agreeing = selection.States.Values.Count(s => s is SourceState.Selected or SourceState.Combined or SourceState.NotCombined);
            if (agreeing < _settings.StartQuorum)
                selection = selection with
                {
                    SelectedId = null,
                    NoSelectionReason = $"{agreeing} of the {_settings.StartQuorum} agreeing sources a first synchronisation waits for (at most {_settings.StartQuorumWaitSeconds:0.#} s)",
                };
        }
        LastSelection = selection;
        if (!selection.HasSelection)
        {
            Reference = null;
            if (previous is not null) Version++;
            return;
        }

        _synchronisedOnce = true;
        var selected = Find(selection.SelectedId!.Value);
        bool contributes = updatedSourceId is { } u && selection.States.TryGetValue(u, out var state) && state is SourceState.Selected or SourceState.Combined;
        // Only a sample from a source that contributes moves the clock, as in chronyd: a selection that moved without
        // one (a source lost, a falseticker voted out by another's reply) waits for the new source's next sample, and
        // until then the served bound below includes the gap. Correcting at once from the new source's estimate was
        // tried: during a partition that estimate is stale, and a member slewed +1.36 ms in 0.18 s toward it (the
        // chaos suite's jump invariant, seed 20261208).
        if (updateClock && contributes)
        {
            // Slew over the time to the selected source's next request (2 s during a burst, the poll
            // interval otherwise), so a correction is done by the time the next measurement checks it.
            double interval = Math.Max(0, (selected.Poller.NextPollNs - nowNs) * 1e-9);
            _discipline.Update(nowNs, selection.OffsetSeconds, selection.FrequencySecondsPerSecond, selection.SkewSecondsPerSecond, interval, selection.OffsetSdSeconds);
            Version++;
        }

        var e = selected.Stats.Estimate!.Value;
        var last = selected.Stats.Last!.Value;
        long servedNow = _discipline.Correction.Apply(nowNs);
        var reference = new ReferenceState
        {
            Kind = ReferenceKind.Synchronised,
            Leap = selection.Leap,
            Stratum = (byte)Math.Min(15, last.Stratum + 1),
            ReferenceId = selected.ReferenceId,
            ReferenceTimeUnixNs = updateClock && contributes ? servedNow : previous?.ReferenceTimeUnixNs ?? servedNow,
            RootDelaySeconds = last.RootDelaySeconds + e.MinDelaySeconds,
            // Plus what the served time is known to be off by: the slew still to go, or (when the selection moved
            // without a clock update) the whole gap to the selection's estimate, so the served bound never hides it.
            RootDispersionSeconds = last.RootDispersionSeconds + last.DispersionSeconds + e.StdDev
                + Math.Max(Math.Abs(_discipline.Correction.RemainingSlewNs(nowNs)) * 1e-9, Math.Abs(_discipline.OffsetSeconds(nowNs, selection.OffsetSeconds))),
            DispersionRate = NtpSourcePoller.Phi + _discipline.SkewPpm * 1e-6,
        };
        if (reference != previous)
        {
            Reference = reference;
            Version++;
        }
    }

    // ---- reports (chronyc sources, sourcestats, tracking) ----

    public IReadOnlyList<SourceReport> Sources(long nowRawNs) => _sources.Select(s =>
    {
        var last = s.Stats.Last;
        var state = LastSelection?.States.GetValueOrDefault(s.Id, SourceState.Unusable) ?? SourceState.Unusable;
        if (!s.Poller.IsReachable) state = SourceState.Unusable;
        double measured = 0, adjusted = 0, error = 0;
        if (last is { } l)
        {
            // Against the served clock: the raw offset less the correction then (measured) or now (adjusted).
            measured = l.OffsetSeconds - _discipline.Correction.CorrectionNs(l.LocalTimeNs) * 1e-9;
            adjusted = s.Stats.Estimate!.Value.OffsetAt(nowRawNs) - _discipline.Correction.CorrectionNs(nowRawNs) * 1e-9;
            error = l.DelaySeconds / 2 + l.DispersionSeconds + l.RootDelaySeconds / 2 + l.RootDispersionSeconds;
        }
        return new SourceReport(s.Id, s.Poller.Settings.Name, '^', state, last?.Stratum ?? 0, s.Poller.PollLog2, s.Poller.Reach,
            last is null ? null : (nowRawNs - s.Poller.LastReplyNs) * 1e-9, adjusted, measured, error);
    }).ToList();

    public IReadOnlyList<NtpDataReport> NtpData(long nowRawNs) => _sources.Select(s =>
    {
        var p = s.Poller;
        long rx = p.RepliesReceived + p.BogusReplies + p.AuthFailures;
        if (p.LastSampleHeader is not { } h || p.LastSample is not { } l)
            return new NtpDataReport(s.Id, p.Settings.Name, p.Settings.Port, false, LeapIndicator.Unsynchronised, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                p.Settings.Key is not null || p.Settings.Nts, p.RequestsSent, rx, p.RepliesReceived, p.GoodReplies);
        return new NtpDataReport(s.Id, p.Settings.Name, p.Settings.Port, true, h.Leap, h.Version, (int)h.Mode, h.Stratum, h.PollLog2, h.PrecisionLog2,
            h.RootDelay.Seconds, h.RootDispersion.Seconds, h.ReferenceId, h.ReferenceTime.IsZero ? 0 : h.ReferenceTime.ToUnixNanoseconds(nowRawNs),
            l.OffsetSeconds - _discipline.Correction.CorrectionNs(l.LocalTimeNs) * 1e-9, l.DelaySeconds, l.DispersionSeconds, p.LastResponseTimeSeconds,
            p.Settings.Key is not null || p.Settings.Nts, p.RequestsSent, rx, p.RepliesReceived, p.GoodReplies)
        {
            Interleaved = p.LastSampleInterleaved,
        };
    }).ToList();

    public IReadOnlyList<SourceStatsReport> SourceStats(long nowRawNs) => _sources.Select(s =>
    {
        var e = s.Stats.Estimate;
        if (e is null) return new SourceStatsReport(s.Id, s.Poller.Settings.Name, 0, 0, 0, 0, 0, 0, 0);
        double servedFrequency = e.Value.FrequencySecondsPerSecond - _discipline.FrequencyPpm * 1e-6;
        double offset = e.Value.OffsetAt(nowRawNs) - _discipline.Correction.CorrectionNs(nowRawNs) * 1e-9;
        return new SourceStatsReport(s.Id, s.Poller.Settings.Name, e.Value.Samples, e.Value.Runs, e.Value.SpanSeconds,
            servedFrequency * 1e6, e.Value.SkewSecondsPerSecond * 1e6, offset, e.Value.StdDev);
    }).ToList();

    public TrackingReport Tracking(long nowRawNs)
    {
        var reference = Reference;
        string name = "";
        double systemOffset = 0, residual = 0, interval = 0;
        if (LastSelection?.SelectedId is { } id && _sources.FirstOrDefault(s => s.Id == id) is { } selected)
        {
            name = selected.Poller.Settings.Name;
            interval = Math.Pow(2, selected.Poller.PollLog2);
            if (LastSelection.HasSelection)
            {
                systemOffset = _discipline.Correction.RemainingSlewNs(nowRawNs) * 1e-9;
                residual = (LastSelection.FrequencySecondsPerSecond - _discipline.FrequencyPpm * 1e-6) * 1e6;
            }
        }
        return new TrackingReport(
            reference?.ReferenceId ?? 0,
            name,
            reference?.Stratum ?? 0,
            reference?.ReferenceTimeUnixNs ?? 0,
            systemOffset,
            _discipline.LastOffsetSeconds,
            _discipline.RmsOffsetSeconds,
            -_discipline.FrequencyPpm,
            residual,
            _discipline.SkewPpm,
            reference?.RootDelaySeconds ?? 0,
            reference?.RootDispersionAt(_discipline.Correction.Apply(nowRawNs)) ?? 0,
            interval,
            reference?.Leap ?? LeapIndicator.Unsynchronised,
            reference is not null,
            NotSynchronisedReason);
    }
}
