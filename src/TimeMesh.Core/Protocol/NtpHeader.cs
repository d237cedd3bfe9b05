using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>The fixed 48-byte NTP header (RFC 5905 figure 8), as it is on the wire.</summary>
/// <param name="Leap">The LI field: a pending leap second, or <see cref="LeapIndicator.Unsynchronised"/>.</param>
/// <param name="Version">The version number, 1-4 in a packet that parses; a reply repeats its request's.</param>
/// <param name="Mode">The association mode: <see cref="NtpMode.Client"/> in a request, <see cref="NtpMode.Server"/> in a reply.</param>
/// <param name="Stratum">
/// 0 for a kiss-o'-death (the reference id then holds the kiss code), 1 for a primary server, 2-15 for a server
/// synchronised to one of the next lower stratum, 16 when unsynchronised.
/// </param>
/// <param name="PollLog2">The poll interval, log2 seconds (signed, so 6 means 64 s).</param>
/// <param name="PrecisionLog2">The sender's clock precision, log2 seconds (-20 is about one microsecond).</param>
/// <param name="RootDelay">Total round-trip delay to the primary reference, in NTP short format.</param>
/// <param name="RootDispersion">Total dispersion (error bound) relative to the primary reference, in NTP short format.</param>
/// <param name="ReferenceId">The upstream's identity or a kiss code; see <see cref="ReferenceIds"/>.</param>
/// <param name="ReferenceTime">When the sender's clock was last set or corrected; zero if never.</param>
/// <param name="OriginTime">
/// In a reply, the request's transmit time (T1) that it answers; an interleaved reply holds the client's receive
/// time of the previous reply instead. Zero in a client's first request.
/// </param>
/// <param name="ReceiveTime">When the server received the request (T2).</param>
/// <param name="TransmitTime">When the packet left its sender (T3 in a reply).</param>
public readonly record struct NtpHeader(
    LeapIndicator Leap,
    byte Version,
    NtpMode Mode,
    byte Stratum,
    sbyte PollLog2,
    sbyte PrecisionLog2,
    NtpShort RootDelay,
    NtpShort RootDispersion,
    uint ReferenceId,
    NtpTimestamp ReferenceTime,
    NtpTimestamp OriginTime,
    NtpTimestamp ReceiveTime,
    NtpTimestamp TransmitTime)
{
    /// <summary>Size of the header in bytes, and so the size of the smallest valid packet.</summary>
    public const int Length = 48;

    // Byte offsets of the fields.
    /// <summary>Offset of the one-byte stratum (byte 0 packs leap, version and mode).</summary>
    public const int StratumOffset = 1;
    /// <summary>Offset of the signed one-byte poll interval, log2 seconds.</summary>
    public const int PollOffset = 2;
    /// <summary>Offset of the signed one-byte precision, log2 seconds.</summary>
    public const int PrecisionOffset = 3;
    /// <summary>Offset of the 4-byte root delay (NTP short format).</summary>
    public const int RootDelayOffset = 4;
    /// <summary>Offset of the 4-byte root dispersion (NTP short format).</summary>
    public const int RootDispersionOffset = 8;
    /// <summary>Offset of the 4-byte reference id (or kiss code).</summary>
    public const int ReferenceIdOffset = 12;
    /// <summary>Offset of the 8-byte reference timestamp.</summary>
    public const int ReferenceTimeOffset = 16;
    /// <summary>Offset of the 8-byte origin timestamp (T1 echoed back in a reply).</summary>
    public const int OriginTimeOffset = 24;
    /// <summary>Offset of the 8-byte receive timestamp (T2).</summary>
    public const int ReceiveTimeOffset = 32;
    /// <summary>Offset of the 8-byte transmit timestamp (T3 in a reply); the last field of the header.</summary>
    public const int TransmitTimeOffset = 40;

    /// <summary>
    /// Builds byte 0: leap in the top two bits, version in the next three, mode in the low three. Version and
    /// mode are masked to three bits, so out-of-range values are cut rather than rejected.
    /// </summary>
    public static byte PackFirstByte(LeapIndicator leap, int version, NtpMode mode) =>
        (byte)(((int)leap << 6) | ((version & 0x7) << 3) | ((int)mode & 0x7));

    /// <summary>The leap indicator in byte 0 of a packet (its top two bits).</summary>
    public static LeapIndicator LeapOf(byte firstByte) => (LeapIndicator)(firstByte >> 6);
    /// <summary>The version number in byte 0 of a packet, 0-7 and not checked here.</summary>
    public static int VersionOf(byte firstByte) => (firstByte >> 3) & 0x7;
    /// <summary>The mode in byte 0 of a packet (its low three bits).</summary>
    public static NtpMode ModeOf(byte firstByte) => (NtpMode)(firstByte & 0x7);

    /// <summary>Reads the header fields; the caller has checked that at least 48 bytes are there.</summary>
    public static NtpHeader Read(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < Length) throw new NtpParseException(NtpParseError.TooShort, packet.Length);
        byte first = packet[0];
        return new NtpHeader(
            LeapOf(first),
            (byte)VersionOf(first),
            ModeOf(first),
            packet[StratumOffset],
            (sbyte)packet[PollOffset],
            (sbyte)packet[PrecisionOffset],
            NtpShort.Read(packet[RootDelayOffset..]),
            NtpShort.Read(packet[RootDispersionOffset..]),
            BinaryPrimitives.ReadUInt32BigEndian(packet[ReferenceIdOffset..]),
            NtpTimestamp.Read(packet[ReferenceTimeOffset..]),
            NtpTimestamp.Read(packet[OriginTimeOffset..]),
            NtpTimestamp.Read(packet[ReceiveTimeOffset..]),
            NtpTimestamp.Read(packet[TransmitTimeOffset..]));
    }

    /// <summary>
    /// Writes the header in network byte order into the first 48 bytes of <paramref name="destination"/>;
    /// anything after them is left as it was.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 48 bytes.</exception>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Length) throw new ArgumentException("an NTP header needs 48 bytes", nameof(destination));
        destination[0] = PackFirstByte(Leap, Version, Mode);
        destination[StratumOffset] = Stratum;
        destination[PollOffset] = (byte)PollLog2;
        destination[PrecisionOffset] = (byte)PrecisionLog2;
        RootDelay.Write(destination[RootDelayOffset..]);
        RootDispersion.Write(destination[RootDispersionOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ReferenceIdOffset..], ReferenceId);
        ReferenceTime.Write(destination[ReferenceTimeOffset..]);
        OriginTime.Write(destination[OriginTimeOffset..]);
        ReceiveTime.Write(destination[ReceiveTimeOffset..]);
        TransmitTime.Write(destination[TransmitTimeOffset..]);
    }

    /// <summary>Offset θ = ((T2 − T1) + (T3 − T4)) / 2 of a reply received at <paramref name="destinationTime"/>.</summary>
    public double OffsetSeconds(NtpTimestamp destinationTime) =>
        (NtpTimestamp.DifferenceSeconds(ReceiveTime, OriginTime) + NtpTimestamp.DifferenceSeconds(TransmitTime, destinationTime)) / 2;

    /// <summary>Round-trip delay δ = (T4 − T1) − (T3 − T2) of a reply received at <paramref name="destinationTime"/>.</summary>
    public double DelaySeconds(NtpTimestamp destinationTime) =>
        NtpTimestamp.DifferenceSeconds(destinationTime, OriginTime) - NtpTimestamp.DifferenceSeconds(TransmitTime, ReceiveTime);
}
