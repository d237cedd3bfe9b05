using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using TimeMesh.Net;

namespace TimeMesh.LoadGen;

/// <summary>
/// A bare batched NTP responder (stratum 1, local clock) for calibrating the load generator: how many
/// responses per second can this machine's loopback carry when the server side costs almost nothing?
/// Runs for a bounded time and stops by itself. Not a real server: no access control, no rate limits.
/// </summary>
internal static class Responder
{
    private const long NtpEpochOffsetSeconds = 2_208_988_800L;   // 1900-01-01 to 1970-01-01

    public static int Run(Options o)
    {
        if (!IPAddress.IsLoopback(o.Target.Address))
            throw new ArgumentException($"the responder only binds loopback addresses, not {o.Target.Address}");
        using var socket = BatchedUdpSocket.Bind(o.Target, new UdpSocketOptions { ReceiveTimeout = TimeSpan.FromMilliseconds(100) });
        using var batch = new DatagramBatch(o.Batch, 512);
        Console.Error.WriteLine($"responder: {socket.LocalEndPoint} for {o.DurationSeconds} s");
        long end = Stopwatch.GetTimestamp() + (long)(o.DurationSeconds * Stopwatch.Frequency);
        long answered = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            int n = socket.Receive(batch);
            if (n == 0)
                continue;
            ulong now = ToNtp((DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100);
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<byte> request = batch.Received(i);
                if (request.Length < Ntp.PacketBytes || (request[0] & 7) != 3)
                    continue;
                Span<byte> reply = batch.Outgoing(i);
                reply[..Ntp.PacketBytes].Clear();
                reply[0] = (byte)((request[0] & 0x38) | 4);   // LI 0, client's version, mode 4
                reply[1] = 1;
                reply[2] = request[2];
                reply[3] = 0xE9;                               // precision 2^-23 s
                "LOCL"u8.CopyTo(reply[12..]);
                long rx = batch.KernelTimestampUnixNanoseconds(i);
                BinaryPrimitives.WriteUInt64BigEndian(reply[16..], now & ~0xFFFFFFFFUL);
                request.Slice(40, 8).CopyTo(reply[24..]);
                BinaryPrimitives.WriteUInt64BigEndian(reply[32..], rx != 0 ? ToNtp(rx) : now);
                BinaryPrimitives.WriteUInt64BigEndian(reply[40..], now);
                batch.SetOutgoing(i, Ntp.PacketBytes);
            }
            answered += socket.Send(batch, n);
        }
        Console.WriteLine($"{{\"responder\":true,\"answered\":{answered}}}");
        return 0;
    }

    private static ulong ToNtp(long unixNs)
    {
        long seconds = Math.DivRem(unixNs, 1_000_000_000L, out long ns);
        ulong fraction = (ulong)(((UInt128)(ulong)ns << 32) / 1_000_000_000UL);
        return ((ulong)(seconds + NtpEpochOffsetSeconds) << 32) | fraction;
    }
}
