using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Net.Native;

namespace TimeMesh.Net;

/// <summary>
/// An IPv4 or IPv6 peer as a value: the address as 128 bits (IPv4 as IPv4-mapped ::ffff:a.b.c.d) in two
/// big-endian halves, plus the port. IPv6 scope ids are not kept.
/// </summary>
public readonly struct PeerAddress : IEquatable<PeerAddress>
{
    private const ulong MappedPrefix = 0x0000_FFFF_0000_0000UL;

    /// <summary>Creates a peer from the two big-endian halves of the 128-bit address and a port.</summary>
    public PeerAddress(ulong high, ulong low, ushort port)
    {
        High = high;
        Low = low;
        Port = port;
    }

    /// <summary>The first 8 bytes of the address, read big-endian.</summary>
    public ulong High { get; }

    /// <summary>The last 8 bytes of the address, read big-endian.</summary>
    public ulong Low { get; }

    /// <summary>The UDP port.</summary>
    public ushort Port { get; }

    /// <summary>True for an IPv4 peer (stored as ::ffff:a.b.c.d).</summary>
    public bool IsIPv4Mapped => High == 0 && (Low & 0xFFFF_FFFF_0000_0000UL) == MappedPrefix;

    /// <summary>The IPv4 address a.b.c.d as the number (a &lt;&lt; 24 | b &lt;&lt; 16 | c &lt;&lt; 8 | d); meaningful when <see cref="IsIPv4Mapped"/>.</summary>
    public uint IPv4 => (uint)Low;

    /// <summary>An IPv4 peer from the address number (a &lt;&lt; 24 | b &lt;&lt; 16 | c &lt;&lt; 8 | d).</summary>
    public static PeerAddress FromIPv4(uint address, ushort port) => new(0, MappedPrefix | address, port);

    /// <summary>A peer from 16 address bytes in network order.</summary>
    public static PeerAddress FromIPv6Bytes(ReadOnlySpan<byte> address16, ushort port)
    {
        if (address16.Length != 16)
            throw new ArgumentException("an IPv6 address has 16 bytes", nameof(address16));
        return new PeerAddress(
            BinaryPrimitives.ReadUInt64BigEndian(address16),
            BinaryPrimitives.ReadUInt64BigEndian(address16[8..]),
            port);
    }

    /// <summary>Converts an endpoint (may allocate; not for the hot path).</summary>
    public static PeerAddress FromEndPoint(IPEndPoint ep)
    {
        ArgumentNullException.ThrowIfNull(ep);
        IPAddress address = ep.Address;
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(bytes), (ushort)ep.Port);
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            throw new ArgumentException($"not an IP endpoint: {ep}", nameof(ep));
        address.TryWriteBytes(bytes, out _);
        return FromIPv6Bytes(bytes, (ushort)ep.Port);
    }

    /// <summary>Writes the 16 address bytes in network order.</summary>
    public void WriteAddressBytes(Span<byte> destination16)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination16, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination16[8..], Low);
    }

    /// <summary>The address as an <see cref="IPAddress"/>: IPv4 for mapped peers, IPv6 otherwise (allocates).</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        WriteAddressBytes(bytes);
        return IsIPv4Mapped ? new IPAddress(bytes[12..]) : new IPAddress(bytes);
    }

    /// <summary>Converts to an endpoint: IPv4 for mapped peers, IPv6 otherwise (allocates; not for the hot path).</summary>
    public IPEndPoint ToEndPoint() => new(ToIPAddress(), Port);

    /// <summary>"127.0.0.1:123" or "[::1]:123".</summary>
    public override string ToString() => IsIPv4Mapped ? $"{ToIPAddress()}:{Port}" : $"[{ToIPAddress()}]:{Port}";

    public bool Equals(PeerAddress other) => High == other.High && Low == other.Low && Port == other.Port;

    public override bool Equals(object? obj) => obj is PeerAddress other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(High, Low, Port);

    public static bool operator ==(PeerAddress left, PeerAddress right) => left.Equals(right);

    public static bool operator !=(PeerAddress left, PeerAddress right) => !left.Equals(right);

    /// <summary>Parses a sockaddr_in / sockaddr_in6 the kernel wrote; default when the family is neither.</summary>
    internal static unsafe PeerAddress FromSockAddr(byte* sockaddr, uint length)
    {
        ushort family = *(ushort*)sockaddr;
        ushort port = BinaryPrimitives.ReverseEndianness(*(ushort*)(sockaddr + 2));
        if (family == LibC.AF_INET && length >= Layout.SockAddrIn4Size)
            return new PeerAddress(0, MappedPrefix | BinaryPrimitives.ReverseEndianness(*(uint*)(sockaddr + 4)), port);
        if (family == LibC.AF_INET6 && length >= Layout.SockAddrIn6Size)
            return new PeerAddress(
                BinaryPrimitives.ReverseEndianness(*(ulong*)(sockaddr + 8)),
                BinaryPrimitives.ReverseEndianness(*(ulong*)(sockaddr + 16)),
                port);
        return default;
    }

    /// <summary>
    /// Writes this peer as a sockaddr of the given family (at least 28 writable bytes) and returns its
    /// length, or 0 when an IPv6 peer cannot be written as an IPv4 sockaddr.
    /// </summary>
    internal unsafe uint WriteSockAddr(byte* sockaddr, int family)
    {
        if (family == LibC.AF_INET)
        {
            if (!IsIPv4Mapped)
                return 0;
            *(ushort*)sockaddr = LibC.AF_INET;
            *(ushort*)(sockaddr + 2) = BinaryPrimitives.ReverseEndianness(Port);
            *(uint*)(sockaddr + 4) = BinaryPrimitives.ReverseEndianness((uint)Low);
            *(ulong*)(sockaddr + 8) = 0;
            return Layout.SockAddrIn4Size;
        }
        *(ushort*)sockaddr = LibC.AF_INET6;
        *(ushort*)(sockaddr + 2) = BinaryPrimitives.ReverseEndianness(Port);
        *(uint*)(sockaddr + 4) = 0;     // flow info
        *(ulong*)(sockaddr + 8) = BinaryPrimitives.ReverseEndianness(High);
        *(ulong*)(sockaddr + 16) = BinaryPrimitives.ReverseEndianness(Low);
        *(uint*)(sockaddr + 24) = 0;    // scope id
        return Layout.SockAddrIn6Size;
    }
}
