using System.Net;
using TimeMesh.Net;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Ntp;

/// <summary>Binds the NTP sockets for the configured listen addresses: one per loop.</summary>
public static class NtpSockets
{
    /// <param name="hardware">Ask for the NIC's hardware stamps (an interface of timemesh.hwtimestamp stamps in hardware).</param>
    public static UdpSocketOptions Options(NtpServerSettings settings, bool hardware = false) => new()
    {
        HardwareTimestamps = hardware,
        ReusePort = settings.LoopsPerSocket > 1,
        ReceiveBufferBytes = settings.ReceiveBufferBytes,
        KernelTimestamps = settings.KernelTimestamps,
        // The interleaved mode needs each reply's real transmit time, read back from the error queue by the loop.
        TransmitTimestamps = settings.Interleaved,
        // Block without a timeout: an idle server does not wake up at all. Stopping disposes the socket, whose
        // shutdown(2) wakes the blocked recvmmsg at once (UdpServerLoop.Stop is followed by the dispose). Transmit
        // timestamps still come in time: the loop reads them before it handles each batch.
        ReceiveTimeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>
    /// Binds every listen address (loops-per-socket times, with SO_REUSEPORT when more than one).
    /// A port of 0 is resolved on the first bind so that its siblings share the same port. A port another socket
    /// holds is refused even with SO_REUSEPORT (see the plain bind before each group).
    /// Throws a <see cref="System.Net.Sockets.SocketException"/> naming the address when one cannot be bound.
    /// </summary>
    public static IReadOnlyList<BatchedUdpSocket> Bind(IReadOnlyList<IPEndPoint> listen, NtpServerSettings settings, bool hardware = false)
    {
        var options = Options(settings, hardware);
        var sockets = new List<BatchedUdpSocket>();
        try
        {
            foreach (var endpoint in listen)
            {
                // SO_REUSEPORT would let these sockets join another process's group on the same port and share
                // its clients; a plain bind first fails when anything at all holds the port.
                if (options.ReusePort && endpoint.Port != 0)
                    BatchedUdpSocket.Bind(endpoint, new UdpSocketOptions()).Dispose();
                var first = BatchedUdpSocket.Bind(endpoint, options);
                sockets.Add(first);
                for (int i = 1; i < settings.LoopsPerSocket; i++)
                    sockets.Add(BatchedUdpSocket.Bind(first.LocalEndPoint, options));
            }
            return sockets;
        }
        catch
        {
            foreach (var s in sockets) s.Dispose();
            throw;
        }
    }
}
