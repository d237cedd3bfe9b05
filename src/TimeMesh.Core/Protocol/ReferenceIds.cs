using System.Buffers.Binary;
using System.Text;

namespace TimeMesh.Core.Protocol;

/// <summary>Reference identifiers and kiss codes (RFC 5905 section 7.3 and 7.4).</summary>
public static class ReferenceIds
{
    /// <summary>chrony's id for its local reference, 127.127.1.1 (served with <c>local stratum N</c>).</summary>
    public const uint Local = 0x7F7F0101;
    /// <summary>The id a server with no reference sends (with leap 3 and stratum 16).</summary>
    public const uint Unsynchronised = 0;

    /// <summary>
    /// Kiss code RATE: the client asks too often. This server sends it to rate-limited clients when <c>kod</c> is on;
    /// the source poller answers one by polling less often.
    /// </summary>
    public static readonly uint KissRate = FromAscii("RATE");
    /// <summary>
    /// Kiss code DENY: the server refuses this client. The source poller stops polling such a source; this server
    /// never sends it, as it gives refused clients no answer at all.
    /// </summary>
    public static readonly uint KissDeny = FromAscii("DENY");
    /// <summary>Kiss code RSTR: access restricted; the source poller treats it as <see cref="KissDeny"/>.</summary>
    public static readonly uint KissRestrict = FromAscii("RSTR");
    /// <summary>
    /// Kiss code NTSN (RFC 8915): the server could not use the request's NTS cookie, so the client needs fresh
    /// cookies from NTS-KE. This server sends it for a cookie it does not recognise.
    /// </summary>
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

    /// <summary>
    /// Packs a code of up to four ASCII characters into a reference id, first character in the top byte: "GPS"
    /// becomes 0x47505300. Shorter codes are padded with zero bytes, longer ones cut to four characters, and
    /// characters outside ASCII become '?'.
    /// </summary>
    public static uint FromAscii(string code)
    {
        Span<byte> bytes = stackalloc byte[4];
        bytes.Clear();
        Encoding.ASCII.GetBytes(code.AsSpan(0, Math.Min(4, code.Length)), bytes);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    /// <summary>
    /// Reads a reference id as four ASCII characters with trailing zero bytes removed ("RATE", "GPS"). Meant for
    /// kiss codes and stratum 1 ids; for an address-based id the result is meaningless.
    /// </summary>
    public static string ToAscii(uint referenceId)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, referenceId);
        return Encoding.ASCII.GetString(bytes).TrimEnd('\0');
    }
}
