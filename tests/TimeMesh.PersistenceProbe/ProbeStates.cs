using TimeMesh.Core.Protocol;
using TimeMesh.Node.Persistence;

namespace TimeMesh.PersistenceProbe;

/// <summary>The states the probe writes: state i is a function of i, so a reader can tell which one it found.</summary>
public static class ProbeStates
{
    public const long BaseUnixNs = 1_795_490_474_000_000_000;

    public static DriftState For(int i) => new(
        FrequencyPpm: -12.5 + i * 0.001,
        SkewPpm: 0.25 + i * 1e-6,
        LastOffsetSeconds: (i % 7 - 3) * 1e-6,
        Stratum: (byte)(1 + i % 15),
        LastSyncUnixNs: BaseUnixNs + i * 1_000_000_000L,
        Leap: (LeapIndicator)(i % 3));

    /// <summary>Which i wrote this state, or null when no i did.</summary>
    public static int? IndexOf(DriftState state)
    {
        long delta = state.LastSyncUnixNs - BaseUnixNs;
        if (delta <= 0 || delta % 1_000_000_000L != 0 || delta / 1_000_000_000L > int.MaxValue) return null;
        int i = (int)(delta / 1_000_000_000L);
        return For(i) == state ? i : null;
    }
}
