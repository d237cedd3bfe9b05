using System.Buffers.Binary;
using System.Text;

namespace TimeMesh.Core.Protocol;

/// <summary>Reference identifiers and kiss codes (RFC 5905 section 7.3 and 7.4).</summary>
public static class ReferenceIds
{
    /// <summary>chrony's id for its local reference, 127.127.1.1 (served with <c>local stratum N</c>).</summary>
    public const uint Local = 0x7F7F0101;
    public const uint Unsynchronised = 0;

    public static readonly uint KissRate = FromAscii("RATE");
    public static readonly uint KissDeny = FromAscii("DENY");
    public static readonly uint KissRestrict = FromAscii("RSTR");
    public static readonly uint KissNtsNak = FromAscii("NTSN");

    /// <summary>
    /// The reference id a server reports when synchronised to <paramref name="address"/>: an IPv4 address
    /// itself, or for IPv6 the first four bytes of the MD5 digest of the address (RFC 5905).
    /// </summary>
    public static uint FromAddress(System.Net.IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out int written);
        if (written == 4) return BinaryPrimitives.ReadUInt32BigEndian(bytes);
        Span<byte> digest = stackalloc byte[16];
        System.Security.Cryptography.MD5.HashData(bytes[..written], digest);
        return BinaryPrimitives.ReadUInt32BigEndian(digest);
    }

    public static uint FromAscii(string code)
    {
        Span<byte> bytes = stackalloc byte[4];
        bytes.Clear();
        Encoding.ASCII.GetBytes(code.AsSpan(0, Math.Min(4, code.Length)), bytes);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    public static string ToAscii(uint referenceId)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, referenceId);
        return Encoding.ASCII.GetString(bytes).TrimEnd('\0');
    }
}
