using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>The fixed 48-byte NTP header (RFC 5905 figure 8), as it is on the wire.</summary>
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
    public const int Length = 48;

    // Byte offsets of the fields.
    public const int StratumOffset = 1;
    public const int PollOffset = 2;
    public const int PrecisionOffset = 3;
    public const int RootDelayOffset = 4;
    public const int RootDispersionOffset = 8;
    public const int ReferenceIdOffset = 12;
    public const int ReferenceTimeOffset = 16;
    public const int OriginTimeOffset = 24;
    public const int ReceiveTimeOffset = 32;
    public const int TransmitTimeOffset = 40;

    public static byte PackFirstByte(LeapIndicator leap, int version, NtpMode mode) =>
        (byte)(((int)leap << 6) | ((version & 0x7) << 3) | ((int)mode & 0x7));

    public static LeapIndicator LeapOf(byte firstByte) => (LeapIndicator)(firstByte >> 6);
    public static int VersionOf(byte firstByte) => (firstByte >> 3) & 0x7;
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
