namespace TimeMesh.Net;

/// <summary>Options applied by <see cref="BatchedUdpSocket.Bind"/> before and after binding.</summary>
public sealed record UdpSocketOptions
{
    /// <summary>SO_REUSEPORT before bind, so several sockets (threads or processes) can share one port.</summary>
    public bool ReusePort { get; init; }

    /// <summary>
    /// SO_RCVBUF in bytes. When larger than net.core.rmem_max, SO_RCVBUFFORCE is tried first (needs
    /// CAP_NET_ADMIN) and SO_RCVBUF is the silent fallback (the kernel then caps it). Zero or negative
    /// leaves the kernel default. The kernel doubles the value for its bookkeeping; see
    /// <see cref="BatchedUdpSocket.EffectiveReceiveBufferBytes"/>.
    /// </summary>
    public int ReceiveBufferBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>SO_TIMESTAMPNS: every received datagram carries its CLOCK_REALTIME arrival time.</summary>
    public bool KernelTimestamps { get; init; } = true;

    /// <summary>
    /// SO_TIMESTAMPING with software transmit timestamps (one per datagram, numbered, without the payload), read
    /// back with <see cref="BatchedUdpSocket.ReadTransmitTimestampUnixNanoseconds"/>. Off by default: a server
    /// socket that never reads its error queue would only fill it.
    /// </summary>
    public bool TransmitTimestamps { get; init; }

    /// <summary>
    /// SO_TIMESTAMPING with the NIC's hardware stamps (chrony's hwtimestamp): raw hardware receive stamps with the
    /// interface each datagram came in on, and hardware transmit stamps with <see cref="TransmitTimestamps"/>. Only
    /// interfaces whose hardware stamping was switched on (<see cref="HardwareTimestamping.Enable"/>) make them; others
    /// keep giving the software stamps. Off by default.
    /// </summary>
    public bool HardwareTimestamps { get; init; }

    /// <summary>
    /// SO_RCVTIMEO: a blocked <see cref="BatchedUdpSocket.Receive"/> returns 0 after this so loops can check a
    /// stop flag. Zero, negative or <see cref="Timeout.InfiniteTimeSpan"/> blocks without limit (Dispose
    /// still wakes a blocked receiver).
    /// </summary>
    public TimeSpan ReceiveTimeout { get; init; } = TimeSpan.FromMilliseconds(250);
}
