using System.Net;
using System.Net.Sockets;

namespace TimeMesh.Core.Access;

/// <summary>
/// An IPv4 or IPv6 address as a 128-bit value (two big-endian halves); IPv4 is held IPv4-mapped
/// (::ffff:a.b.c.d), so one comparison serves both families. A value type: the hot path allocates none.
/// </summary>
/// <param name="High">The first 64 bits of the address in network order (zero for an IPv4 address).</param>
/// <param name="Low">The last 64 bits in network order; for IPv4, 0000:ffff followed by the four octets.</param>
public readonly record struct IpAddress128(ulong High, ulong Low)
{
    private const ulong MappedLowPrefix = 0x0000_FFFF_0000_0000;

    /// <summary>True when the value lies in ::ffff:0:0/96, i.e. it stands for an IPv4 address.</summary>
    public bool IsIPv4Mapped => High == 0 && (Low & 0xFFFF_FFFF_0000_0000) == MappedLowPrefix;

    /// <summary>The IPv4-mapped value of an IPv4 address.</summary>
    /// <param name="address">The address as a host-order integer, first octet in the top byte (10.0.0.1 = 0x0A000001).</param>
    public static IpAddress128 FromIPv4(uint address) => new(0, MappedLowPrefix | address);

    /// <summary>
    /// Converts a socket address; an IPv4 address and its ::ffff: mapped IPv6 form give the same value.
    /// An IPv6 scope id is dropped.
    /// </summary>
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

    /// <summary>
    /// Converts back to an <see cref="IPAddress"/>; an IPv4-mapped value comes back as a plain IPv4 address,
    /// not in its ::ffff: form.
    /// </summary>
    public IPAddress ToIPAddress()
    {
        if (IsIPv4Mapped) return new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)Low));
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, High);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], Low);
        return new IPAddress(bytes);
    }

    /// <summary>The usual text form: dotted quad for IPv4, RFC 5952 notation for IPv6.</summary>
    public override string ToString() => ToIPAddress().ToString();
}
