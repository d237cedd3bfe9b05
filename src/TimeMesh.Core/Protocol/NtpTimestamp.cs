using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>
/// The NTP 64-bit timestamp: 32 bits of seconds since 1900-01-01 and 32 bits of fraction.
/// The seconds field wraps every 2^32 s (era 0 ends 2036-02-07 06:28:16 UTC); conversions back to
/// absolute time resolve the era against a pivot, which is valid within ±68 years of it.
/// </summary>
public readonly record struct NtpTimestamp(ulong Value)
{
    /// <summary>Seconds from the NTP epoch (1900) to the Unix epoch (1970).</summary>
    public const long UnixEpochOffsetSeconds = 2_208_988_800;

    private const long NanosecondsPerSecond = 1_000_000_000;
    private const double FractionPerSecond = 4_294_967_296.0; // 2^32

    public static readonly NtpTimestamp Zero = new(0);

    public uint Seconds => (uint)(Value >> 32);
    public uint Fraction => (uint)Value;
    public bool IsZero => Value == 0;

    public static NtpTimestamp FromUnixNanoseconds(long unixNanoseconds)
    {
        long seconds = Math.DivRem(unixNanoseconds, NanosecondsPerSecond, out long nanoseconds);
        if (nanoseconds < 0)
        {
            nanoseconds += NanosecondsPerSecond;
            seconds--;
        }
        // Truncation to 32 bits is the era rule: era n maps onto the same 32-bit seconds field.
        uint ntpSeconds = unchecked((uint)(seconds + UnixEpochOffsetSeconds));
        // nanoseconds < 2^30, so the shift cannot overflow 64 bits.
        uint fraction = (uint)(((ulong)nanoseconds << 32) / NanosecondsPerSecond);
        return new NtpTimestamp(((ulong)ntpSeconds << 32) | fraction);
    }

    public static NtpTimestamp FromDateTime(DateTime utc) =>
        FromUnixNanoseconds((utc.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks) * 100);

    /// <summary>
    /// The absolute time this timestamp stands for, taking the era whose result lies within
    /// ±2^31 seconds of <paramref name="pivotUnixNanoseconds"/> (RFC 5905's era rule).
    /// </summary>
    public long ToUnixNanoseconds(long pivotUnixNanoseconds)
    {
        NtpTimestamp pivot = FromUnixNanoseconds(pivotUnixNanoseconds);
        // Signed 64-bit difference in 32.32 format: exact within ±68 years.
        long delta = unchecked((long)(Value - pivot.Value));
        long deltaSeconds = delta >> 32;
        long deltaNanoseconds = (long)(((ulong)delta & 0xFFFF_FFFF) * NanosecondsPerSecond >> 32);
        return pivotUnixNanoseconds + deltaSeconds * NanosecondsPerSecond + deltaNanoseconds;
    }

    public DateTime ToDateTime(DateTime pivotUtc)
    {
        long pivotNs = (pivotUtc.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks) * 100;
        return DateTime.UnixEpoch.AddTicks(ToUnixNanoseconds(pivotNs) / 100);
    }

    /// <summary>a − b in seconds; correct across an era boundary for differences under 68 years.</summary>
    public static double DifferenceSeconds(NtpTimestamp a, NtpTimestamp b) =>
        unchecked((long)(a.Value - b.Value)) / FractionPerSecond;

    public static NtpTimestamp Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt64BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, Value);

    public override string ToString() => $"{Seconds:X8}.{Fraction:X8}";
}
