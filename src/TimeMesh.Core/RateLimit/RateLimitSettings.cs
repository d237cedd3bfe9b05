namespace TimeMesh.Core.RateLimit;

/// <summary>
/// chrony's <c>ratelimit interval I burst B leak L</c>: a client may send on average one request every
/// 2^I seconds with bursts of up to B; over the limit, on average 1 in 2^L requests is still answered
/// (so that a spoofed source cannot silence its victim). <c>kod</c> answers the rest with a RATE kiss-o'-death.
/// </summary>
public sealed record RateLimitSettings(int IntervalLog2, int Burst, int LeakLog2, bool KissOfDeath)
{
    public const int MinIntervalLog2 = -19;
    public const int MaxIntervalLog2 = 12;
    public const int MinBurst = 1;
    public const int MaxBurst = 255;
    public const int MinLeakLog2 = 1;
    public const int MaxLeakLog2 = 4;

    /// <summary>chrony's defaults: interval 3 (8 s), burst 8, leak 2.</summary>
    public static readonly RateLimitSettings ChronyDefaults = new(3, 8, 2, false);

    public long IntervalNanoseconds => IntervalLog2 >= 0
        ? 1_000_000_000L << IntervalLog2
        : Math.Max(1L, 1_000_000_000L >> -IntervalLog2);
}
