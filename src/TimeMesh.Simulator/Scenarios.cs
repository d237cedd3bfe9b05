using TimeMesh.Core.Discipline;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Sources;

namespace TimeMesh.Simulator;

/// <summary>
/// The scenario suite, anchored on chrony's test/simulation tier: chrony's settings and pass bars unless
/// a scenario says otherwise. Defaults: one stratum-1 server, client offset 0.1 s, frequency error
/// 100 ppm, wander 1e-9/s, delay 100 µs + exponential jitter 100 µs each way, 10 000 s.
/// </summary>
public static class Scenarios
{
    private static readonly SimServerSpec DefaultServer = new();
    private static readonly SourceSettings Default = new() { Address = "sim" };
    private static readonly SourceSettings WithIBurst = Default with { IBurst = true };

    private static SimServerSpec Jitter(double seconds) => new()
    {
        Up = new SimLink { JitterSeconds = seconds },
        Down = new SimLink { JitterSeconds = seconds },
    };

    private static Scenario FrequencyError(string id, double ppm) =>
        new()
        {
            Id = id,
            Title = $"frequency error {ppm:+0;−0} ppm",
            ClientFrequencyPpm = ppm,
            Servers = [DefaultServer],
            Bars = new PassBars { MaxSyncSeconds = 1_000, MaxOffsetSeconds = 1e-3, RmsOffsetSeconds = 300e-6 },
            ChronyReference = "sync ≤ 1000 s",
        };

    /// <summary>
    /// Issue 11's timestamp errors: a datagram leaves 30 µs + exponential 20 µs after a user-space reading of the clock
    /// (mean 50 µs: an uncorrected T1 or T3 then moves the served time by about 25 µs, the bias measured on a real
    /// path with user-space T1).
    /// </summary>
    private static readonly SendLatency SendCallLatency = new() { BaseSeconds = 30e-6, ExponentialMeanSeconds = 20e-6 };

    /// <summary>The accuracy bench's client: iburst, a poll every second.</summary>
    private static readonly SourceSettings EverySecond = Default with { IBurst = true, MinPollLog2 = 0, MaxPollLog2 = 0 };

    private static Scenario StampScenario(string id, string title) => new()
    {
        Id = id,
        Title = title,
        DurationSeconds = 2_000,
        SourceTemplate = EverySecond,
        Servers = [DefaultServer],
        Bars = new PassBars(),
    };

    /// <summary>
    /// Bars of the issue 11 scenarios: chrony's sync and max bars; the mean decides. The RMS bars were set after the
    /// first run (2026-12-05: 27 µs with a bias, 12–14 µs without) with headroom, as 001's.
    /// </summary>
    private static PassBars StampBars((double Low, double High) mean, double rmsSeconds, double? minInterleavedShare = null) => new()
    {
        MaxSyncSeconds = 210,
        MaxOffsetSeconds = 1e-3,
        RmsOffsetSeconds = rmsSeconds,
        MeanOffsetSeconds = mean,
        MinInterleavedShare = minInterleavedShare,
    };

    private static Scenario MakeStep(string id, double offsetSeconds) =>
        new()
        {
            Id = id,
            Title = $"offset {offsetSeconds:+0;−0} s with makestep 1 3",
            ClientOffsetSeconds = offsetSeconds,
            SourceTemplate = WithIBurst,
            Sync = new SyncSettings { Discipline = new DisciplineSettings { MakeStepThresholdSeconds = 1, MakeStepLimit = 3 } },
            Servers = [DefaultServer],
            Bars = new PassBars { MaxSyncSeconds = 210, ExactSteps = 1, MaxOffsetSeconds = 1e-3, RmsOffsetSeconds = 300e-6 },
            ChronyReference = "one step, then synchronised",
        };

    public static IReadOnlyList<Scenario> All { get; } =
    [
        new Scenario
        {
            Id = "001",
            Title = "default: one stratum-1 server",
            Servers = [DefaultServer],
            Bars = new PassBars { MaxSyncSeconds = 210, MaxOffsetSeconds = 1e-3, RmsOffsetSeconds = 80e-6, RmsFrequencyErrorPpm = 10 },
            ChronyReference = "sync ≤ 210 s, max 1 ms, RMS 300 µs bar; chrony measures RMS 109 ± 14 µs, ntpd 256 µs. Our bar: RMS ≤ 80 µs",
        },
        new Scenario
        {
            Id = "002",
            Title = "iburst with a known frequency (drift file)",
            DurationSeconds = 2_000,
            SourceTemplate = WithIBurst,
            KnownDrift = (100, 0.05),
            Servers = [DefaultServer],
            Bars = new PassBars { MaxSyncSeconds = 6, MaxOffsetSeconds = 1e-3, RmsOffsetSeconds = 300e-6 },
            ChronyReference = "iburst: sync ≤ 6 s",
        },
        FrequencyError("003a", +500),
        FrequencyError("003b", -500),
        MakeStep("004a", +100),
        MakeStep("004b", -100),
        new Scenario
        {
            Id = "005a",
            Title = "five servers, two falsetickers at +0.5 s",
            Servers = [DefaultServer, DefaultServer, DefaultServer, DefaultServer with { OffsetSeconds = 0.5 }, DefaultServer with { OffsetSeconds = 0.5 }],
            Bars = new PassBars { MaxSyncSeconds = 1_000, MaxOffsetSeconds = 1e-3, RmsOffsetSeconds = 300e-6 },
            ChronyReference = "5 servers, 2 falsetickers: must sync to the truth",
        },
        new Scenario
        {
            Id = "005b",
            Title = "five servers, three falsetickers (+0.5, +1.0, −0.5 s)",
            Servers = [DefaultServer, DefaultServer, DefaultServer with { OffsetSeconds = 0.5 }, DefaultServer with { OffsetSeconds = 1.0 }, DefaultServer with { OffsetSeconds = -0.5 }],
            Bars = new PassBars { MaxSyncSeconds = null, NoSyncReasonContains = "no majority" },
            ChronyReference = "5 servers, 3 falsetickers: must not sync",
        },
        new Scenario
        {
            Id = "006",
            Title = "jitter 10 ms",
            Servers = [Jitter(10e-3)],
            Bars = new PassBars { MaxSyncSeconds = 1_000, SyncOffsetSeconds = 10e-3, MaxOffsetSeconds = 20e-3, RmsOffsetSeconds = 5e-3 },
            ChronyReference = "our bars: sync ≤ 1000 s, max 20 ms, RMS 5 ms (chrony: 475 µs RMS at 1 ms jitter)",
        },
        new Scenario
        {
            Id = "007",
            Title = "asymmetric jitter (1 ms up, 100 µs down)",
            Servers = [new SimServerSpec { Up = new SimLink { JitterSeconds = 1e-3 }, Down = new SimLink { JitterSeconds = 100e-6 } }],
            Bars = new PassBars { MaxSyncSeconds = 1_000, SyncOffsetSeconds = 2e-3, MaxOffsetSeconds = 5e-3, RmsOffsetSeconds = 1e-3 },
            ChronyReference = "our bars: max 5 ms, RMS 1 ms",
        },
        new Scenario
        {
            Id = "008",
            Title = "33 % packet loss",
            Servers = [new SimServerSpec { Up = new SimLink { LossProbability = 0.18 }, Down = new SimLink { LossProbability = 0.18 } }],
            Bars = new PassBars { MaxSyncSeconds = 10_000, MaxOffsetSeconds = 1e-3, RmsOffsetSeconds = 300e-6 },
            ChronyReference = "33 % loss: sync ≤ 10 000 s",
        },
        new Scenario
        {
            Id = "009",
            Title = "a 1200 s outage every 10 000 s",
            DurationSeconds = 40_000,
            Servers = [DefaultServer with { Outages = new OutageSchedule(10_000, 1_200, 5_000) }],
            Bars = new PassBars { MaxSyncSeconds = 1_000, MeasureFromSeconds = 4_000, MaxOffsetSeconds = 0.1, RmsOffsetSeconds = 2e-3 },
            ChronyReference = "max 0.1 s, RMS 2 ms (measured from 4000 s, over three outages)",
        },
        new Scenario
        {
            Id = "010",
            Title = "server answers RATE kiss-o'-death (ratelimit interval 6 with kod)",
            DurationSeconds = 5_000,
            SourceTemplate = Default with { IBurst = true, MinPollLog2 = 2, MaxPollLog2 = 10 },
            Servers = [DefaultServer with { RateLimit = new RateLimitSettings(6, 2, 4, true) }],
            Bars = new PassBars { MaxSyncSeconds = 1_000, MinFinalPollLog2 = 6, MaxKissesReceived = 10, MaxOffsetSeconds = 1e-3 },
            ChronyReference = "the client backs off to the server's interval",
        },
        new Scenario
        {
            Id = "011",
            Title = "a leap second announced by 2 of 3 servers",
            DurationSeconds = 3_000,
            Servers = [DefaultServer with { Leap = LeapIndicator.InsertSecond }, DefaultServer with { Leap = LeapIndicator.InsertSecond }, DefaultServer],
            Bars = new PassBars { MaxSyncSeconds = 1_000, ServedLeap = LeapIndicator.InsertSecond },
            ChronyReference = "the majority's announcement is passed on",
        },
        new Scenario
        {
            Id = "012",
            Title = "the OS clock is stepped +0.5 s at 5000 s and −0.3 s at 8000 s by someone else",
            ClockSteps = [(5_000, 0.5), (8_000, -0.3)],
            Servers = [DefaultServer],
            Bars = new PassBars { MaxSyncSeconds = 210, MaxOffsetSeconds = 1e-3, RmsOffsetSeconds = 300e-6 },
            ChronyReference = "ours: the served time does not move (the step is seen against the monotonic clock)",
        },
        StampScenario("013a", "T1 read in user space before the send call (the request leaves 30 µs + exp 20 µs later), poll 1 s") with
        {
            ClientSendLatency = SendCallLatency,
            ClientTransmitStamp = ClientTransmitStamp.UserSpace,
            Bars = StampBars((10e-6, 40e-6), rmsSeconds: 40e-6),
            ChronyReference = "the bias is seen: mean +10 … +40 µs (half the 50 µs mean send latency: +25 µs); RMS ≤ 40 µs",
        },
        StampScenario("013b", "T1 from the kernel's transmit timestamp (the same send latency), poll 1 s") with
        {
            ClientSendLatency = SendCallLatency,
            ClientTransmitStamp = ClientTransmitStamp.Kernel,
            Bars = StampBars((-5e-6, 5e-6), rmsSeconds: 20e-6),
            ChronyReference = "issue 11's bar: \\|mean\\| ≤ 5 µs (chronyd takes kernel transmit timestamps); RMS ≤ 20 µs",
        },
        StampScenario("014a", "server stamps T3 before its send call (the reply leaves 30 µs + exp 20 µs later), basic mode, poll 1 s") with
        {
            Servers = [DefaultServer with { TransmitLatency = SendCallLatency, Interleaved = true }],
            Bars = StampBars((-40e-6, -10e-6), rmsSeconds: 40e-6),
            ChronyReference = "the bias is seen: mean −40 … −10 µs (−25 µs expected); RMS ≤ 40 µs",
        },
        StampScenario("014b", "the same server, client with xleave (interleaved mode, RFC 9769), poll 1 s") with
        {
            SourceTemplate = EverySecond with { Xleave = true },
            Servers = [DefaultServer with { TransmitLatency = SendCallLatency, Interleaved = true }],
            Bars = StampBars((-5e-6, 5e-6), rmsSeconds: 20e-6, minInterleavedShare: 0.95),
            ChronyReference = "\\|mean\\| ≤ 5 µs, ≥ 95 % of the samples interleaved (chronyd with xleave); RMS ≤ 20 µs",
        },
        // The server's latency differs from the client's so that a broken T1 and a broken T3 cannot cancel (+25 − 40 µs).
        StampScenario("015", "both sides send late (client 30 µs + exp 20 µs, server 60 µs + exp 20 µs): kernel T1 and xleave, poll 1 s") with
        {
            ClientSendLatency = SendCallLatency,
            ClientTransmitStamp = ClientTransmitStamp.Kernel,
            SourceTemplate = EverySecond with { Xleave = true },
            Servers = [DefaultServer with { TransmitLatency = new SendLatency { BaseSeconds = 60e-6, ExponentialMeanSeconds = 20e-6 }, Interleaved = true }],
            Bars = StampBars((-5e-6, 5e-6), rmsSeconds: 20e-6, minInterleavedShare: 0.95),
            ChronyReference = "the node's defaults against a slower server: \\|mean\\| ≤ 5 µs, ≥ 95 % interleaved; RMS ≤ 20 µs",
        },
    ];

    public static Scenario Get(string id) => All.FirstOrDefault(s => s.Id == id) ?? throw new ArgumentException($"no scenario '{id}'; known: {string.Join(", ", All.Select(s => s.Id))}");
}
