using System.Net;
using TimeMesh.Core.Access;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;

namespace TimeMesh.Simulator;

/// <summary>What one scenario run measured.</summary>
public sealed record ScenarioResult(
    Scenario Scenario,
    /// <summary>How many seeded runs this result stands for (max/worst over them; RMS values are their mean).</summary>
    int Runs,
    double? SyncSeconds,
    double MaxOffsetSeconds,
    double RmsOffsetSeconds,
    double MaxFrequencyErrorPpm,
    double RmsFrequencyErrorPpm,
    long RequestsSent,
    long RepliesReceived,
    long PacketsLost,
    long KissesReceived,
    long Steps,
    int FinalPollLog2,
    LeapIndicator FinalServedLeap,
    string? FinalNoSyncReason,
    IReadOnlyList<string> Failures,
    TimeSpan WallTime,
    /// <summary>Mean offset (served − true) after sync: a bias that the RMS alone would not tell from jitter.</summary>
    double MeanOffsetSeconds = 0,
    /// <summary>Replies that made a sample, and how many of those were interleaved (RFC 9769).</summary>
    long Samples = 0,
    long InterleavedSamples = 0)
{
    public double InterleavedShare => Samples > 0 ? (double)InterleavedSamples / Samples : 0;

    public bool Passed => Failures.Count == 0;
}

/// <summary>
/// Runs a scenario on virtual time: a discrete-event loop over polls, packet arrivals and a 1-second
/// measurement tick. The client is the core's <see cref="SyncEngine"/> and every server is the core's
/// <see cref="NtpServerHandler"/>, the same code the node runs.
/// Timestamp errors (issue 11), when a scenario asks for them: a request that leaves a send latency after the poll
/// read the clock, stamped with that reading (user space) or with the instant it left (kernel); a reply that leaves
/// a send latency after its T3 was written, and a server that keeps the real transmit times for the interleaved
/// mode in the core's <see cref="InterleavedTimestamps"/>, as the node's server loop does.
/// </summary>
public static class ScenarioRunner
{
    private const long Second = 1_000_000_000;
    /// <summary>Virtual time starts at 2026-01-01 so that timestamps look like real ones.</summary>
    private const long EpochNs = 1_767_225_600L * Second;

    private enum EventKind { Poll, LeaveClient, ArriveAtServer, ArriveAtClient, Tick }

    private sealed class SimServer
    {
        public required SimServerSpec Spec;
        public required NtpServerHandler Handler;
        public required ServerSnapshot Snapshot;
        /// <summary>As the node's server loop: transmit times are taken from the first request that asks for the interleaved mode on.</summary>
        public bool TransmitStampsOn;
    }

    /// <summary>A datagram in flight; ReadRawNs is the raw clock read by the poll that made a request.</summary>
    private sealed record Packet(int ServerIndex, int SourceId, byte[] Bytes, int Length, long ReadRawNs = 0);

    public static ScenarioResult Run(Scenario scenario, int seed = 1, TextWriter? trace = null)
    {
        var wall = System.Diagnostics.Stopwatch.StartNew();
        var random = new Random(seed);
        long now = EpochNs;
        var clock = new SimClock(now, scenario.ClientOffsetSeconds, scenario.ClientFrequencyPpm, scenario.WanderPerSecond, new Random(seed * 7919 + 1));
        // Send latencies draw from their own generator: the path's delays and losses stay those of the same seed without them.
        var latencyRandom = new Random(seed * 104_729 + 3);

        double initialFrequencyPpm = scenario.KnownDrift is { } drift ? -drift.FrequencyPpm : 0;
        double initialSkewPpm = scenario.KnownDrift is { } d2 ? d2.SkewPpm : Core.Discipline.ClockDiscipline.UnknownSkewPpm;
        var engine = new SyncEngine(scenario.Sync, clock.RawNs(now), (ulong)seed * 0x9E3779B97F4A7C15 + 1, initialFrequencyPpm, initialSkewPpm);
        var servers = scenario.Servers.Select((spec, i) => new SimServer
        {
            Spec = spec,
            Handler = new NtpServerHandler(new ClientLog(524288, spec.RateLimit, (ulong)(seed + i)))
            {
                Interleaving = spec.Interleaved ? new InterleavedTimestamps(16384) : null,
            },
            Snapshot = new ServerSnapshot
            {
                Reference = new ReferenceState
                {
                    Kind = ReferenceKind.Synchronised,
                    Leap = spec.Leap,
                    Stratum = (byte)spec.Stratum,
                    ReferenceId = spec.Stratum == 1 ? ReferenceIds.FromAscii("GPS") : 0x0A000001,
                    ReferenceTimeUnixNs = EpochNs,
                    RootDelaySeconds = 0,
                    RootDispersionSeconds = 0.0001,
                },
                Access = AccessList.FromSpecs(["all"], []),
                PrecisionLog2 = spec.PrecisionLog2,
            },
        }).ToArray();
        var sourceIds = new int[servers.Length];
        for (int i = 0; i < servers.Length; i++)
        {
            var settings = scenario.SourceTemplate with { Address = $"192.0.2.{i + 1}" };
            sourceIds[i] = engine.AddSource(settings, ReferenceIds.FromAddress(IPAddress.Parse(settings.Address)), clock.RawNs(now));
        }
        var client = IpAddress128.FromIPAddress(IPAddress.Parse("198.51.100.7"));

        var queue = new PriorityQueue<(EventKind Kind, Packet? Packet), (long, long)>();
        long sequence = 0;
        void Schedule(long at, EventKind kind, Packet? packet = null) => queue.Enqueue((kind, packet), (at, sequence++));
        long pollScheduledFor = long.MaxValue;
        void SchedulePoll()
        {
            long nextRaw = engine.NextPollNs;
            if (nextRaw == long.MaxValue) return;
            long at = Math.Max(now, clock.TrueTimeOfRaw(nextRaw, now));
            if (at >= pollScheduledFor) return;
            pollScheduledFor = at;
            Schedule(at, EventKind.Poll);
        }
        SchedulePoll();
        Schedule(now + Second, EventKind.Tick);

        long end = EpochNs + (long)(scenario.DurationSeconds * Second);
        var bars = scenario.Bars;
        // Offsets and frequency errors of every tick; synchronisation is the moment after which the
        // offset stays within the bar (chrony's simulation tests measure it the same way).
        var ticks = new List<(double At, double Offset, double FreqPpm, bool Synchronised)>();
        long lost = 0;
        int stepIndex = 0;
        var steps = scenario.ClockSteps.OrderBy(s => s.AtSeconds).ToList();
        var reply = new byte[48];

        while (queue.TryDequeue(out var ev, out var key) && key.Item1 <= end)
        {
            now = key.Item1;
            clock.AdvanceTo(now);
            while (stepIndex < steps.Count && (now - EpochNs) * 1e-9 >= steps[stepIndex].AtSeconds)
            {
                double step = steps[stepIndex++].StepSeconds;
                clock.Step(step);
                // The node notices a step of the OS clock against its monotonic clock and tells the engine.
                engine.RawClockStepped((long)Math.Round(step * 1e9));
            }
            double trueSeconds = (now - EpochNs) * 1e-9;

            switch (ev.Kind)
            {
                case EventKind.Poll:
                {
                    pollScheduledFor = long.MaxValue;
                    long raw = clock.RawNs(now);
                    var request = new byte[48];
                    while (engine.TryPoll(raw, request, out int sourceId))
                    {
                        int serverIndex = Array.IndexOf(sourceIds, sourceId);
                        if (scenario.ClientSendLatency is { } latency)
                        {
                            // The request leaves later than the poll read the clock; its T1 is set when it has left.
                            Schedule(now + (long)Math.Round(latency.Draw(latencyRandom) * Second), EventKind.LeaveClient,
                                new Packet(serverIndex, sourceId, request, 48, raw));
                            request = new byte[48];
                            continue;
                        }
                        engine.RequestSent(sourceId, raw);
                        var spec = servers[serverIndex].Spec;
                        if (random.NextDouble() < spec.Up.LossProbability || spec.Outages?.IsDown(trueSeconds) == true) lost++;
                        else Schedule(now + (long)(spec.Up.Delay(random) * Second), EventKind.ArriveAtServer, new Packet(serverIndex, sourceId, request, 48));
                        request = new byte[48];
                    }
                    SchedulePoll();
                    break;
                }
                case EventKind.LeaveClient:
                {
                    // As the node's client transport: T1 is the kernel's stamp of this instant, or the reading before the send call.
                    var p = ev.Packet!;
                    long t1 = scenario.ClientTransmitStamp == ClientTransmitStamp.Kernel ? clock.RawNs(now) : p.ReadRawNs;
                    engine.RequestSent(p.SourceId, t1);
                    var spec = servers[p.ServerIndex].Spec;
                    if (random.NextDouble() < spec.Up.LossProbability || spec.Outages?.IsDown(trueSeconds) == true) lost++;
                    else Schedule(now + (long)(spec.Up.Delay(random) * Second), EventKind.ArriveAtServer, p);
                    break;
                }
                case EventKind.ArriveAtServer:
                {
                    var p = ev.Packet!;
                    var server = servers[p.ServerIndex];
                    long serverTime = now + (long)(server.Spec.OffsetSeconds * Second);
                    var request = p.Bytes.AsSpan(0, p.Length);
                    if (server.Handler.Interleaving is not null && NtpServerHandler.AsksForInterleaved(request)) server.TransmitStampsOn = true;
                    var verdict = server.Handler.Handle(request, client, serverTime, server.Snapshot, reply, out int length, out long exchange);
                    if (length == 0) break;
                    var answer = reply[..length];
                    // T3 is written 1 µs after the receive, right before the send; the reply leaves then, or a send latency later.
                    server.Handler.FinishReply(verdict, answer, length, serverTime + 1000);
                    var spec = server.Spec;
                    long leaveAfterNs = 1000 + (spec.TransmitLatency is { } latency ? (long)Math.Round(latency.Draw(latencyRandom) * Second) : 0);
                    // The kernel reports the real transmit time right after the send, long before the client's next request.
                    if (exchange >= 0 && server.TransmitStampsOn)
                        server.Handler.Interleaving!.SetTransmit(exchange, NtpTimestamp.FromUnixNanoseconds(serverTime + leaveAfterNs).Value);
                    if (random.NextDouble() < spec.Down.LossProbability || spec.Outages?.IsDown(trueSeconds) == true) lost++;
                    else Schedule(now + leaveAfterNs + (long)(spec.Down.Delay(random) * Second), EventKind.ArriveAtClient, p with { Bytes = answer, Length = length });
                    break;
                }
                case EventKind.ArriveAtClient:
                {
                    var p = ev.Packet!;
                    int steps0 = (int)engine.StepCount;
                    var outcome = engine.HandleReply(p.SourceId, p.Bytes.AsSpan(0, p.Length), clock.RawNs(now));
                    if (trace is not null)
                    {
                        long raw = clock.RawNs(now);
                        var d = engine.Discipline;
                        trace.WriteLine(FormattableString.Invariant(
                            $"{trueSeconds,10:0.000} reply src {p.SourceId} {outcome}{(engine.Poller(p.SourceId).LastSampleInterleaved ? " (interleaved)" : "")} true-offset {(engine.Correction.Apply(raw) - now) * 1e-6,10:0.000} ms  disc-last {d.LastOffsetSeconds * 1e3,9:0.000} ms  freq {d.FrequencyPpm,9:0.000} ppm skew {d.SkewPpm:0.000} steps {engine.StepCount - steps0} poll {engine.Poller(p.SourceId).PollLog2} sel {engine.SelectedId} rawfreq {clock.FrequencySecondsPerSecond * 1e6:0.000} ppm"));
                    }
                    SchedulePoll();
                    break;
                }
                case EventKind.Tick:
                {
                    long raw = clock.RawNs(now);
                    double offset = (engine.Correction.Apply(raw) - now) * 1e-9;
                    // The served clock's steady frequency error: the raw clock's, less what the correction adds.
                    double freqErrorPpm = ((1 + clock.FrequencySecondsPerSecond) * (1 + engine.Correction.FrequencyPpm * 1e-6) - 1) * 1e6;
                    ticks.Add((trueSeconds, offset, freqErrorPpm, engine.Reference is not null));
                    if (trace is not null && (long)trueSeconds % 100 == 0)
                        trace.WriteLine(FormattableString.Invariant($"{trueSeconds,10:0.000} tick offset {offset * 1e6,9:0.0} µs freq-err {freqErrorPpm,8:0.000} ppm"));
                    Schedule(now + Second, EventKind.Tick);
                    break;
                }
            }
        }

        // With MeasureFromSeconds, sync is judged before that instant and the statistics after it
        // (a scenario whose later events are allowed a larger offset than the sync bar).
        int judged = bars.MeasureFromSeconds is { } from ? ticks.FindIndex(t => t.At >= from) : ticks.Count;
        if (judged < 0) judged = ticks.Count;
        int lastBad = ticks.FindLastIndex(Math.Max(judged - 1, 0), Math.Max(judged, 0), t => !t.Synchronised || Math.Abs(t.Offset) > bars.SyncOffsetSeconds);
        double? syncAt = lastBad == judged - 1 ? null : lastBad < 0 ? 0 : ticks[lastBad + 1].At;
        int statsFrom = syncAt is null ? ticks.Count : Math.Max(lastBad + 1, bars.MeasureFromSeconds is null ? 0 : judged);
        var after = ticks.Skip(statsFrom).ToList();
        double maxOffset = after.Count > 0 ? after.Max(t => Math.Abs(t.Offset)) : 0;
        double rmsOffset = after.Count > 0 ? Math.Sqrt(after.Average(t => t.Offset * t.Offset)) : 0;
        double meanOffset = after.Count > 0 ? after.Average(t => t.Offset) : 0;
        double maxFreq = after.Count > 0 ? after.Max(t => Math.Abs(t.FreqPpm)) : 0;
        double rmsFreq = after.Count > 0 ? Math.Sqrt(after.Average(t => t.FreqPpm * t.FreqPpm)) : 0;
        var pollers = engine.SourceIds.Select(engine.Poller).ToList();
        var result = new ScenarioResult(
            scenario, 1, syncAt, maxOffset, rmsOffset, maxFreq, rmsFreq,
            pollers.Sum(p => p.RequestsSent), pollers.Sum(p => p.RepliesReceived), lost, pollers.Sum(p => p.KissesReceived),
            engine.StepCount, pollers[0].PollLog2, engine.Reference?.Leap ?? LeapIndicator.Unsynchronised, engine.NotSynchronisedReason,
            [], wall.Elapsed, meanOffset, pollers.Sum(p => p.GoodReplies), pollers.Sum(p => p.InterleavedSamples));
        return result with { Failures = Judge(result) };
    }

    /// <summary>
    /// Runs a scenario with <paramref name="runs"/> seeds and judges the aggregate as chrony's published
    /// figures are given: RMS values are the mean over the runs, sync time and maxima the worst run.
    /// </summary>
    public static ScenarioResult RunMany(Scenario scenario, int runs, int firstSeed = 1)
    {
        var results = Enumerable.Range(firstSeed, runs).Select(seed => Run(scenario, seed)).ToList();
        var worst = results.MaxBy(r => r.SyncSeconds ?? double.MaxValue)!;
        bool anyNever = results.Any(r => r.SyncSeconds is null);
        var aggregate = new ScenarioResult(
            scenario,
            runs,
            anyNever ? null : results.Max(r => r.SyncSeconds),
            results.Max(r => r.MaxOffsetSeconds),
            results.Average(r => r.RmsOffsetSeconds),
            results.Max(r => r.MaxFrequencyErrorPpm),
            results.Average(r => r.RmsFrequencyErrorPpm),
            results.Sum(r => r.RequestsSent),
            results.Sum(r => r.RepliesReceived),
            results.Sum(r => r.PacketsLost),
            results.Sum(r => r.KissesReceived),
            results.Max(r => r.Steps),
            results.Min(r => r.FinalPollLog2),
            worst.FinalServedLeap,
            results.Select(r => r.FinalNoSyncReason).FirstOrDefault(r => r is not null),
            [],
            TimeSpan.FromTicks(results.Sum(r => r.WallTime.Ticks)),
            results.Average(r => r.MeanOffsetSeconds),
            results.Sum(r => r.Samples),
            results.Sum(r => r.InterleavedSamples));
        // Per-run bars that the mean would hide: every run must step exactly as expected, serve the leap, back off.
        var failures = Judge(aggregate);
        foreach (var r in results)
        {
            if (scenario.Bars.ExactSteps is { } steps && r.Steps != steps) failures.Add($"a run made {r.Steps} steps, expected {steps}");
            if (scenario.Bars.ServedLeap is { } leap && r.FinalServedLeap != leap) failures.Add($"a run serves leap {r.FinalServedLeap}");
        }
        return aggregate with { Failures = failures.Distinct().ToList() };
    }

    private static List<string> Judge(ScenarioResult r)
    {
        var bars = r.Scenario.Bars;
        var failures = new List<string>();
        if (bars.MaxSyncSeconds is { } maxSync)
        {
            if (r.SyncSeconds is null) failures.Add("never synchronised");
            else if (r.SyncSeconds > maxSync) failures.Add($"synchronised after {r.SyncSeconds:0} s > {maxSync:0} s");
        }
        else if (r.SyncSeconds is not null)
        {
            failures.Add($"synchronised at {r.SyncSeconds:0} s but must not");
        }
        if (bars.MaxOffsetSeconds is { } maxOff && r.MaxOffsetSeconds > maxOff) failures.Add($"max |offset| {r.MaxOffsetSeconds * 1e6:0} µs > {maxOff * 1e6:0} µs");
        if (bars.RmsOffsetSeconds is { } rmsOff && r.RmsOffsetSeconds > rmsOff) failures.Add($"RMS offset {r.RmsOffsetSeconds * 1e6:0} µs > {rmsOff * 1e6:0} µs");
        if (bars.MaxFrequencyErrorPpm is { } maxF && r.MaxFrequencyErrorPpm > maxF) failures.Add($"max freq error {r.MaxFrequencyErrorPpm:0.###} ppm > {maxF} ppm");
        if (bars.RmsFrequencyErrorPpm is { } rmsF && r.RmsFrequencyErrorPpm > rmsF) failures.Add($"RMS freq error {r.RmsFrequencyErrorPpm:0.###} ppm > {rmsF} ppm");
        if (bars.ExactSteps is { } stepsWanted && r.Steps != stepsWanted) failures.Add($"{r.Steps} steps, expected {stepsWanted}");
        if (bars.NoSyncReasonContains is { } reason && (r.FinalNoSyncReason is null || !r.FinalNoSyncReason.Contains(reason)))
            failures.Add($"reason for not synchronising is '{r.FinalNoSyncReason}', expected '{reason}'");
        if (bars.ServedLeap is { } leap && r.FinalServedLeap != leap) failures.Add($"serves leap {r.FinalServedLeap}, expected {leap}");
        if (bars.MinFinalPollLog2 is { } poll && r.FinalPollLog2 < poll) failures.Add($"final poll {r.FinalPollLog2} < {poll}");
        if (bars.MaxKissesReceived is { } kisses && r.KissesReceived > kisses) failures.Add($"{r.KissesReceived} kisses received > {kisses}");
        if (bars.MeanOffsetSeconds is { } mean && (r.MeanOffsetSeconds < mean.Low || r.MeanOffsetSeconds > mean.High))
            failures.Add($"mean offset {r.MeanOffsetSeconds * 1e6:+0.0;-0.0} µs outside {mean.Low * 1e6:+0.#;-0.#} … {mean.High * 1e6:+0.#;-0.#} µs");
        if (bars.MinInterleavedShare is { } share && r.InterleavedShare < share)
            failures.Add($"{r.InterleavedShare:P0} of the samples interleaved < {share:P0}");
        return failures;
    }
}
