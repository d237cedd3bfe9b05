namespace TimeMesh.Net;

/// <summary>
/// When a datagram left, as the kernel reported it (SCM_TSTAMP_SND): <paramref name="Id"/> is the datagram's number
/// among the timestamped datagrams sent on its socket (0 for the first), <paramref name="UnixNanoseconds"/> the
/// CLOCK_REALTIME time it was handed to the network device (the software stamp, 0 when the report has none), and
/// <paramref name="HardwareNanoseconds"/> the NIC's own stamp in its PTP hardware clock's time scale (0 unless the
/// socket asked for hardware stamps and the NIC made one; then the software stamp is usually absent).
/// </summary>
public readonly record struct TransmitTimestamp(uint Id, long UnixNanoseconds, long HardwareNanoseconds = 0);
