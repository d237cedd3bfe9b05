namespace TimeMesh.Net;

/// <summary>
/// When a datagram left, as the kernel reported it (SCM_TSTAMP_SND): <paramref name="Id"/> is the datagram's number
/// among the timestamped datagrams sent on its socket (0 for the first), <paramref name="UnixNanoseconds"/> the
/// CLOCK_REALTIME time it was handed to the network device.
/// </summary>
public readonly record struct TransmitTimestamp(uint Id, long UnixNanoseconds);
