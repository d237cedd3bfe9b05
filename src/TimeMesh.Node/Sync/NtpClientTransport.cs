using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Akka.Actor;
using TimeMesh.Core.Sources;
using TimeMesh.Net;
using TimeMesh.Node.Clock;

namespace TimeMesh.Node.Sync;

/// <summary>
/// Sends one client request from a fresh socket on a random ephemeral port (RFC 9109, as chronyd opens a new
/// client socket per request) and waits a bounded time for the reply, taking its kernel receive timestamp. Runs
/// off the actor's thread, on a small set of long-lived exchange threads (<see cref="ExchangeThreads"/>), and
/// reports back with messages; nothing here decides anything.
/// </summary>
internal static class NtpClientTransport
{
    /// <summary>Tries at a random port before leaving the choice to the kernel (a busy range).</summary>
    private const int BindAttempts = 8;

    /// <summary>A request whose send call took longer than this gives no sample (its departure time is too uncertain).</summary>
    public const long MaxSendSpreadNs = 200_000;

    /// <summary>
    /// How long to wait for the kernel's transmit timestamp after the send call returned. Software stamps are
    /// taken while the send call runs (loopback, veth and most drivers), so this is only a bound.
    /// </summary>
    private static readonly TimeSpan TransmitTimestampWait = TimeSpan.FromMilliseconds(20);

    private static readonly SourcePortPicker Ports = CreatePicker();

    private static SourcePortPicker CreatePicker()
    {
        string? range = null;
        try { range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range"); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        var (lowest, highest) = SourcePortPicker.ParseLinuxRange(range);
        return new SourcePortPicker(lowest, highest, RandomNumberGenerator.GetInt32);
    }

    /// <summary>A socket on a random source port (RFC 9109) that none of the last requests used.</summary>
    private static BatchedUdpSocket BindRandomPort(IPAddress any, UdpSocketOptions options)
    {
        for (int attempt = 0; attempt < BindAttempts; attempt++)
        {
            try
            {
                return BatchedUdpSocket.Bind(new IPEndPoint(any, Ports.Pick()), options);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
            {
                // Taken by another socket (or reserved): try another random one.
            }
        }
        return BatchedUdpSocket.Bind(new IPEndPoint(any, 0), options);
    }

    /// <param name="key">The source's symmetric key: a datagram without a valid MAC under it does not end the wait.</param>
    /// <param name="transmitTimestamps">Ask the kernel for the request's transmit timestamp (false: the user-space reading before the send call is T1).</param>
    /// <param name="nts">An NTS source's check of this request's reply: a datagram it refuses does not end the wait (and is counted).</param>
    /// <param name="hardware">The node's hwtimestamp interfaces: when one stamps in hardware, T1 and T4 come from the NIC where it stamped them.</param>
    public static void Exchange(IActorRef replyTo, int sourceId, IPEndPoint server, byte[] request, IClock clock, TimeSpan timeout,
        Core.Auth.SymmetricKey? key = null, Core.Nts.NtsReplyFilter? nts = null, bool transmitTimestamps = true, Ntp.HardwareTimestamps? hardware = null)
    {
        if (hardware is { AnyHardware: false }) hardware = null;
        ExchangeThreads.Run(batch =>
        {
            try
            {
                var any = server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any;
                using var socket = BindRandomPort(any, new UdpSocketOptions
                {
                    ReceiveBufferBytes = 65536,
                    KernelTimestamps = true,
                    TransmitTimestamps = transmitTimestamps,
                    HardwareTimestamps = hardware is not null,
                    ReceiveTimeout = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds, 10, 250)),
                });
                request.CopyTo(batch.Outgoing(0));
                batch.SetOutgoing(0, request.Length);
                var destination = PeerAddress.FromEndPoint(server);
                batch.SetDestination(0, destination);
                long sent = clock.ReadRawUnixNs();
                if (socket.Send(batch, 1) != 1) return;
                long afterSend = clock.ReadRawUnixNs();
                // The kernel's transmit timestamp says when the request was handed to the network device, as
                // chronyd's T1 does; the reading before the send call is later by the call's own latency.
                // With hwtimestamp the NIC's stamp of the request, where it made one, converted through its PTP clock.
                var stamp = socket.ReadTransmitTimestamp(TransmitTimestampWait);
                bool hardwareSent = false;
                long kernelSent = hardware is null || !socket.HardwareTimestampsEnabled ? stamp.UnixNanoseconds : hardware.TransmitTime(stamp, out hardwareSent);
                if (kernelSent != 0)
                {
                    replyTo.Tell(new SyncProtocol.RequestSent(sourceId, clock.RawFromOs(kernelSent), KernelTransmitStamp: true) { HardwareTransmitStamp = hardwareSent });
                }
                else
                {
                    // Without it the request left somewhere between the two readings. When the send took long (the
                    // first call compiles the send path; a preemption), that is not known well enough to measure
                    // with: such a request counts as unanswered. (Seen in the chaos suite: a master 2.5-5.5 ms off
                    // for a second after a cold start.)
                    if (afterSend - sent > MaxSendSpreadNs) return;
                    replyTo.Tell(new SyncProtocol.RequestSent(sourceId, sent, KernelTransmitStamp: false));
                }

                var deadline = DateTime.UtcNow + timeout;
                while (DateTime.UtcNow < deadline)
                {
                    int n = socket.Receive(batch);
                    long now = clock.ReadOsUnixNs();
                    for (int i = 0; i < n; i++)
                    {
                        // Only the server we asked may answer this port.
                        var source = batch.Source(i);
                        if (source.High != destination.High || source.Low != destination.Low || source.Port != destination.Port) continue;
                        // A forged unauthenticated datagram must not make us miss the genuine reply.
                        if (key is not null && !SignedBy(batch.Received(i), key)) continue;
                        if (nts is not null && !nts.Accepts(batch.Received(i))) continue;
                        long kernel = batch.KernelTimestampUnixNanoseconds(i);
                        if (hardware is not null && socket.HardwareTimestampsEnabled) kernel = hardware.ReceiveTime(batch, i, kernel);
                        replyTo.Tell(new SyncProtocol.ReplyReceived(sourceId, batch.Received(i).ToArray(), clock.RawFromOs(kernel != 0 ? kernel : now)));
                        return;
                    }
                }
            }
            catch (SocketException)
            {
                // Unreachable network, no route: the poll simply goes unanswered.
            }
            finally
            {
                if (nts is not null)
                {
                    if (nts.Refused > 0) replyTo.Tell(new SyncProtocol.ForgedReplies(sourceId, nts.Refused));
                    nts.Dispose();
                }
            }
        });
    }

    private static bool SignedBy(ReadOnlySpan<byte> datagram, Core.Auth.SymmetricKey key) =>
        Core.Protocol.NtpPacket.Validate(datagram, out var trailer) == Core.Protocol.NtpParseError.None
        && Core.Auth.NtpMac.Verify(datagram, trailer, key) == Core.Auth.MacCheck.Valid;
}
