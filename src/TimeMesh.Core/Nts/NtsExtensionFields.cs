using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace TimeMesh.Core.Nts;

/// <summary>The NTS extension field types of NTPv4 (RFC 8915 section 5).</summary>
public static class NtsFieldType
{
    /// <summary>Unique Identifier: random bytes the client sends and the server echoes, tying a reply to its request (and guarding against replay).</summary>
    public const ushort UniqueIdentifier = 0x0104;
    /// <summary>NTS Cookie: one cookie the client returns to the server in a request, or a fresh one inside the server's encrypted fields.</summary>
    public const ushort Cookie = 0x0204;
    /// <summary>NTS Cookie Placeholder: a zero-filled field the size of a cookie, asking for one more cookie in the reply without the reply outgrowing the request.</summary>
    public const ushort CookiePlaceholder = 0x0304;
    /// <summary>NTS Authenticator and Encrypted Extension Fields: nonce plus AES-SIV output that authenticates everything before it and may carry encrypted fields.</summary>
    public const ushort Authenticator = 0x0404;
}

/// <summary>Writing and reading the NTS extension fields; shared by the server and the client.</summary>
public static class NtsFields
{
    /// <summary>Bytes of random unique identifier the client sends: 32, the minimum RFC 8915 section 5.3 allows.</summary>
    public const int UniqueIdentifierLength = 32;
    /// <summary>RFC 8915 5.6: a nonce of at least 16 bytes for AES-SIV.</summary>
    public const int NonceLength = 16;
    private const int FieldHeader = 4;

    /// <summary>Rounds a value length up to the next multiple of 4, the alignment NTP extension fields need (RFC 7822).</summary>
    public static int Padded(int length) => (length + 3) & ~3;

    /// <summary>Writes a field whose value is padded with zeros to a multiple of 4; returns its length.</summary>
    public static int Write(Span<byte> destination, ushort type, ReadOnlySpan<byte> value)
    {
        int length = FieldHeader + Padded(value.Length);
        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        value.CopyTo(destination[FieldHeader..]);
        destination[(FieldHeader + value.Length)..length].Clear();
        return length;
    }

    /// <summary>Writes a field of <paramref name="valueLength"/> zero bytes (a cookie placeholder).</summary>
    public static int WriteZeros(Span<byte> destination, ushort type, int valueLength)
    {
        int length = FieldHeader + Padded(valueLength);
        BinaryPrimitives.WriteUInt16BigEndian(destination, type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        destination[FieldHeader..length].Clear();
        return length;
    }

    /// <summary>Length of an authenticator field sealing <paramref name="plaintextLength"/> bytes (a multiple of 4).</summary>
    public static int AuthenticatorLength(int plaintextLength) =>
        FieldHeader + 4 + NonceLength + Padded(AesSivCmac256.TagLength + plaintextLength);

    /// <summary>
    /// Appends the authenticator at <paramref name="offset"/> of <paramref name="packet"/>: a fresh nonce, and
    /// the plaintext sealed with everything before the field as associated data. Returns the new length.
    /// </summary>
    public static int WriteAuthenticator(Span<byte> packet, int offset, AesSivCmac256 key, ReadOnlySpan<byte> plaintext)
    {
        int cipherLength = AesSivCmac256.TagLength + plaintext.Length;
        int length = AuthenticatorLength(plaintext.Length);
        var field = packet.Slice(offset, length);
        BinaryPrimitives.WriteUInt16BigEndian(field, NtsFieldType.Authenticator);
        BinaryPrimitives.WriteUInt16BigEndian(field[2..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(field[4..], NonceLength);
        BinaryPrimitives.WriteUInt16BigEndian(field[6..], (ushort)cipherLength);
        var nonce = field.Slice(8, NonceLength);
        RandomNumberGenerator.Fill(nonce);
        key.Seal(packet[..offset], nonce, plaintext, field.Slice(8 + NonceLength, cipherLength));
        field[(8 + NonceLength + cipherLength)..].Clear();
        return offset + length;
    }

    /// <summary>
    /// Checks and opens an authenticator field found at <paramref name="offset"/>: bounds, nonce length, then
    /// the AEAD over everything before it. The plaintext lands in <paramref name="plaintext"/>.
    /// </summary>
    public static bool TryOpenAuthenticator(ReadOnlySpan<byte> packet, int offset, int fieldLength, AesSivCmac256 key,
        Span<byte> plaintext, out int plaintextLength)
    {
        plaintextLength = 0;
        var value = packet.Slice(offset + FieldHeader, fieldLength - FieldHeader);
        if (value.Length < 4) return false;
        int nonceLength = BinaryPrimitives.ReadUInt16BigEndian(value);
        int cipherLength = BinaryPrimitives.ReadUInt16BigEndian(value[2..]);
        if (nonceLength < NonceLength || cipherLength < AesSivCmac256.TagLength) return false;
        int needed = 4 + Padded(nonceLength) + Padded(cipherLength);
        if (needed > value.Length) return false;
        int length = cipherLength - AesSivCmac256.TagLength;
        if (length > plaintext.Length) return false;
        var nonce = value.Slice(4, nonceLength);
        var cipher = value.Slice(4 + Padded(nonceLength), cipherLength);
        if (!key.Open(packet[..offset], nonce, cipher, plaintext)) return false;
        plaintextLength = length;
        return true;
    }
}

/// <summary>32 key bytes on the stack.</summary>
[InlineArray(AesSivCmac256.KeyLength)]
public struct KeyBytes
{
    private byte _first;
}

/// <summary>
/// Per-thread AES-SIV instances by key, so a client that keeps asking does not cost a key schedule and two
/// AES objects per packet. Small and round-robin: a miss builds one instance and evicts the oldest.
/// </summary>
internal static class SivCache
{
    private const int Size = 64;
    [ThreadStatic] private static byte[][]? t_keys;
    [ThreadStatic] private static AesSivCmac256[]? t_sivs;
    [ThreadStatic] private static int t_next;

    public static AesSivCmac256 Get(ReadOnlySpan<byte> key)
    {
        var keys = t_keys ??= new byte[Size][];
        var sivs = t_sivs ??= new AesSivCmac256[Size];
        for (int i = 0; i < Size; i++)
        {
            if (keys[i] is { } k && key.SequenceEqual(k)) return sivs[i];
        }
        int slot = t_next;
        t_next = (slot + 1) % Size;
        sivs[slot]?.Dispose();
        keys[slot] = key.ToArray();
        sivs[slot] = new AesSivCmac256(key);
        return sivs[slot];
    }
}
