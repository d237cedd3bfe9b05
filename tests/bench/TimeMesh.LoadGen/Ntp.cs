using System.Buffers.Binary;

namespace TimeMesh.LoadGen;

/// <summary>The two NTP packet shapes the load generator needs.</summary>
internal static class Ntp
{
    public const int PacketBytes = 48;

    /// <summary>A 48-byte NTPv4 client request (LI 0, VN 4, mode 3) whose transmit timestamp is <paramref name="tag"/>.</summary>
    public static void WriteRequest(Span<byte> packet, ulong tag)
    {
        packet[..PacketBytes].Clear();
        packet[0] = (0 << 6) | (4 << 3) | 3;
        packet[2] = 6;            // poll 2^6 s, like a client at minpoll
        packet[3] = 0xEC;         // precision 2^-20 s
        BinaryPrimitives.WriteUInt64BigEndian(packet[40..], tag);
    }

    /// <summary>The reply's origin timestamp (our request's transmit field), or 0 when the packet is too short.</summary>
    public static ulong Origin(ReadOnlySpan<byte> reply) =>
        reply.Length >= PacketBytes ? BinaryPrimitives.ReadUInt64BigEndian(reply[24..]) : 0;

    /// <summary>A valid server reply: 48 bytes, mode 4, leap != 3 (unsynchronised), stratum 1–15.</summary>
    public static bool IsValidReply(ReadOnlySpan<byte> reply) => IsValidReply(reply, PacketBytes, null, false);

    /// <summary>
    /// A valid reply of <paramref name="length"/> bytes; with a key, its MAC names the key (and, when
    /// <paramref name="verifyMac"/>, its digest verifies).
    /// </summary>
    public static bool IsValidReply(ReadOnlySpan<byte> reply, int length, TimeMesh.Core.Auth.SymmetricKey? key, bool verifyMac)
    {
        if (reply.Length != length)
            return false;
        if (key is not null)
        {
            if (BinaryPrimitives.ReadUInt32BigEndian(reply[PacketBytes..]) != key.Id)
                return false;
            var trailer = new TimeMesh.Core.Protocol.NtpTrailer(0, 0, PacketBytes, length - PacketBytes);
            if (verifyMac && TimeMesh.Core.Auth.NtpMac.Verify(reply, trailer, key) != TimeMesh.Core.Auth.MacCheck.Valid)
                return false;
        }
        int leap = reply[0] >> 6;
        int mode = reply[0] & 7;
        int stratum = reply[1];
        return mode == 4 && leap != 3 && stratum is >= 1 and <= 15;
    }

    /// <summary>A short description of a reply for diagnostics: "48 bytes, mode 4, leap 3, stratum 0, refid INIT".</summary>
    public static string Describe(ReadOnlySpan<byte> reply)
    {
        if (reply.Length < PacketBytes)
            return $"{reply.Length} bytes";
        Span<char> refid = stackalloc char[4];
        for (int i = 0; i < 4; i++)
            refid[i] = reply[12 + i] is >= 0x20 and < 0x7F ? (char)reply[12 + i] : '.';
        return $"{reply.Length} bytes, mode {reply[0] & 7}, leap {reply[0] >> 6}, stratum {reply[1]}, refid {refid}";
    }
}
