using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>The NTP short format: unsigned 16.16 fixed-point seconds (root delay, root dispersion).</summary>
public readonly record struct NtpShort(uint Value)
{
    public static readonly NtpShort Zero = new(0);
    public static readonly NtpShort MaxValue = new(uint.MaxValue);

    public double Seconds => Value / 65536.0;

    /// <summary>Rounds up (a bound must never shrink when encoded) and saturates at the format's limits.</summary>
    public static NtpShort FromSeconds(double seconds)
    {
        if (double.IsNaN(seconds) || seconds <= 0) return Zero;
        double scaled = Math.Ceiling(seconds * 65536.0);
        return scaled >= uint.MaxValue ? MaxValue : new NtpShort((uint)scaled);
    }

    public static NtpShort Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    public override string ToString() => $"{Seconds:0.######}s";
}
