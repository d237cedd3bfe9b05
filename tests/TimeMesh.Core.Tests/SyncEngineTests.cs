using System.Net;
using TimeMesh.Core.Access;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

/// <summary>
/// The sync engine end to end against servers made of the core's own <see cref="NtpServerHandler"/>,
/// in virtual time: true time is a number the test advances, the raw clock a function of it.
/// </summary>
public class SyncEngineTests
{
    private const long Second = 1_000_000_000;
    private const long Ms = 1_000_000;
    private const long T0 = 1_800_000_000L * Second;
    private static readonly IpAddress128 ClientAddress = IpAddress128.FromIPAddress(IPAddress.Parse("192.0.2.200"));

    /// <summary>A stratum-1 server: the core's handler with a synchronised reference, answering on the true clock plus an error.</summary>
    private sealed class FakeServer
    {
        private readonly NtpServerHandler _handler = new(new ClientLog(1 << 20, null, 1));
        private ServerSnapshot _snapshot;

        public FakeServer(byte stratum = 1, long errorNs = 0, LeapIndicator leap = LeapIndicator.NoWarning)
        {
            ErrorNs = errorNs;
            _snapshot = new ServerSnapshot
            {
                Reference = new ReferenceState
                {
                    Kind = ReferenceKind.Synchronised,
                    Leap = leap,
                    Stratum = stratum,
                    ReferenceId = ReferenceIds.FromAscii("GPS"),
                    ReferenceTimeUnixNs = T0,
                    RootDelaySeconds = 0,
                    RootDispersionSeconds = 20e-6,
                    DispersionRate = 0,
                },
                Access = AccessList.FromSpecs(["192.0.2.0/24"], []),
                PrecisionLog2 = -24,
            };
        }

        /// <summary>Server time − true time.</summary>
        public long ErrorNs { get; set; }
        public bool Answering { get; set; } = true;
        public int Requests { get; private set; }

        /// <summary>From now on answer as a server that lost its sources: leap 3, which gives no sample.</summary>
        public void LoseSync() => _snapshot = _snapshot with { Reference = ReferenceState.Unsynchronised };

        public byte[]? Answer(ReadOnlySpan<byte> request, long trueArrivalNs, long processingNs)
        {
            Requests++;
            if (!Answering) return null;
            long receive = trueArrivalNs + ErrorNs;
            _snapshot = _snapshot with { Reference = _snapshot.Reference with { ReferenceTimeUnixNs = receive - 8 * Second } };
            var reply = new byte[48];
            var verdict = _handler.Handle(request, ClientAddress, receive, _snapshot, reply, out int length);
            Assert.Equal(ServerVerdict.Respond, verdict);
            Assert.Equal(48, length);
            NtpServerHandler.StampTransmitTime(reply, receive + processingNs);
            return reply;
        }
    }

    /// <summary>The engine, its servers, and a raw clock <see cref="RawErrorNs"/> off and <see cref="RawFrequency"/> fast.</summary>
    private sealed class World
    {
        private readonly Random _jitter = new(42);
        private readonly Dictionary<int, FakeServer> _servers = new();

        public World(long rawErrorNs = 50 * Ms, double rawFrequency = 0, SyncSettings? settings = null)
        {
            RawErrorNs = rawErrorNs;
            RawFrequency = rawFrequency;
            Engine = new SyncEngine(settings ?? new SyncSettings(), Raw(T0), seed: 12345);
        }

        public SyncEngine Engine { get; }
        public long RawErrorNs { get; }
        public double RawFrequency { get; }
        public long TrueNs { get; private set; } = T0;
        public long OneWayNs { get; init; } = 5 * Ms;
        public long JitterNs { get; init; } = 100_000;
        /// <summary>Polls sent per source, with the true time each went out.</summary>
        public List<(int Source, long TrueNs)> Polls { get; } = new();

        public long Raw(long trueNs) => trueNs + RawErrorNs + (long)((trueNs - T0) * RawFrequency);

        private long TrueOf(long rawNs)
        {
            long t = T0 + (long)((rawNs - RawErrorNs - T0) / (1 + RawFrequency));
            while (Raw(t) < rawNs) t++;
            return t;
        }

        /// <summary>Served − true time now (the node's error).</summary>
        public double ServedErrorSeconds(long trueNs) => (Engine.Correction.Apply(Raw(trueNs)) - trueNs) * 1e-9;

        public int Add(FakeServer server, uint referenceId, string address, bool iburst = true, int maxUnreach = 4)
        {
            int id = Engine.AddSource(new SourceSettings { Address = address, IBurst = iburst, MaxUnreach = maxUnreach }, referenceId, Raw(TrueNs));
            _servers[id] = server;
            return id;
        }

        /// <summary>What each reply came to, in order.</summary>
        public List<ReplyOutcome> Outcomes { get; } = new();
        /// <summary>Every reply must give a sample (the default); off for a test whose server stops giving them.</summary>
        public bool RequireSamples { get; set; } = true;

        /// <summary>Runs every poll due up to <paramref name="untilTrueNs"/>, each answered (or not) by its server.</summary>
        public void RunUntil(long untilTrueNs, Action<long>? afterPolls = null)
        {
            var request = new byte[48];
            while (true)
            {
                long nextRaw = Engine.NextPollNs;
                if (nextRaw == long.MaxValue) break;
                long t = Math.Max(TrueOf(nextRaw), TrueNs);
                if (t > untilTrueNs) break;
                TrueNs = t;
                var due = new List<(int Id, byte[] Request)>();
                while (Engine.TryPoll(Raw(t), request, out int id))
                {
                    Engine.RequestSent(id, Raw(t));
                    due.Add((id, request.ToArray()));
                    Polls.Add((id, t));
                }
                foreach (var (id, bytes) in due)
                {
                    long outbound = OneWayNs + _jitter.NextInt64(JitterNs + 1);
                    long inbound = OneWayNs + _jitter.NextInt64(JitterNs + 1);
                    const long processing = 20_000;
                    var reply = _servers[id].Answer(bytes, t + outbound, processing);
                    if (reply is null) continue;
                    long back = t + outbound + processing + inbound;
                    var outcome = Engine.HandleReply(id, reply, Raw(back));
                    Outcomes.Add(outcome);
                    if (RequireSamples) Assert.Equal(ReplyOutcome.Sample, outcome);
                    TrueNs = Math.Max(TrueNs, back);
                }
                afterPolls?.Invoke(t);
            }
            TrueNs = Math.Max(TrueNs, untilTrueNs);
        }
    }

    private const uint IdA = 0xC0000201, IdB = 0xC0000202, IdC = 0xC0000203;

    [Fact]
    public void SynchronisesToAStratumOneServerAndServesStratumTwo()
    {
        var world = new World(rawErrorNs: 50 * Ms);
        world.Add(new FakeServer(stratum: 1), IdA, "192.0.2.1");
        Assert.Null(world.Engine.Reference);
        Assert.Equal("no sample yet", world.Engine.NotSynchronisedReason);

        world.RunUntil(T0 + 10 * Second);

        var reference = world.Engine.Reference;
        Assert.NotNull(reference);
        Assert.Equal(ReferenceKind.Synchronised, reference.Kind);
        Assert.Equal(2, reference.Stratum);
        Assert.Equal(IdA, reference.ReferenceId);
        Assert.Equal(LeapIndicator.NoWarning, reference.Leap);
        Assert.Null(world.Engine.NotSynchronisedReason);
        Assert.Equal(0, world.Engine.StepCount);
        // The iburst: four exchanges in six seconds.
        Assert.Equal(new[] { 0L, 2, 4, 6 }, world.Polls.Select(p => (p.TrueNs - T0) / Second));
    }

    [Fact]
    public void IBurstSlewsOutA50MsErrorToWithinAMillisecond()
    {
        var world = new World(rawErrorNs: 50 * Ms);
        world.Add(new FakeServer(), IdA, "192.0.2.1");
        Assert.Equal(0.050, world.ServedErrorSeconds(T0), 6);

        world.RunUntil(T0 + 7 * Second);
        // Within a millisecond by the end of the burst, and it stays there while the poll interval grows.
        var errors = new List<double> { world.ServedErrorSeconds(world.TrueNs) };
        world.RunUntil(T0 + 3600 * Second, t => errors.Add(world.ServedErrorSeconds(t)));

        Assert.True(errors.Count > 10, $"{errors.Count} polls");
        Assert.All(errors, e => Assert.InRange(e, -1e-3, 1e-3));
        Assert.InRange(world.ServedErrorSeconds(world.TrueNs), -2e-4, 2e-4);
    }

    [Fact]
    public void LearnsTheFrequencyOfARawClock20PpmFast()
    {
        var world = new World(rawErrorNs: 50 * Ms, rawFrequency: 20e-6);
        world.Add(new FakeServer(), IdA, "192.0.2.1");

        world.RunUntil(T0 + 4 * 3600 * Second);

        // The correction slows the raw clock by 20 ppm; chronyc's tracking shows the raw clock fast.
        Assert.InRange(world.Engine.Discipline.FrequencyPpm, -20.5, -19.5);
        var tracking = world.Engine.Tracking(world.Raw(world.TrueNs));
        Assert.InRange(tracking.FrequencyPpm, 19.5, 20.5);
        Assert.InRange(world.ServedErrorSeconds(world.TrueNs), -1e-3, 1e-3);
    }

    [Fact]
    public void LastRxCountsFromTheLastSampleNotFromAReplyThatGaveNone()
    {
        var world = new World(rawErrorNs: 50 * Ms);
        var server = new FakeServer();
        int id = world.Add(server, IdA, "192.0.2.1");
        while (world.Polls.Count < 8) world.RunUntil(TrueOfNextPoll(world));
        long lastGoodTrueNs = world.Polls[^1].TrueNs;
        server.LoseSync();
        world.RequireSamples = false;
        while (world.Polls.Count < 11) world.RunUntil(TrueOfNextPoll(world));
        Assert.Equal([ReplyOutcome.Unsynchronised, ReplyOutcome.Unsynchronised, ReplyOutcome.Unsynchronised], world.Outcomes[^3..]);
        long now = world.TrueNs + Second;

        var source = Assert.Single(world.Engine.Sources(world.Raw(now)));
        Assert.Equal(id, source.Id);
        // Three leap-3 replies came in since, none of them a sample: LastRx still counts from the last good one.
        double sinceLastGood = (now - lastGoodTrueNs) * 1e-9;
        Assert.InRange(source.LastRxAgoSeconds!.Value, sinceLastGood - 0.05, sinceLastGood + 0.05);
        Assert.True(source.LastRxAgoSeconds > (now - world.Polls[^1].TrueNs) * 1e-9 + 1);
    }

    [Fact]
    public void ReportsAfterEightGoodPolls()
    {
        var world = new World(rawErrorNs: 50 * Ms);
        int id = world.Add(new FakeServer(), IdA, "192.0.2.1");
        while (world.Polls.Count < 8) world.RunUntil(TrueOfNextPoll(world));
        long now = world.TrueNs + 3 * Second;
        long raw = world.Raw(now);

        var source = Assert.Single(world.Engine.Sources(raw));
        Assert.Equal(id, source.Id);
        Assert.Equal("192.0.2.1", source.Name);
        Assert.Equal('^', source.Mode);
        Assert.Equal(SourceState.Selected, source.State);
        Assert.Equal('*', source.State.Symbol());
        Assert.Equal(0xFF, source.Reach); // 377 octal
        Assert.Equal(1, source.Stratum);
        Assert.Equal(world.Engine.Poller(id).PollLog2, source.PollLog2);
        // chronyc's LastRx: from the last sample (the exchange's midpoint, ~5 ms before its reply came in).
        Assert.InRange(source.LastRxAgoSeconds!.Value, 3.0, 3.01);
        Assert.InRange(source.AdjustedOffsetSeconds, -1e-3, 1e-3);
        // Error bound: half the ~10 ms round trip plus dispersions.
        Assert.InRange(source.ErrorSeconds, 0.005, 0.006);

        var stats = Assert.Single(world.Engine.SourceStats(raw));
        Assert.Equal("192.0.2.1", stats.Name);
        Assert.Equal(8, stats.Samples);
        Assert.InRange(stats.SpanSeconds, 1, (world.Polls[^1].TrueNs - T0) * 1e-9 + 0.1);
        Assert.InRange(stats.FrequencyPpm, -5, 5);
        Assert.InRange(stats.SkewPpm, 0, 100);
        Assert.InRange(stats.OffsetSeconds, -1e-3, 1e-3);
        Assert.InRange(stats.StdDevSeconds, 0, 2e-4);

        var tracking = world.Engine.Tracking(raw);
        Assert.True(tracking.Synchronised);
        Assert.Null(tracking.NotSynchronisedReason);
        Assert.Equal(IdA, tracking.ReferenceId);
        Assert.Equal("192.0.2.1", tracking.ReferenceName);
        Assert.Equal(2, tracking.Stratum);
        Assert.Equal(LeapIndicator.NoWarning, tracking.Leap);
        Assert.Equal(Math.Pow(2, source.PollLog2), tracking.UpdateIntervalSeconds);
        // Root delay: the server's (0) plus our round trip, 10–10.3 ms here.
        Assert.InRange(tracking.RootDelaySeconds, 0.0100, 0.0103);
        Assert.InRange(tracking.RootDispersionSeconds, 20e-6, 5e-3);
        Assert.InRange(tracking.SystemTimeOffsetSeconds, -1e-3, 1e-3);
        Assert.InRange(tracking.LastOffsetSeconds, -1e-3, 1e-3);
        // The first update found the 50 ms; the later ones next to nothing.
        int updates = world.Engine.Discipline.Updates;
        Assert.Equal(8, updates);
        Assert.InRange(tracking.RmsOffsetSeconds, 0.049 / Math.Sqrt(updates), 0.051 / Math.Sqrt(updates));
        // The reference time is the served time of the last update: when the last reply came (TrueNs).
        Assert.InRange(tracking.ReferenceTimeUnixNs, world.TrueNs - 2 * Ms, world.TrueNs + 2 * Ms);
    }

    private static long TrueOfNextPoll(World world) => world.TrueNs + Math.Max(1, world.Engine.NextPollNs - world.Raw(world.TrueNs));

    [Fact]
    public void ASourceThatStopsAnsweringIsDroppedAfterMaxUnreachUnansweredPolls()
    {
        var world = new World();
        var server = new FakeServer();
        int id = world.Add(server, IdA, "192.0.2.1", maxUnreach: 4);
        world.RunUntil(T0 + 1800 * Second);
        Assert.NotNull(world.Engine.Reference);
        int version = world.Engine.Version;

        server.Answering = false;
        int pollsBefore = world.Polls.Count;
        int? lostAtPoll = null;
        world.RunUntil(T0 + 20_000 * Second, _ =>
        {
            if (lostAtPoll is null && world.Engine.Reference is null) lostAtPoll = world.Polls.Count - pollsBefore;
        });

        // Four requests went unanswered; the fifth poll finds it out.
        Assert.Equal(5, lostAtPoll);
        Assert.Null(world.Engine.Reference);
        Assert.Equal("no selectable sources", world.Engine.NotSynchronisedReason);
        Assert.NotEqual(version, world.Engine.Version);
        long raw = world.Raw(world.TrueNs);
        var tracking = world.Engine.Tracking(raw);
        Assert.False(tracking.Synchronised);
        Assert.Equal("no selectable sources", tracking.NotSynchronisedReason);
        Assert.Equal(LeapIndicator.Unsynchronised, tracking.Leap);
        var report = Assert.Single(world.Engine.Sources(raw));
        Assert.Equal(SourceState.Unusable, report.State);
        Assert.Equal('?', report.State.Symbol());
        // It keeps being polled, at minpoll.
        Assert.True(world.Polls.Count - pollsBefore > 100);
        Assert.Equal(SourceSettings.DefaultMinPollLog2, world.Engine.Poller(id).PollLog2);

        // Back again: one good reply and it is selected again.
        server.Answering = true;
        world.RunUntil(world.TrueNs + 65 * Second);
        Assert.Equal(IdA, world.Engine.Reference?.ReferenceId);
    }

    [Fact]
    public void AFalsetickerAmongThreeServersIsMarkedAndIgnored()
    {
        var world = new World(rawErrorNs: 50 * Ms);
        world.Add(new FakeServer(), IdA, "192.0.2.1");
        world.Add(new FakeServer(), IdB, "192.0.2.2");
        int bad = world.Add(new FakeServer(errorNs: 400 * Ms), IdC, "192.0.2.3");

        world.RunUntil(T0 + 1800 * Second);

        var reports = world.Engine.Sources(world.Raw(world.TrueNs));
        Assert.Equal(SourceState.Falseticker, reports.Single(r => r.Id == bad).State);
        Assert.Equal("*+", new string(reports.Where(r => r.Id != bad).Select(r => r.State.Symbol()).Order().ToArray()));
        Assert.Contains(world.Engine.Reference!.ReferenceId, new[] { IdA, IdB });
        Assert.InRange(world.ServedErrorSeconds(world.TrueNs), -1e-3, 1e-3);
    }

    /// <summary>
    /// A liar (+2 s) answers first, two honest servers only from the fourth second on (the rogue-master case of the
    /// mesh attack tests). Without a start quorum the engine steps to the liar, as chronyd would, and comes back once
    /// the honest two outvote it; with one (2 of 3), it waits for them and never serves the lie. Either way, once the
    /// honest two are selected the served bound (root delay / 2 + root dispersion) covers the served error.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void ALiarThatAnswersFirstSetsTheClockOnlyWithoutAStartQuorumAndTheServedBoundNeverHidesTheError(int quorum)
    {
        var world = new World(rawErrorNs: 0, settings: new SyncSettings { StartQuorum = quorum });
        var honest = new[] { new FakeServer { Answering = false }, new FakeServer { Answering = false } };
        int liar = world.Add(new FakeServer(errorNs: 2 * Second), IdC, "192.0.2.3");
        world.Add(honest[0], IdA, "192.0.2.1");
        world.Add(honest[1], IdB, "192.0.2.2");
        var seen = new List<(long T, double Error, double Bound, int? Selected)>();
        void Look(long t)
        {
            var r = world.Engine.Reference;
            seen.Add((t, world.ServedErrorSeconds(t), r is null ? double.PositiveInfinity : r.RootDelaySeconds / 2 + r.RootDispersionSeconds, world.Engine.SelectedId));
        }
        world.RunUntil(T0 + 3 * Second, Look);
        foreach (var server in honest) server.Answering = true;
        world.RunUntil(T0 + 120 * Second, Look);

        double worst = seen.Max(x => Math.Abs(x.Error));
        if (quorum == 0)
        {
            Assert.InRange(worst, 1.9, 2.1);
            Assert.True(world.Engine.StepCount >= 1, $"{world.Engine.StepCount} steps");
        }
        else
        {
            Assert.InRange(worst, 0, 0.01);
            Assert.All(seen.Where(x => x.T < T0 + 3 * Second), x => Assert.Null(x.Selected));
            Assert.Equal(0, world.Engine.StepCount);
        }
        Assert.All(seen.Where(x => x.Selected is { } id && id != liar), x => Assert.InRange(Math.Abs(x.Error), 0, x.Bound + 1e-3));
        Assert.Equal(SourceState.Falseticker, world.Engine.Sources(world.Raw(world.TrueNs)).Single(r => r.Id == liar).State);
        Assert.InRange(world.ServedErrorSeconds(world.TrueNs), -1e-3, 1e-3);
    }

    /// <summary>
    /// A selection that moves without a new sample from the source it moves to (here: the selected source made
    /// demoted; in a node also a lost source, a falseticker voted out by another's reply) does not move the clock
    /// (chronyd's rule: only a contributing sample does; the new source's estimate may be stale), but the served
    /// bound covers the gap to it at once, and the new source's next sample corrects the clock.
    /// </summary>
    [Fact]
    public void ASelectionThatMovesWithoutANewSampleKeepsTheClockAndItsBoundCoversTheGap()
    {
        var world = new World(rawErrorNs: 0);
        var a = new FakeServer();
        var b = new FakeServer(errorNs: 3 * Ms);
        int idA = world.Add(a, IdA, "192.0.2.1");
        int idB = world.Add(b, IdB, "192.0.2.2");
        world.RunUntil(T0 + 600 * Second);
        int selected = world.Engine.SelectedId!.Value, other = selected == idA ? idB : idA;
        long otherErrorNs = other == idB ? b.ErrorNs : a.ErrorNs;
        int updates = world.Engine.Discipline.Updates;

        long now = world.TrueNs + Second;
        double before = world.ServedErrorSeconds(now);
        world.Engine.SetDemoted(selected, true, world.Raw(now));

        Assert.Equal(other, world.Engine.SelectedId);
        Assert.Equal(updates, world.Engine.Discipline.Updates);
        Assert.Equal(before, world.ServedErrorSeconds(now), 9);
        // Served against the new source's time: the gap the bound must cover until its next sample.
        double gap = Math.Abs(world.ServedErrorSeconds(now) - otherErrorNs * 1e-9);
        var r = world.Engine.Reference!;
        Assert.InRange(gap, 0.5e-3, 10e-3);
        Assert.True(r.RootDelaySeconds / 2 + r.RootDispersionSeconds >= gap, $"bound {(r.RootDelaySeconds / 2 + r.RootDispersionSeconds) * 1e3:0.000} ms, gap {gap * 1e3:0.000} ms");
        world.RunUntil(world.TrueNs + 600 * Second);
        Assert.InRange(world.ServedErrorSeconds(world.TrueNs) - otherErrorNs * 1e-9, -0.5e-3, 0.5e-3);
    }

    [Fact]
    public void TheSelectedSourcesFailureHandsOverToTheOther()
    {
        var world = new World();
        // Source 0 is a stratum-2 server: the stratum-1 ones (1 and 2) win the selection.
        world.Add(new FakeServer(stratum: 2), IdC, "192.0.2.3");
        var servers = new[] { new FakeServer(), new FakeServer() };
        world.Add(servers[0], IdA, "192.0.2.1");
        world.Add(servers[1], IdB, "192.0.2.2");
        world.RunUntil(T0 + 600 * Second);
        int selected = world.Engine.SelectedId!.Value;
        Assert.Contains(selected, new[] { 1, 2 });
        int other = 3 - selected;

        servers[selected - 1].Answering = false;
        world.RunUntil(T0 + 3600 * Second);

        Assert.Equal(other, world.Engine.SelectedId);
        Assert.Equal(other == 1 ? IdA : IdB, world.Engine.Reference!.ReferenceId);
        Assert.Equal(2, world.Engine.Reference.Stratum);
        Assert.Equal(SourceState.Unusable, world.Engine.Sources(world.Raw(world.TrueNs)).Single(r => r.Id == selected).State);
        Assert.InRange(world.ServedErrorSeconds(world.TrueNs), -1e-3, 1e-3);
    }

    /// <summary>A large reselectdist: the incumbent is kept until it drops out, so the hand-over happens at the loss of reach.</summary>
    private static readonly SyncSettings StickySelection = new() { Selection = new SelectionSettings { ReselectDistanceSeconds = 1.0 } };

    [Fact]
    public void WithStickySelectionASecondSourceTakesOverWhenTheSelectedOneDropsOut()
    {
        var world = new World(settings: StickySelection);
        world.Add(new FakeServer(stratum: 3), IdC, "192.0.2.3"); // id 0: never the best
        var failing = new FakeServer();
        int a = world.Add(failing, IdA, "192.0.2.1");
        int b = world.Add(new FakeServer(), IdB, "192.0.2.2");
        world.RunUntil(T0 + 600 * Second);
        Assert.Equal(a, world.Engine.SelectedId);

        failing.Answering = false;
        world.RunUntil(T0 + 3600 * Second);

        Assert.Equal(b, world.Engine.SelectedId);
        Assert.Equal(IdB, world.Engine.Reference!.ReferenceId);
    }

    [Fact]
    public void WithStickySelectionTheFirstSourcesLossHandsOverToo()
    {
        var world = new World(settings: StickySelection);
        var failing = new FakeServer();
        int a = world.Add(failing, IdA, "192.0.2.1");
        int b = world.Add(new FakeServer(), IdB, "192.0.2.2");
        world.RunUntil(T0 + 600 * Second);
        Assert.Equal(0, a);
        Assert.Equal(a, world.Engine.SelectedId);

        failing.Answering = false;
        world.RunUntil(T0 + 3600 * Second);

        Assert.Equal(b, world.Engine.SelectedId);
        Assert.Equal(IdB, world.Engine.Reference!.ReferenceId);
        var reports = world.Engine.Sources(world.Raw(world.TrueNs));
        Assert.Equal(SourceState.Unusable, reports.Single(r => r.Id == a).State);
        Assert.Equal(SourceState.Selected, reports.Single(r => r.Id == b).State);
        // The clock is still being disciplined by the survivor.
        Assert.True(world.Engine.Discipline.LastUpdateNs > world.Raw(T0 + 3000 * Second));
    }

    [Fact]
    public void AReplyForAnUnknownSourceIsBogus()
    {
        var world = new World();
        Assert.Equal(ReplyOutcome.Bogus, world.Engine.HandleReply(99, new byte[48], world.Raw(T0)));
        Assert.Equal(long.MaxValue, world.Engine.NextPollNs);
    }
}
