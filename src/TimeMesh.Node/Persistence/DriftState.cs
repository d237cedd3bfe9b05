using TimeMesh.Core.Protocol;

namespace TimeMesh.Node.Persistence;

/// <summary>
/// What a node keeps across restarts, like chrony's driftfile plus the last reference state: the raw
/// clock's frequency correction and how far it is trusted, the last offset, the stratum, when the node
/// was last synchronised and the leap indicator it then had. The same record is the journal's event and
/// the snapshot; <see cref="DriftStateSerializer"/> writes it.
/// </summary>
/// <param name="FrequencyPpm">The raw clock's correction frequency, ppm, as <c>ClockDiscipline.FrequencyPpm</c> has it.</param>
/// <param name="SkewPpm">The estimated error of that frequency, ppm (<c>ClockDiscipline.SkewPpm</c>).</param>
/// <param name="LastOffsetSeconds">The last measured offset of the served clock, seconds.</param>
/// <param name="Stratum">The stratum the node served at, 0–16.</param>
/// <param name="LastSyncUnixNs">When the node was last synchronised: Unix nanoseconds of the served clock.</param>
/// <param name="Leap">The leap indicator the node served then.</param>
public sealed record DriftState(
    double FrequencyPpm,
    double SkewPpm,
    double LastOffsetSeconds,
    byte Stratum,
    long LastSyncUnixNs,
    LeapIndicator Leap);
