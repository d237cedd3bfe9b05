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
}
