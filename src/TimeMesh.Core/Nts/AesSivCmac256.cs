using System.Buffers.Binary;
using System.Security.Cryptography;

namespace TimeMesh.Core.Nts;

/// <summary>
/// AEAD_AES_SIV_CMAC_256 (RFC 5297): deterministic, nonce-misuse-resistant authenticated encryption, the
/// algorithm NTS requires. The base library has no SIV mode, so it is built here from AES-CBC (for CMAC,
/// whose chaining is CBC-MAC) and AES-ECB (for the CTR keystream). Output is the 16-byte synthetic IV
/// followed by the ciphertext. Thread-safe once built: scratch space is per thread and grows once.
/// </summary>
public sealed class AesSivCmac256 : IDisposable
{
    /// <summary>Key length in bytes: two AES-128 keys, the first for S2V (CMAC), the second for CTR (RFC 5297 section 2.2).</summary>
    public const int KeyLength = 32;
    /// <summary>Length of the synthetic IV that starts every sealed output and authenticates it, bytes.</summary>
    public const int TagLength = 16;
    private const int Block = 16;

    /// <summary>The S2V components an operation may take (associated data, nonce) before the plaintext.</summary>
    public const int MaxAssociatedComponents = 8;

    private readonly Aes _macAes;
    private readonly Aes _ctrAes;
    // The base library's one-shot calls build a native cipher context per call (about 1 µs); a transform kept
    // per thread reuses its context, which makes a cookie or an authenticator several times cheaper.
    private readonly ThreadLocal<ICryptoTransform> _cbcMac;
    private readonly ThreadLocal<ICryptoTransform> _ecbCtr;
    private readonly byte[] _subkey1 = new byte[Block];
    private readonly byte[] _subkey2 = new byte[Block];
    private readonly byte[] _cmacOfZero = new byte[Block];

    [ThreadStatic] private static byte[]? t_input;
    [ThreadStatic] private static byte[]? t_output;

    /// <summary>Splits the key into its CMAC and CTR halves and precomputes the CMAC subkeys and CMAC(0) that S2V starts from.</summary>
    /// <param name="key">Exactly <see cref="KeyLength"/> bytes, e.g. a C2S or S2C key exported from the NTS-KE TLS session; it is copied.</param>
    /// <exception cref="ArgumentException">The key is not 32 bytes long.</exception>
    public AesSivCmac256(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyLength) throw new ArgumentException($"AES-SIV-CMAC-256 takes a {KeyLength}-byte key, not {key.Length}", nameof(key));
        // RFC 5297: the first half keys S2V (CMAC), the second half keys CTR.
        _macAes = Aes.Create();
        _macAes.Key = key[..Block].ToArray();
        _ctrAes = Aes.Create();
        _ctrAes.Key = key[Block..].ToArray();
        _cbcMac = new ThreadLocal<ICryptoTransform>(() => _macAes.CreateEncryptor(_macAes.Key, new byte[Block]));
        _ctrAes.Mode = CipherMode.ECB;
        _ctrAes.Padding = PaddingMode.None;
        _ecbCtr = new ThreadLocal<ICryptoTransform>(() => _ctrAes.CreateEncryptor());
        _macAes.Mode = CipherMode.CBC;
        _macAes.Padding = PaddingMode.None;

        Span<byte> l = stackalloc byte[Block];
        _macAes.EncryptEcb(new byte[Block], l, PaddingMode.None);
        Double(l, _subkey1);
        Double(_subkey1, _subkey2);
        Cmac(new byte[Block], default, _cmacOfZero);
    }

    /// <summary>Length of the sealed output for a plaintext of <paramref name="plaintextLength"/> bytes.</summary>
    public static int SealedLength(int plaintextLength) => TagLength + plaintextLength;

    /// <summary>The AEAD form NTS uses (RFC 5297 section 6): S2V over the associated data, the nonce, then the plaintext.</summary>
    public void Seal(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        CheckOutput(plaintext.Length, output.Length);
        Span<byte> d = stackalloc byte[Block];
        _cmacOfZero.CopyTo(d);
        Absorb(d, associatedData);
        Absorb(d, nonce);
        Span<byte> iv = stackalloc byte[Block];
        FinishS2V(d, plaintext, iv);
        iv.CopyTo(output);
        Ctr(iv, plaintext, output[TagLength..(TagLength + plaintext.Length)]);
    }

    /// <summary>Opens what <see cref="Seal(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/> made; false (and <paramref name="plaintext"/> cleared) when anything was altered.</summary>
    public bool Open(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> sealedData, Span<byte> plaintext)
    {
        if (sealedData.Length < TagLength) return false;
        int length = sealedData.Length - TagLength;
        if (plaintext.Length < length) throw new ArgumentException("the plaintext buffer is too short", nameof(plaintext));
        var p = plaintext[..length];
        Ctr(sealedData[..TagLength], sealedData[TagLength..], p);
        Span<byte> d = stackalloc byte[Block];
        _cmacOfZero.CopyTo(d);
        Absorb(d, associatedData);
        Absorb(d, nonce);
        Span<byte> expected = stackalloc byte[Block];
        FinishS2V(d, p, expected);
        if (CryptographicOperations.FixedTimeEquals(expected, sealedData[..TagLength])) return true;
        p.Clear();
        return false;
    }

    /// <summary>
    /// The general form (RFC 5297 section 2.6): any number of associated-data components, the last one the
    /// nonce if there is one. For tests and callers off the hot path.
    /// </summary>
    public void Seal(ReadOnlySpan<ReadOnlyMemory<byte>> associated, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        CheckOutput(plaintext.Length, output.Length);
        Span<byte> iv = stackalloc byte[Block];
        S2V(associated, plaintext, iv);
        iv.CopyTo(output);
        Ctr(iv, plaintext, output[TagLength..(TagLength + plaintext.Length)]);
    }

    /// <summary>Opens what the general <see cref="Seal(ReadOnlySpan{ReadOnlyMemory{byte}}, ReadOnlySpan{byte}, Span{byte})"/> made, with the same components in the same order.</summary>
    /// <param name="associated">The associated-data components, at most <see cref="MaxAssociatedComponents"/>.</param>
    /// <param name="sealedData">Synthetic IV followed by ciphertext.</param>
    /// <param name="plaintext">Receives the plaintext; must hold at least <c>sealedData.Length - TagLength</c> bytes.</param>
    /// <returns>True when the tag matches; false (and the plaintext cleared) when the data is shorter than a tag or anything was altered.</returns>
    public bool Open(ReadOnlySpan<ReadOnlyMemory<byte>> associated, ReadOnlySpan<byte> sealedData, Span<byte> plaintext)
    {
        if (sealedData.Length < TagLength) return false;
        int length = sealedData.Length - TagLength;
        var p = plaintext[..length];
        Ctr(sealedData[..TagLength], sealedData[TagLength..], p);
        Span<byte> expected = stackalloc byte[Block];
        S2V(associated, p, expected);
        if (CryptographicOperations.FixedTimeEquals(expected, sealedData[..TagLength])) return true;
        p.Clear();
        return false;
    }

    private static void CheckOutput(int plaintextLength, int outputLength)
    {
        if (outputLength < TagLength + plaintextLength) throw new ArgumentException("the output buffer is too short", "output");
    }

    private void S2V(ReadOnlySpan<ReadOnlyMemory<byte>> associated, ReadOnlySpan<byte> plaintext, Span<byte> v)
    {
        if (associated.Length > MaxAssociatedComponents) throw new ArgumentException($"at most {MaxAssociatedComponents} associated components", nameof(associated));
        Span<byte> d = stackalloc byte[Block];
        _cmacOfZero.CopyTo(d);
        foreach (var component in associated) Absorb(d, component.Span);
        FinishS2V(d, plaintext, v);
    }

    /// <summary>D = dbl(D) xor CMAC(component).</summary>
    private void Absorb(Span<byte> d, ReadOnlySpan<byte> component)
    {
        Span<byte> mac = stackalloc byte[Block];
        Cmac(component, default, mac);
        Double(d, d);
        Xor(d, mac);
    }

    /// <summary>The last S2V step: the final component is xor-ended with D, or padded and xored with dbl(D).</summary>
    private void FinishS2V(Span<byte> d, ReadOnlySpan<byte> last, Span<byte> v)
    {
        if (last.Length >= Block)
        {
            Cmac(last, d, v);
            return;
        }
        Span<byte> t = stackalloc byte[Block];
        Double(d, t);
        for (int i = 0; i < last.Length; i++) t[i] ^= last[i];
        t[last.Length] ^= 0x80;
        // T is one complete block for CMAC, whatever S2V padded into it.
        Cmac(t, default, v);
    }

    /// <summary>
    /// AES-CMAC (RFC 4493) of <paramref name="message"/>, with <paramref name="xorEnd"/> (if any) xored into
    /// its last 16 bytes first (S2V's xorend, without a copy of the message of its own).
    /// </summary>
    private void Cmac(ReadOnlySpan<byte> message, ReadOnlySpan<byte> xorEnd, Span<byte> mac)
    {
        bool complete = message.Length > 0 && message.Length % Block == 0;
        int padded = complete ? message.Length : (message.Length / Block + 1) * Block;
        byte[] input = Scratch(ref t_input, padded);
        byte[] output = Scratch(ref t_output, padded);
        var m = input.AsSpan(0, padded);
        message.CopyTo(m);
        if (!xorEnd.IsEmpty) Xor(m.Slice(message.Length - Block, Block), xorEnd);
        if (!complete)
        {
            m[message.Length] = 0x80;
            m[(message.Length + 1)..].Clear();
        }
        Xor(m[^Block..], complete ? _subkey1 : _subkey2);
        // CBC with a zero IV is CBC-MAC: the last ciphertext block is the tag. The empty final block puts the
        // transform back to the zero IV for the next message.
        var cbc = _cbcMac.Value!;
        cbc.TransformBlock(input, 0, padded, output, 0);
        cbc.TransformFinalBlock(input, 0, 0);
        output.AsSpan(padded - Block, Block).CopyTo(mac);
    }

    /// <summary>AES-CTR from the synthetic IV with two bits cleared (RFC 5297 section 2.5), keystream from one ECB call.</summary>
    private void Ctr(ReadOnlySpan<byte> iv, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.IsEmpty) return;
        int blocks = (input.Length + Block - 1) / Block;
        byte[] counters = Scratch(ref t_input, blocks * Block);
        byte[] stream = Scratch(ref t_output, blocks * Block);
        ulong high = BinaryPrimitives.ReadUInt64BigEndian(iv);
        // Q = V and (1^64 || 0 || 1^31 || 0 || 1^31): two bits of the low half cleared.
        ulong low = BinaryPrimitives.ReadUInt64BigEndian(iv[8..]) & 0x7FFF_FFFF_7FFF_FFFFUL;
        for (int i = 0; i < blocks; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(counters.AsSpan(i * Block), high);
            BinaryPrimitives.WriteUInt64BigEndian(counters.AsSpan(i * Block + 8), low);
            low++;
            if (low == 0) high++;
        }
        _ecbCtr.Value!.TransformBlock(counters, 0, blocks * Block, stream, 0);
        for (int i = 0; i < input.Length; i++) output[i] = (byte)(input[i] ^ stream[i]);
    }

    private static byte[] Scratch(ref byte[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new byte[Math.Max(length, 2048)];
        return buffer;
    }

    /// <summary>Multiplication by x in GF(2^128) (RFC 5297 "dbl").</summary>
    private static void Double(ReadOnlySpan<byte> input, Span<byte> output)
    {
        ulong high = BinaryPrimitives.ReadUInt64BigEndian(input);
        ulong low = BinaryPrimitives.ReadUInt64BigEndian(input[8..]);
        ulong carry = high >> 63;
        high = (high << 1) | (low >> 63);
        low = (low << 1) ^ (carry * 0x87);
        BinaryPrimitives.WriteUInt64BigEndian(output, high);
        BinaryPrimitives.WriteUInt64BigEndian(output[8..], low);
    }

    private static void Xor(Span<byte> target, ReadOnlySpan<byte> other)
    {
        for (int i = 0; i < Block; i++) target[i] ^= other[i];
    }

    /// <summary>Releases the AES instances and wipes the CMAC subkeys; the instance must not be used afterwards.</summary>
    public void Dispose()
    {
        _cbcMac.Dispose();
        _ecbCtr.Dispose();
        _macAes.Dispose();
        _ctrAes.Dispose();
        CryptographicOperations.ZeroMemory(_subkey1);
        CryptographicOperations.ZeroMemory(_subkey2);
    }
}
