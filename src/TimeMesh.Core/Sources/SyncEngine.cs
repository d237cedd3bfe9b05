using TimeMesh.Core.Clock;
using TimeMesh.Core.Discipline;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Server;

namespace TimeMesh.Core.Sources;

/// <summary>Settings of the NTP client side (<see cref="SyncEngine"/>): selection, discipline, polling and the start quorum.</summary>
public sealed record SyncSettings
{
    /// <summary>Limits of the source selection (minsources, maxdistance, maxjitter, combinelimit, reselectdist).</summary>
    public SelectionSettings Selection { get; init; } = new();
    /// <summary>How offsets are corrected: when to step rather than slew, and how fast to slew.</summary>
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
    /// <summary>
    /// How long after the engine's start a first synchronisation waits for <see cref="StartQuorum"/>, seconds; after
    /// that the selection's own rules (minsources) decide alone.
    /// </summary>
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

    /// <param name="settings">The client side's settings.</param>
    /// <param name="startRawNs">The raw clock at the start, Unix ns: the discipline starts here and the start quorum waits from here.</param>
    /// <param name="seed">Seed of <see cref="NextRandom"/> (0 is replaced by a fixed constant): the same seed gives the same request cookies.</param>
    /// <param name="initialFrequencyPpm">
    /// The frequency correction to start with, ppm, in <see cref="ClockDiscipline.FrequencyPpm"/>'s sense (positive: the
    /// raw clock is slow and is sped up); 0 when nothing is known.
    /// </param>
    /// <param name="initialSkewPpm">The uncertainty of <paramref name="initialFrequencyPpm"/>, ppm; by default that of an unmeasured frequency.</param>
    public SyncEngine(SyncSettings settings, long startRawNs, ulong seed, double initialFrequencyPpm = 0, double initialSkewPpm = ClockDiscipline.UnknownSkewPpm)
    {
        _settings = settings;
        _random = seed == 0 ? 0x9E3779B97F4A7C15 : seed;
        _discipline = new ClockDiscipline(settings.Discipline, startRawNs, initialFrequencyPpm, initialSkewPpm);
        _startRawNs = startRawNs;
    }

    /// <summary>When the engine started, on the raw clock: the start quorum waits from here.</summary>
    private readonly long _startRawNs;
    /// <summary>The correction that turns the raw clock into the served time; the driver applies it whenever <see cref="Version"/> changes.</summary>
    public ClockCorrection Correction => _discipline.Correction;
    /// <summary>
    /// The clock discipline with its frequency, skew and update counters. <see cref="ApplyKnownDrift"/> replaces it
    /// with a new instance, so read it through this property rather than keeping it.
    /// </summary>
    public ClockDiscipline Discipline => _discipline;
    /// <summary>What to serve while synchronised; null when no source is selected.</summary>
    public ReferenceState? Reference { get; private set; }
    /// <summary>
    /// The latest selection, after the start quorum has had its say (it may withhold a selection the sources alone
    /// would make); null until the first selection has run.
    /// </summary>
    public SelectionResult? LastSelection { get; private set; }
    /// <summary>The id of the source the latest selection chose; null when none is selected.</summary>
    public int? SelectedId => LastSelection?.SelectedId;
    /// <summary>Changes whenever the correction or the reference changes, so a driver publishes only news.</summary>
    public int Version { get; private set; }
    /// <summary>How many updates stepped the served time instead of slewing it (chrony's makestep).</summary>
    public long StepCount => _discipline.Steps;
    /// <summary>
    /// Why the node serves no reference, for an operator: the last selection's reason, or "no sample yet" before any
    /// selection; null while <see cref="Reference"/> is set.
    /// </summary>
    public string? NotSynchronisedReason => Reference is null ? LastSelection?.NoSelectionReason ?? "no sample yet" : null;

    /// <summary>
    /// The next value of the engine's xorshift64* generator, which makes the pollers' request cookies: repeatable for
    /// a given seed (the simulator seeds it per run), and not cryptographically strong.
    /// </summary>
    public ulong NextRandom()
    {
        _random ^= _random >> 12;
        _random ^= _random << 25;
        _random ^= _random >> 27;
        return _random * 0x2545F4914F6CDD1D;
    }

    /// <summary>
    /// Adds a source whose first request is due at <paramref name="nowRawNs"/>. The selection is not run: the source
    /// takes part from its first sample on.
    /// </summary>
    /// <param name="settings">The source's configuration.</param>
    /// <param name="referenceId">The reference ID this node serves (RFC 5905's refid) while the source is selected.</param>
    /// <param name="nowRawNs">The raw clock now, Unix ns.</param>
    /// <returns>The new source's id; ids count up from 0 and are never reused.</returns>
    public int AddSource(SourceSettings settings, uint referenceId, long nowRawNs)
    {
        int id = _nextId++;
        _sources.Add(new Source(new NtpSourcePoller(id, settings, nowRawNs, NextRandom), referenceId));
        return id;
    }

    /// <summary>
    /// Drops the source with its statistics (an unknown id is ignored) and selects again at <paramref name="nowRawNs"/>
    /// without correcting the clock: that waits for the next sample of a selected or combined source.
    /// </summary>
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

    /// <summary>The ids of the current sources, in the order they were added.</summary>
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

    /// <summary>The protocol state of source <paramref name="id"/> (poll interval, reach, counters).</summary>
    /// <exception cref="InvalidOperationException">No source has that id.</exception>
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

    /// <summary>
    /// The request from <see cref="TryPoll"/> for <paramref name="sourceId"/> actually left at <paramref name="sentRawNs"/>
    /// (raw Unix ns, read right before the send): that time, not the poll time, is the exchange's T1.
    /// </summary>
    /// <exception cref="InvalidOperationException">No source has that id.</exception>
    public void RequestSent(int sourceId, long sentRawNs) => Find(sourceId).Poller.RequestSent(sentRawNs);

    /// <summary>
    /// Handles a datagram that arrived on the socket of <paramref name="sourceId"/>'s request. A reply that makes a
    /// sample and passes the delay tests joins the source's statistics, adapts its poll interval and runs the
    /// selection; when the source is then selected or combined, the discipline corrects the clock (<see cref="Version"/>
    /// changes). Other outcomes run the selection again only when the source's reachability changed.
    /// </summary>
    /// <param name="sourceId">The source the request went to.</param>
    /// <param name="reply">The datagram as received.</param>
    /// <param name="receivedRawNs">Its receive time on the raw clock, Unix ns (the kernel's timestamp where there is one).</param>
    /// <returns>
    /// What became of the reply: <see cref="ReplyOutcome.Bogus"/> for an unknown source id,
    /// <see cref="ReplyOutcome.DelayRejected"/> for a sample the delay tests turned down, otherwise the poller's verdict.
    /// </returns>
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

    /// <summary>
    /// chronyc sources: one line per source, in the order added. Offsets are against the served clock; a source that
    /// is not reachable shows as <see cref="SourceState.Unusable"/> whatever the last selection said.
    /// </summary>
    /// <param name="nowRawNs">The raw clock now, Unix ns: the adjusted offsets and the ages are taken at this time.</param>
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
            last is null ? null : (nowRawNs - last.Value.LocalTimeNs) * 1e-9, adjusted, measured, error);
    }).ToList();

    /// <summary>
    /// chronyc ntpdata: per source, the header of the reply that made the last sample and the exchange counters; the
    /// packet fields are zero (<see cref="NtpDataReport.HasSample"/> false) before the first sample.
    /// </summary>
    /// <param name="nowRawNs">The raw clock now, Unix ns, which places the server's reference timestamp in its NTP era.</param>
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

    /// <summary>
    /// chronyc sourcestats: per source, its fit with the frequency relative to the served clock (ppm) and the offset
    /// against it at <paramref name="nowRawNs"/> (raw Unix ns); every figure is zero before the source's first sample.
    /// </summary>
    public IReadOnlyList<SourceStatsReport> SourceStats(long nowRawNs) => _sources.Select(s =>
    {
        var e = s.Stats.Estimate;
        if (e is null) return new SourceStatsReport(s.Id, s.Poller.Settings.Name, 0, 0, 0, 0, 0, 0, 0);
        double servedFrequency = e.Value.FrequencySecondsPerSecond - _discipline.FrequencyPpm * 1e-6;
        double offset = e.Value.OffsetAt(nowRawNs) - _discipline.Correction.CorrectionNs(nowRawNs) * 1e-9;
        return new SourceStatsReport(s.Id, s.Poller.Settings.Name, e.Value.Samples, e.Value.Runs, e.Value.SpanSeconds,
            servedFrequency * 1e6, e.Value.SkewSecondsPerSecond * 1e6, offset, e.Value.StdDev);
    }).ToList();

    /// <summary>
    /// chronyc tracking at <paramref name="nowRawNs"/> (raw Unix ns): the reference served, the discipline's offsets and
    /// frequency, and the root distance parts. Without a reference, <see cref="TrackingReport.Synchronised"/> is false, the
    /// reference fields are 0 and the leap indicator says unsynchronised.
    /// </summary>
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
