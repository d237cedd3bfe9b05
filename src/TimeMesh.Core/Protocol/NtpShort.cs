using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>The NTP short format: unsigned 16.16 fixed-point seconds (root delay, root dispersion).</summary>
/// <param name="Value">The raw field: whole seconds in the high 16 bits, the fraction in units of 2^-16 s (about 15 µs) below.</param>
public readonly record struct NtpShort(uint Value)
{
    /// <summary>Zero seconds; also what <see cref="FromSeconds"/> gives for a negative or NaN input.</summary>
    public static readonly NtpShort Zero = new(0);
    /// <summary>The largest value, just under 65536 s; larger inputs to <see cref="FromSeconds"/> saturate to it.</summary>
    public static readonly NtpShort MaxValue = new(uint.MaxValue);

    /// <summary>The value in seconds (exact: every 16.16 value fits a double).</summary>
    public double Seconds => Value / 65536.0;

    /// <summary>Rounds up (a bound must never shrink when encoded) and saturates at the format's limits.</summary>
    public static NtpShort FromSeconds(double seconds)
    {
        if (double.IsNaN(seconds) || seconds <= 0) return Zero;
        double scaled = Math.Ceiling(seconds * 65536.0);
        return scaled >= uint.MaxValue ? MaxValue : new NtpShort((uint)scaled);
    }

    /// <summary>Reads the 4-byte big-endian field at the start of <paramref name="source"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="source"/> is shorter than 4 bytes.</exception>
    public static NtpShort Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    /// <summary>Writes the value as 4 big-endian bytes at the start of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="destination"/> is shorter than 4 bytes.</exception>
    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    /// <summary>Seconds with up to six decimals and an "s", e.g. "0.015625s".</summary>
    public override string ToString() => $"{Seconds:0.######}s";
}
