namespace TimeMesh.Core.RateLimit;

/// <summary>
/// chrony's <c>ratelimit interval I burst B leak L</c>: a client may send on average one request every
/// 2^I seconds with bursts of up to B; over the limit, on average 1 in 2^L requests is still answered
/// (so that a spoofed source cannot silence its victim). With <c>kod</c> a limited client also gets a RATE
/// kiss-o'-death, at most one per interval; the rest are dropped.
/// </summary>
/// <param name="IntervalLog2">
/// The average interval a client must keep between requests, log2 seconds (3 = 8 s; negative values are
/// fractions of a second). A reply to a request whose poll field is smaller carries this value there instead.
/// </param>
/// <param name="Burst">How many requests a client that has been quiet long enough may send back to back.</param>
/// <param name="LeakLog2">Over the limit, one request in 2^LeakLog2 (chosen at random) is still answered.</param>
/// <param name="KissOfDeath">
/// chrony's <c>kod</c>: answer a request over the limit with a RATE kiss-o'-death, at most once per interval per
/// client, instead of dropping it silently.
/// </param>
public sealed record RateLimitSettings(int IntervalLog2, int Burst, int LeakLog2, bool KissOfDeath)
{
    /// <summary>Smallest interval the configuration accepts: 2^-19 s, about 1.9 µs (as chrony).</summary>
    public const int MinIntervalLog2 = -19;
    /// <summary>Largest interval the configuration accepts: 2^12 s = 4096 s (as chrony).</summary>
    public const int MaxIntervalLog2 = 12;
    /// <summary>Smallest burst the configuration accepts.</summary>
    public const int MinBurst = 1;
    /// <summary>Largest burst the configuration accepts (as chrony).</summary>
    public const int MaxBurst = 255;
    /// <summary>Smallest leak the configuration accepts: one request in 2 answered over the limit.</summary>
    public const int MinLeakLog2 = 1;
    /// <summary>Largest leak the configuration accepts: one request in 16 answered over the limit.</summary>
    public const int MaxLeakLog2 = 4;

    /// <summary>chrony's defaults: interval 3 (8 s), burst 8, leak 2.</summary>
    public static readonly RateLimitSettings ChronyDefaults = new(3, 8, 2, false);

    /// <summary>
    /// The interval, 2^<see cref="IntervalLog2"/> s, in nanoseconds; for negative powers it is rounded down, never
    /// below 1 ns (-19 gives 1907 ns). A request costs this much of a client's credit, which is capped at
    /// <see cref="Burst"/> intervals.
    /// </summary>
    public long IntervalNanoseconds => IntervalLog2 >= 0
        ? 1_000_000_000L << IntervalLog2
        : Math.Max(1L, 1_000_000_000L >> -IntervalLog2);
}
