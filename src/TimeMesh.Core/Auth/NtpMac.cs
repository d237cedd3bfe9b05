using System.Buffers.Binary;
using System.Security.Cryptography;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Auth;

/// <summary>What checking a packet's MAC found.</summary>
public enum MacCheck : byte
{
    /// <summary>The key id is known and the digest matches over the whole packet before the MAC.</summary>
    Valid,
    /// <summary>The key id is not in the keyring (or not the key this source uses).</summary>
    UnknownKey,
    /// <summary>The digest is wrong, or has the wrong length for the key and the NTP version.</summary>
    BadMac,
}

/// <summary>
/// The RFC 5905 MAC trailer, with chrony 4.3's lengths: a 4-byte key id, then the digest of everything
/// before the MAC. NTPv4 digests are truncated to 20 bytes, so that RFC 7822 parsing of extension fields
/// stays unambiguous (chrony's NTP_MAX_V4_MAC_LENGTH); other versions carry up to 64 bytes. A received
/// MAC must have exactly the length chrony would send: min(digest, 20) for NTPv4 MACs of at most 24
/// bytes, min(digest, 64) otherwise. Digests are compared in constant time.
/// </summary>
public static class NtpMac
{
    /// <summary>Bytes of the key id that starts the MAC (a 32-bit big-endian integer).</summary>
    public const int KeyIdLength = 4;
    /// <summary>Shortest digest a received MAC may carry (MD5 and CMAC length); shorter trailers are <see cref="MacCheck.BadMac"/>.</summary>
    public const int MinDigestLength = 16;
    /// <summary>Digest bytes sent in an NTPv4 MAC, longer digests being truncated (chrony's NTP_MAX_V4_MAC_LENGTH minus the key id).</summary>
    public const int MaxV4DigestLength = 20;
    /// <summary>Most digest bytes a MAC carries in other NTP versions: a whole SHA-512 or SHA3-512 digest.</summary>
    public const int MaxDigestLength = 64;

    /// <summary>How many digest bytes go on the wire for this key in a packet of this version.</summary>
    public static int WireDigestLength(SymmetricKey key, int version) =>
        Math.Min(key.DigestLength, version == 4 ? MaxV4DigestLength : MaxDigestLength);

    /// <summary>The MAC's length (key id plus digest) for this key and version.</summary>
    public static int TrailerLength(SymmetricKey key, int version) => KeyIdLength + WireDigestLength(key, version);

    /// <summary>
    /// Appends the MAC of <c>packet[..length]</c> under <paramref name="key"/> and returns the packet's new
    /// length. <paramref name="packet"/> must have room for <see cref="TrailerLength"/> more bytes.
    /// </summary>
    public static int Append(Span<byte> packet, int length, SymmetricKey key, int version)
    {
        int digestLength = WireDigestLength(key, version);
        if (packet.Length < length + KeyIdLength + digestLength)
            throw new ArgumentException($"no room for a {KeyIdLength + digestLength}-byte MAC after {length} bytes", nameof(packet));
        Span<byte> digest = stackalloc byte[MaxDigestLength];
        key.ComputeDigest(packet[..length], digest);
        BinaryPrimitives.WriteUInt32BigEndian(packet[length..], key.Id);
        digest[..digestLength].CopyTo(packet[(length + KeyIdLength)..]);
        return length + KeyIdLength + digestLength;
    }

    /// <summary>Checks the MAC of a packet parsed by <see cref="NtpPacket.Validate"/> against any key of <paramref name="keys"/>.</summary>
    public static MacCheck Verify(ReadOnlySpan<byte> datagram, NtpTrailer trailer, KeyRing keys, out SymmetricKey? key)
    {
        key = null;
        if (!trailer.HasMac) return MacCheck.BadMac;
        uint id = BinaryPrimitives.ReadUInt32BigEndian(datagram[trailer.MacOffset..]);
        if (!keys.TryGet(id, out var found)) return MacCheck.UnknownKey;
        var check = Verify(datagram, trailer, found);
        if (check == MacCheck.Valid) key = found;
        return check;
    }

    /// <summary>Checks that a packet carries a valid MAC under exactly <paramref name="key"/>.</summary>
    public static MacCheck Verify(ReadOnlySpan<byte> datagram, NtpTrailer trailer, SymmetricKey key)
    {
        if (!trailer.HasMac || trailer.MacLength < KeyIdLength + MinDigestLength) return MacCheck.BadMac;
        if (BinaryPrimitives.ReadUInt32BigEndian(datagram[trailer.MacOffset..]) != key.Id) return MacCheck.UnknownKey;
        int version = NtpHeader.VersionOf(datagram[0]);
        int received = trailer.MacLength - KeyIdLength;
        int truncation = version == 4 && trailer.MacLength <= KeyIdLength + MaxV4DigestLength ? MaxV4DigestLength : MaxDigestLength;
        if (received != Math.Min(key.DigestLength, truncation)) return MacCheck.BadMac;
        Span<byte> digest = stackalloc byte[MaxDigestLength];
        key.ComputeDigest(datagram[..trailer.MacOffset], digest);
        return CryptographicOperations.FixedTimeEquals(digest[..received], datagram.Slice(trailer.MacOffset + KeyIdLength, received))
            ? MacCheck.Valid
            : MacCheck.BadMac;
    }
}
