using System.Security.Cryptography;

namespace TimeMesh.Core.Auth;

/// <summary>The MAC types of chrony's keyfile: hash functions (digest = H(key ‖ packet)) and AES-CMAC ciphers.</summary>
public enum MacAlgorithm : byte
{
    /// <summary>MD5, 16-byte digest; chrony's default when a keyfile line names no type.</summary>
    Md5,
    /// <summary>SHA-1, 20-byte digest.</summary>
    Sha1,
    /// <summary>SHA-256, 32-byte digest (20 bytes on the wire in NTPv4).</summary>
    Sha256,
    /// <summary>SHA-384, 48-byte digest (20 bytes on the wire in NTPv4).</summary>
    Sha384,
    /// <summary>SHA-512, 64-byte digest (20 bytes on the wire in NTPv4).</summary>
    Sha512,
    /// <summary>SHA3-256, 32-byte digest; needs platform support (see <see cref="MacAlgorithms.IsSupported"/>).</summary>
    Sha3_256,
    /// <summary>SHA3-384, 48-byte digest; needs platform support.</summary>
    Sha3_384,
    /// <summary>SHA3-512, 64-byte digest; needs platform support.</summary>
    Sha3_512,
    /// <summary>AES-CMAC with a 128-bit key (chrony's AES128), 16-byte tag.</summary>
    Aes128Cmac,
    /// <summary>AES-CMAC with a 256-bit key (chrony's AES256), 16-byte tag.</summary>
    Aes256Cmac,
}

/// <summary>What each <see cref="MacAlgorithm"/> is called in chrony's keyfile, its digest and key lengths, and whether this platform can compute it.</summary>
public static class MacAlgorithms
{
    /// <summary>chrony's type names, as the keyfile spells them (case matters, as in chrony).</summary>
    public static string Name(MacAlgorithm algorithm) => algorithm switch
    {
        MacAlgorithm.Md5 => "MD5",
        MacAlgorithm.Sha1 => "SHA1",
        MacAlgorithm.Sha256 => "SHA256",
        MacAlgorithm.Sha384 => "SHA384",
        MacAlgorithm.Sha512 => "SHA512",
        MacAlgorithm.Sha3_256 => "SHA3-256",
        MacAlgorithm.Sha3_384 => "SHA3-384",
        MacAlgorithm.Sha3_512 => "SHA3-512",
        MacAlgorithm.Aes128Cmac => "AES128",
        MacAlgorithm.Aes256Cmac => "AES256",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    /// <summary>Maps a keyfile type name to its algorithm, matching chrony's spelling exactly ("SHA256" but not "sha256").</summary>
    /// <returns>False for names this build does not know; the algorithm is then <see cref="MacAlgorithm.Md5"/>, the default value, and meaningless.</returns>
    public static bool TryParse(string name, out MacAlgorithm algorithm)
    {
        foreach (var candidate in Enum.GetValues<MacAlgorithm>())
        {
            if (Name(candidate) == name)
            {
                algorithm = candidate;
                return true;
            }
        }
        algorithm = default;
        return false;
    }

    /// <summary>Types chrony knows that this build cannot compute (no .NET implementation).</summary>
    public static bool IsKnownToChronyOnly(string name) => name is "SHA3-224" or "TIGER" or "WHIRLPOOL";

    /// <summary>Whether this platform computes the type (SHA-3 needs OpenSSL 1.1.1 or later).</summary>
    public static bool IsSupported(MacAlgorithm algorithm) => algorithm switch
    {
        MacAlgorithm.Sha3_256 => SHA3_256.IsSupported,
        MacAlgorithm.Sha3_384 => SHA3_384.IsSupported,
        MacAlgorithm.Sha3_512 => SHA3_512.IsSupported,
        _ => true,
    };

    /// <summary>Untruncated digest length in bytes.</summary>
    public static int DigestLength(MacAlgorithm algorithm) => algorithm switch
    {
        MacAlgorithm.Md5 => 16,
        MacAlgorithm.Sha1 => 20,
        MacAlgorithm.Sha256 or MacAlgorithm.Sha3_256 => 32,
        MacAlgorithm.Sha384 or MacAlgorithm.Sha3_384 => 48,
        MacAlgorithm.Sha512 or MacAlgorithm.Sha3_512 => 64,
        MacAlgorithm.Aes128Cmac or MacAlgorithm.Aes256Cmac => 16,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    /// <summary>True for the AES-CMAC types, which need a fixed key length and compute AES-CMAC(key, data) instead of H(key ‖ data).</summary>
    public static bool IsCmac(MacAlgorithm algorithm) => algorithm is MacAlgorithm.Aes128Cmac or MacAlgorithm.Aes256Cmac;

    /// <summary>The key length a cipher demands, in bytes; 0 for hash types (any length).</summary>
    public static int RequiredKeyLength(MacAlgorithm algorithm) => algorithm switch
    {
        MacAlgorithm.Aes128Cmac => 16,
        MacAlgorithm.Aes256Cmac => 32,
        _ => 0,
    };

    /// <summary>The type names this platform can compute, comma-separated in enum order, for error messages and help text.</summary>
    public static string SupportedNames => string.Join(", ", Enum.GetValues<MacAlgorithm>().Where(IsSupported).Select(Name));
}
