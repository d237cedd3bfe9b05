using Akka.Configuration;

namespace TimeMesh.Node.Config;

/// <summary>
/// Akka's scheduler tick (<c>akka.scheduler.tick-duration</c>) for the node's actor systems. Every Akka timer fires
/// on a tick, and every tick wakes the scheduler and, through it, the thread pool: at Akka's default of 10 ms that
/// alone was most of an idle node's CPU (docs/benchmark.md, "Footprint"). TimeMesh's finest timer is 100 ms (the
/// shortest mesh.status-interval), so the tick may be at most that. A node that steers the system clock ends each
/// slew on a timer, and a late end overshoots by the lateness times the slew rate: there the tick stays at 10 ms.
/// </summary>
public static class SchedulerTick
{
    public const string Key = "akka.scheduler.tick-duration";
    public static readonly TimeSpan Min = TimeSpan.FromMilliseconds(1);
    public static readonly TimeSpan Max = TimeSpan.FromMilliseconds(100);
    /// <summary>The tick while the node steers the system clock (Akka's own default).</summary>
    public static readonly TimeSpan SystemClock = TimeSpan.FromMilliseconds(10);

    /// <summary>The tick <paramref name="full"/> asks for, validated (a <see cref="TimeMeshConfigException"/> names the key).</summary>
    public static TimeSpan Read(Akka.Configuration.Config full) => new ConfigReader(full).Duration(Key, Min, Max);

    /// <summary><paramref name="full"/> with its tick validated, and at most 10 ms when the node steers the system clock.</summary>
    public static Akka.Configuration.Config Apply(Akka.Configuration.Config full, ClockMode clock)
    {
        var tick = Read(full);
        if (clock == ClockMode.System && tick > SystemClock)
            return ConfigurationFactory.ParseString($"{Key} = {SystemClock.TotalMilliseconds}ms").WithFallback(full);
        return full;
    }
}
