using System.Runtime.InteropServices;

namespace TimeMesh.Node.Clock;

/// <summary>CLOCK_REALTIME through clock_gettime: nanosecond resolution, the clock kernel timestamps use.</summary>
public static unsafe partial class RealtimeClock
{
    private const int ClockRealtime = 0;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    [SuppressGCTransition]
    private static partial int ClockGetTime(int clockId, Timespec* time);

    public static long ReadUnixNanoseconds()
    {
        Timespec t;
        if (ClockGetTime(ClockRealtime, &t) != 0) return (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
        return t.Seconds * 1_000_000_000 + t.Nanoseconds;
    }

    /// <summary>CLOCK_MONOTONIC in nanoseconds (through Stopwatch): for ages and timeouts, never for served time.</summary>
    public static long ReadMonotonicNanoseconds() =>
        (long)(System.Diagnostics.Stopwatch.GetTimestamp() * (1e9 / System.Diagnostics.Stopwatch.Frequency));

    /// <summary>
    /// The clock's precision as NTP reports it (log2 seconds): the smallest step between consecutive
    /// readings, including the cost of a reading, as chrony measures it at start.
    /// </summary>
    public static sbyte MeasurePrecisionLog2(Func<long> read, int samples = 2000)
    {
        long best = long.MaxValue;
        long previous = read();
        for (int i = 0; i < samples; i++)
        {
            long now = read();
            long step = now - previous;
            if (step > 0 && step < best) best = step;
            previous = now;
        }
        if (best == long.MaxValue) best = 1_000_000; // a clock that never moved: call it 1 ms
        return (sbyte)Math.Clamp(Math.Ceiling(Math.Log2(best * 1e-9)), -30, 0);
    }
}
