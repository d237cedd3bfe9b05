using System.Security.Cryptography;

namespace TimeMesh.Core.Auth;

/// <summary>
/// AES-CMAC (RFC 4493) on .NET's AES. The CBC-MAC runs as one CBC encryption of the whole message: a
/// long-lived CBC transform is much cheaper per call than .NET's one-shot methods (which set up a cipher
/// context and allocate each time). The transform keeps its chaining value from one call to the next,
/// so each message's first block is XORed with the previous call's last output block, which cancels it
/// and gives the zero IV that CMAC needs. One instance is used under a lock; computing allocates nothing.
/// </summary>
public sealed class AesCmac : IDisposable
{
    /// <summary>The AES block size in bytes, which is also the length of every CMAC tag.</summary>
    public const int BlockLength = 16;
    /// <summary>Longest message accepted: more than any NTP packet with extension fields.</summary>
    public const int MaxMessageLength = 4096;
    private const byte Rb = 0x87;

    private readonly Aes _aes;
    private readonly ICryptoTransform _cbc;
    private readonly byte[] _k1 = new byte[BlockLength];
    private readonly byte[] _k2 = new byte[BlockLength];
    private readonly byte[] _chain = new byte[BlockLength];
    private readonly byte[] _input = new byte[MaxMessageLength + BlockLength];
    private readonly byte[] _output = new byte[MaxMessageLength + BlockLength];
    private readonly Lock _lock = new();

    /// <summary>Sets up the cipher and derives the subkeys K1 and K2 (RFC 4493 section 2.3) once, so <see cref="Compute"/> only runs CBC.</summary>
    /// <param name="key">An AES-128, AES-192 or AES-256 key; it is copied.</param>
    /// <exception cref="ArgumentException">The key is not 16, 24 or 32 bytes long.</exception>
    public AesCmac(ReadOnlySpan<byte> key)
    {
        if (key.Length is not (16 or 24 or 32)) throw new ArgumentException($"an AES key is 16, 24 or 32 bytes, not {key.Length}", nameof(key));
        _aes = Aes.Create();
        _aes.Key = key.ToArray();
        _aes.Mode = CipherMode.CBC;
        _aes.Padding = PaddingMode.None;
        _aes.IV = new byte[BlockLength];
        _cbc = _aes.CreateEncryptor();

        // Subkeys (RFC 4493 section 2.3): L = AES(K, 0); K1 = L << 1 (^ Rb); K2 = K1 << 1 (^ Rb).
        Span<byte> l = stackalloc byte[BlockLength];
        lock (_lock) EncryptCbcFromZeroIv(l.Length, l);
        ShiftLeftOne(l, _k1);
        ShiftLeftOne(_k1, _k2);
        CryptographicOperations.ZeroMemory(l);
    }

    /// <summary>Writes the 16-byte tag of <paramref name="message"/> into <paramref name="tag"/>.</summary>
    public void Compute(ReadOnlySpan<byte> message, Span<byte> tag)
    {
        if (message.Length > MaxMessageLength) throw new ArgumentException($"message longer than {MaxMessageLength} bytes", nameof(message));
        if (tag.Length < BlockLength) throw new ArgumentException("the tag needs 16 bytes", nameof(tag));
        int blocks = Math.Max(1, (message.Length + BlockLength - 1) / BlockLength);
        bool complete = message.Length > 0 && message.Length % BlockLength == 0;
        int last = (blocks - 1) * BlockLength;
        lock (_lock)
        {
            var input = _input.AsSpan(0, blocks * BlockLength);
            message.CopyTo(input);
            if (!complete)
            {
                // Pad with 10…0 (RFC 4493 section 2.4, step 4).
                input[message.Length] = 0x80;
                input[(message.Length + 1)..].Clear();
            }
            Xor(input.Slice(last, BlockLength), complete ? _k1 : _k2);
            EncryptCbcFromZeroIv(input.Length, tag);
            input.Clear();
        }
    }

    /// <summary>CBC-encrypts _input[0..length) with a zero IV; the last output block goes to <paramref name="lastBlock"/>.</summary>
    private void EncryptCbcFromZeroIv(int length, Span<byte> lastBlock)
    {
        // Cancel the chaining value the transform carries over from its previous call.
        Xor(_input.AsSpan(0, BlockLength), _chain);
        int written = _cbc.TransformBlock(_input, 0, length, _output, 0);
        if (written != length) throw new CryptographicException($"AES-CBC returned {written} of {length} bytes");
        var final = _output.AsSpan(length - BlockLength, BlockLength);
        final.CopyTo(_chain);
        final.CopyTo(lastBlock);
        _output.AsSpan(0, length).Clear();
    }

    private static void Xor(Span<byte> target, ReadOnlySpan<byte> with)
    {
        for (int i = 0; i < BlockLength; i++) target[i] ^= with[i];
    }

    private static void ShiftLeftOne(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        bool msb = (source[0] & 0x80) != 0;
        for (int i = 0; i < BlockLength - 1; i++) destination[i] = (byte)((source[i] << 1) | (source[i + 1] >> 7));
        destination[BlockLength - 1] = (byte)(source[BlockLength - 1] << 1);
        if (msb) destination[BlockLength - 1] ^= Rb;
    }

    /// <summary>Releases the AES transform and wipes the subkeys; the instance cannot compute afterwards.</summary>
    public void Dispose()
    {
        _cbc.Dispose();
        _aes.Dispose();
        CryptographicOperations.ZeroMemory(_k1);
        CryptographicOperations.ZeroMemory(_k2);
    }
}
