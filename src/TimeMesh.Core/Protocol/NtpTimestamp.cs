using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>
/// The NTP 64-bit timestamp: 32 bits of seconds since 1900-01-01 and 32 bits of fraction.
/// The seconds field wraps every 2^32 s (era 0 ends 2036-02-07 06:28:16 UTC); conversions back to
/// absolute time resolve the era against a pivot, which is valid within ±68 years of it.
/// </summary>
/// <param name="Value">
/// The raw field: seconds within the era in the high 32 bits, the fraction in units of 2^-32 s (about 233 ps)
/// in the low 32 bits.
/// </param>
public readonly record struct NtpTimestamp(ulong Value)
{
    /// <summary>Seconds from the NTP epoch (1900) to the Unix epoch (1970).</summary>
    public const long UnixEpochOffsetSeconds = 2_208_988_800;

    private const long NanosecondsPerSecond = 1_000_000_000;
    private const double FractionPerSecond = 4_294_967_296.0; // 2^32

    /// <summary>
    /// The all-zero timestamp, which NTP reads as "not set" (a first request's origin, the reference time of a
    /// server that was never synchronised) rather than as 1900-01-01.
    /// </summary>
    public static readonly NtpTimestamp Zero = new(0);

    /// <summary>Whole seconds since the start of the timestamp's era (era 0 began 1900-01-01 00:00 UTC).</summary>
    public uint Seconds => (uint)(Value >> 32);
    /// <summary>The part of a second, in units of 2^-32 s.</summary>
    public uint Fraction => (uint)Value;
    /// <summary>True for <see cref="Zero"/>, the "not set" value.</summary>
    public bool IsZero => Value == 0;

    /// <summary>
    /// Converts a Unix time in nanoseconds (negative before 1970) to the NTP timestamp format. The era is dropped,
    /// as the format requires, and the fraction is truncated, never rounded up.
    /// </summary>
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

    /// <summary>
    /// Converts a <see cref="DateTime"/> (100 ns resolution). It is passed through
    /// <see cref="DateTime.ToUniversalTime"/>, so a value of kind Unspecified is taken as local time.
    /// </summary>
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

    /// <summary>
    /// The UTC <see cref="DateTime"/> this timestamp stands for, taking the era that puts it within about 68 years
    /// of <paramref name="pivotUtc"/> (normally the current time); nanoseconds are truncated to 100 ns ticks.
    /// </summary>
    public DateTime ToDateTime(DateTime pivotUtc)
    {
        long pivotNs = (pivotUtc.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks) * 100;
        return DateTime.UnixEpoch.AddTicks(ToUnixNanoseconds(pivotNs) / 100);
    }

    /// <summary>a − b in seconds; correct across an era boundary for differences under 68 years.</summary>
    public static double DifferenceSeconds(NtpTimestamp a, NtpTimestamp b) =>
        unchecked((long)(a.Value - b.Value)) / FractionPerSecond;

    /// <summary>Reads the 8-byte big-endian field at the start of <paramref name="source"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="source"/> is shorter than 8 bytes.</exception>
    public static NtpTimestamp Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt64BigEndian(source));

    /// <summary>Writes the value as 8 big-endian bytes at the start of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="destination"/> is shorter than 8 bytes.</exception>
    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, Value);

    /// <summary>The raw seconds and fraction in hexadecimal, e.g. "E9A1C2D3.80000000" (half past that second).</summary>
    public override string ToString() => $"{Seconds:X8}.{Fraction:X8}";
}
