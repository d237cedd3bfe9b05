using System.Security.Cryptography;

namespace TimeMesh.Core.Auth;

/// <summary>
/// One key of the keyfile. Hash types compute H(key ‖ data), as RFC 5905 and chrony do; cipher types
/// compute AES-CMAC(key, data). Computing is thread-safe and allocates nothing for NTP-sized data.
/// </summary>
public sealed class SymmetricKey : IDisposable
{
    /// <summary>Key plus data up to this length is hashed from the stack.</summary>
    private const int StackScratchBytes = 4096;

    private readonly byte[] _value;
    private readonly AesCmac? _cmac;

    /// <summary>Copies the key bytes and, for CMAC types, prepares the AES-CMAC state.</summary>
    /// <param name="id">The key id carried in the MAC trailer, 1 to 2^32−1.</param>
    /// <param name="algorithm">How digests are computed.</param>
    /// <param name="value">The secret: any non-empty length for hash types, exactly 16 or 32 bytes for AES128 or AES256.</param>
    /// <exception cref="ArgumentException">The id is 0, the key is empty, or a CMAC key has the wrong length.</exception>
    /// <exception cref="PlatformNotSupportedException">The platform cannot compute the type (SHA-3 without OpenSSL support).</exception>
    public SymmetricKey(uint id, MacAlgorithm algorithm, ReadOnlySpan<byte> value)
    {
        if (id == 0) throw new ArgumentException("key ids start at 1", nameof(id));
        if (value.IsEmpty) throw new ArgumentException("a key has at least one byte", nameof(value));
        int required = MacAlgorithms.RequiredKeyLength(algorithm);
        if (required != 0 && value.Length != required)
            throw new ArgumentException($"{MacAlgorithms.Name(algorithm)} takes a {required * 8}-bit key, not {value.Length * 8} bits", nameof(value));
        if (!MacAlgorithms.IsSupported(algorithm))
            throw new PlatformNotSupportedException($"{MacAlgorithms.Name(algorithm)} is not available on this platform");
        Id = id;
        Algorithm = algorithm;
        _value = value.ToArray();
        if (MacAlgorithms.IsCmac(algorithm)) _cmac = new AesCmac(value);
    }

    /// <summary>The id NTP packets name this key by, from the first word of the keyfile line.</summary>
    public uint Id { get; }
    /// <summary>The MAC type the keyfile gave (MD5 when the line left it out).</summary>
    public MacAlgorithm Algorithm { get; }
    /// <summary>The key's length in bits; chrony and <see cref="KeyFile"/> warn below <see cref="KeyFile.MinSecureKeyBits"/>.</summary>
    public int LengthBits => _value.Length * 8;
    /// <summary>Untruncated digest length, bytes.</summary>
    public int DigestLength => MacAlgorithms.DigestLength(Algorithm);

    /// <summary>Writes the full digest of <paramref name="data"/> into <paramref name="destination"/> and returns its length.</summary>
    public int ComputeDigest(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (_cmac is not null)
        {
            _cmac.Compute(data, destination);
            return AesCmac.BlockLength;
        }
        int total = _value.Length + data.Length;
        Span<byte> input = total <= StackScratchBytes ? stackalloc byte[total] : new byte[total];
        _value.CopyTo(input);
        data.CopyTo(input[_value.Length..]);
        int written = Algorithm switch
        {
            MacAlgorithm.Md5 => MD5.HashData(input, destination),
            MacAlgorithm.Sha1 => SHA1.HashData(input, destination),
            MacAlgorithm.Sha256 => SHA256.HashData(input, destination),
            MacAlgorithm.Sha384 => SHA384.HashData(input, destination),
            MacAlgorithm.Sha512 => SHA512.HashData(input, destination),
            MacAlgorithm.Sha3_256 => SHA3_256.HashData(input, destination),
            MacAlgorithm.Sha3_384 => SHA3_384.HashData(input, destination),
            MacAlgorithm.Sha3_512 => SHA3_512.HashData(input, destination),
            _ => throw new InvalidOperationException($"{Algorithm} is not a hash type"),
        };
        CryptographicOperations.ZeroMemory(input[.._value.Length]);
        return written;
    }

    /// <summary>Id, type and length for logs, e.g. "key 5 (SHA1, 160 bits)"; never the secret.</summary>
    public override string ToString() => $"key {Id} ({MacAlgorithms.Name(Algorithm)}, {LengthBits} bits)";

    /// <summary>Wipes the key bytes and releases the CMAC state; the key must not be used afterwards.</summary>
    public void Dispose()
    {
        _cmac?.Dispose();
        CryptographicOperations.ZeroMemory(_value);
    }
}
