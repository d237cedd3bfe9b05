using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Node.Tests.Support;

/// <summary>A plain NTP client for tests: one request, one reply (or none).</summary>
public static class NtpProbe
{
    public static byte[] ClientRequest(ulong transmit, int version = 4, NtpMode mode = NtpMode.Client, int length = 48)
    {
        var bytes = new byte[length];
        bytes[0] = NtpHeader.PackFirstByte(0, version, mode);
        bytes[NtpHeader.PollOffset] = 6;
        if (length >= 48) BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(NtpHeader.TransmitTimeOffset), transmit);
        return bytes;
    }

    /// <summary>Sends one request and returns the reply, or null when none came within the timeout.</summary>
    public static byte[]? Ask(IPEndPoint server, byte[] request, TimeSpan timeout, IPAddress? bindTo = null)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(bindTo ?? (server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback), 0));
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        socket.SendTo(request, server);
        var buffer = new byte[2048];
        try
        {
            int n = socket.Receive(buffer);
            return buffer[..n];
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            return null;
        }
    }

    /// <summary>Asks until a valid reply comes or the deadline passes; returns the reply header.</summary>
    public static NtpHeader? AskUntilAnswered(IPEndPoint server, TimeSpan deadline)
    {
        var until = DateTime.UtcNow + deadline;
        ulong id = 1;
        while (DateTime.UtcNow < until)
        {
            var reply = Ask(server, ClientRequest(id), TimeSpan.FromMilliseconds(200));
            if (reply is not null) return NtpPacket.Parse(reply).Header;
            id++;
        }
        return null;
    }

    /// <summary>
    /// One client exchange timed with this machine's clock: the server's offset from it in seconds (RFC 5905's
    /// ((T2 − T1) + (T3 − T4)) / 2) and the reply's header; null when no reply came.
    /// </summary>
    public static (double OffsetSeconds, NtpHeader Header, double DelaySeconds)? MeasureOffset(IPEndPoint server, TimeSpan timeout, IPAddress? bindTo = null)
    {
        long t1 = DateTime.UtcNow.Ticks;
        var t1Stamp = NtpTimestamp.FromDateTime(new DateTime(t1, DateTimeKind.Utc));
        var reply = Ask(server, ClientRequest(t1Stamp.Value), timeout, bindTo);
        long t4 = DateTime.UtcNow.Ticks;
        if (reply is null) return null;
        var header = NtpPacket.Parse(reply).Header;
        if (header.OriginTime.Value != t1Stamp.Value) return null;
        var t4Stamp = NtpTimestamp.FromDateTime(new DateTime(t4, DateTimeKind.Utc));
        double offset = (NtpTimestamp.DifferenceSeconds(header.ReceiveTime, t1Stamp) + NtpTimestamp.DifferenceSeconds(header.TransmitTime, t4Stamp)) / 2;
        double delay = NtpTimestamp.DifferenceSeconds(t4Stamp, t1Stamp) - NtpTimestamp.DifferenceSeconds(header.TransmitTime, header.ReceiveTime);
        return (offset, header, delay);
    }

    /// <summary>
    /// The exchange with the smallest round trip of <paramref name="exchanges"/>: on a loaded machine a single
    /// exchange's offset carries up to half its round trip of scheduling noise; the quickest one carries least.
    /// </summary>
    public static (double OffsetSeconds, NtpHeader Header, double DelaySeconds)? MeasureBestOffset(IPEndPoint server, int exchanges, TimeSpan timeout)
    {
        (double OffsetSeconds, NtpHeader Header, double DelaySeconds)? best = null;
        for (int i = 0; i < exchanges; i++)
        {
            var r = MeasureOffset(server, timeout);
            if (r is not null && (best is null || r.Value.DelaySeconds < best.Value.DelaySeconds)) best = r;
        }
        return best;
    }
}
