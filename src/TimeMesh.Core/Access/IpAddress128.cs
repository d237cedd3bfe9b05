using System.Net;
using System.Net.Sockets;

namespace TimeMesh.Core.Access;

/// <summary>
/// An IPv4 or IPv6 address as a 128-bit value (two big-endian halves); IPv4 is held IPv4-mapped
/// (::ffff:a.b.c.d), so one comparison serves both families. A value type: the hot path allocates none.
/// </summary>
public readonly record struct IpAddress128(ulong High, ulong Low)
{
    private const ulong MappedLowPrefix = 0x0000_FFFF_0000_0000;

    public bool IsIPv4Mapped => High == 0 && (Low & 0xFFFF_FFFF_0000_0000) == MappedLowPrefix;

    public static IpAddress128 FromIPv4(uint address) => new(0, MappedLowPrefix | address);

    public static IpAddress128 FromIPAddress(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return FromIPv4(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes));
        }
        address.TryWriteBytes(bytes, out _);
        return new IpAddress128(
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
    }

    public IPAddress ToIPAddress()
    {
        if (IsIPv4Mapped) return new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)Low));
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, High);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], Low);
        return new IPAddress(bytes);
    }

    public override string ToString() => ToIPAddress().ToString();
}
