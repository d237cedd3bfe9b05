using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace TimeMesh.Core.Nts;

/// <summary>One server master key: cookies name it by id, so a rotated-out key can still open its cookies.</summary>
public sealed class NtsMasterKey
{
    /// <summary>Wraps a master key and builds its AES-SIV cipher. The array is kept, not copied.</summary>
    /// <param name="id">The id written at the front of every cookie sealed under this key.</param>
    /// <param name="key">The secret, <see cref="AesSivCmac256.KeyLength"/> (32) bytes.</param>
    /// <param name="createdUnixSeconds">When the key was made, Unix seconds; rotation is timed from it.</param>
    /// <exception cref="ArgumentException">The key is not 32 bytes long.</exception>
    public NtsMasterKey(uint id, byte[] key, long createdUnixSeconds)
    {
        if (key.Length != AesSivCmac256.KeyLength) throw new ArgumentException($"a master key is {AesSivCmac256.KeyLength} bytes", nameof(key));
        Id = id;
        Key = key;
        CreatedUnixSeconds = createdUnixSeconds;
        Siv = new AesSivCmac256(key);
    }

    /// <summary>The key's id, the first 4 bytes (big-endian) of each cookie it seals, so the server can find the key again.</summary>
    public uint Id { get; }
    /// <summary>The 32-byte secret itself, exposed so <see cref="NtsServerKeys.Serialize"/> can write it to the key file.</summary>
    public byte[] Key { get; }
    /// <summary>When the key was generated, Unix seconds, as saved in the key file.</summary>
    public long CreatedUnixSeconds { get; }
    /// <summary>The cipher under this key that seals and opens cookies.</summary>
    public AesSivCmac256 Siv { get; }

    /// <summary>A fresh random key with a random id.</summary>
    /// <param name="nowUnixSeconds">Recorded as the key's creation time.</param>
    /// <param name="avoidId">An id the new key must not take, so that it differs from the key it replaces.</param>
    public static NtsMasterKey Generate(long nowUnixSeconds, uint avoidId = 0)
    {
        uint id;
        do id = BinaryPrimitives.ReadUInt32BigEndian(RandomNumberGenerator.GetBytes(4));
        while (id == avoidId);
        return new NtsMasterKey(id, RandomNumberGenerator.GetBytes(AesSivCmac256.KeyLength), nowUnixSeconds);
    }
}

/// <summary>
/// The server's cookie keys: the current one seals, the current and the previous one open (chrony keeps
/// the same pair), so a cookie stays good for one to two rotation intervals. Immutable: a rotation makes a new set.
/// </summary>
public sealed class NtsServerKeys(NtsMasterKey current, NtsMasterKey? previous)
{
    /// <summary>The newest key: it seals every new cookie and opens cookies that name it.</summary>
    public NtsMasterKey Current { get; } = current;
    /// <summary>The key before the last rotation, kept only to open cookies clients still hold; null until the first rotation (or when the key file held one key).</summary>
    public NtsMasterKey? Previous { get; } = previous;

    /// <summary>A first key set: one new random key and no previous key.</summary>
    public static NtsServerKeys Generate(long nowUnixSeconds) => new(NtsMasterKey.Generate(nowUnixSeconds), null);

    /// <summary>
    /// Whether the current key should be replaced: it is at least <paramref name="intervalSeconds"/> old, or its creation
    /// time lies more than an interval in the future (the clock went back), which would otherwise keep a key for too long.
    /// </summary>
    public bool RotationDue(long nowUnixSeconds, long intervalSeconds) =>
        nowUnixSeconds - Current.CreatedUnixSeconds >= intervalSeconds || nowUnixSeconds < Current.CreatedUnixSeconds - intervalSeconds;

    /// <summary>A new set in which a fresh key (with a different id) is current and today's current becomes previous; the old previous key is dropped, so its cookies stop working.</summary>
    public NtsServerKeys Rotate(long nowUnixSeconds) => new(NtsMasterKey.Generate(nowUnixSeconds, Current.Id), Current);

    /// <summary>The key a cookie names by its id: the current or the previous one; null when neither has that id (the cookie is too old or not ours).</summary>
    public NtsMasterKey? Find(uint id) =>
        Current.Id == id ? Current : Previous is { } p && p.Id == id ? p : null;

    private const string Header = "# TimeMesh NTS cookie master keys: id, created (Unix s), key (hex). Keep private.";

    /// <summary>The file form: one line per key, current first.</summary>
    public string Serialize()
    {
        var text = new StringBuilder().AppendLine(Header);
        foreach (var key in new[] { Current, Previous })
        {
            if (key is null) continue;
            text.Append(key.Id.ToString("x8", CultureInfo.InvariantCulture)).Append(' ')
                .Append(key.CreatedUnixSeconds.ToString(CultureInfo.InvariantCulture)).Append(' ')
                .AppendLine(Convert.ToHexString(key.Key).ToLowerInvariant());
        }
        return text.ToString();
    }

    /// <summary>Reads what <see cref="Serialize"/> wrote; a damaged file throws <see cref="FormatException"/>.</summary>
    public static NtsServerKeys Parse(string text)
    {
        var keys = new List<NtsMasterKey>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 3
                || !uint.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint id)
                || !long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long created)
                || parts[2].Length != AesSivCmac256.KeyLength * 2)
                throw new FormatException($"bad key line '{(line.Length > 16 ? line[..16] + "…" : line)}'");
            byte[] key;
            try { key = Convert.FromHexString(parts[2]); }
            catch (FormatException) { throw new FormatException("a key is not hex"); }
            keys.Add(new NtsMasterKey(id, key, created));
        }
        if (keys.Count is 0 or > 2) throw new FormatException($"expected 1 or 2 keys, found {keys.Count}");
        return new NtsServerKeys(keys[0], keys.Count > 1 ? keys[1] : null);
    }
}

/// <summary>
/// The cookie a server hands out and gets back: key id (4) | nonce (16) | AES-SIV(master key, C2S key |
/// S2C key) (16 + 64). The server keeps no per-client state: everything it needs comes back in the cookie.
/// </summary>
public static class NtsCookie
{
    /// <summary>Length of each of the two session keys (C2S and S2C) a cookie carries, bytes.</summary>
    public const int KeyLength = AesSivCmac256.KeyLength;
    private const int NonceLength = 16;
    private const int PlaintextLength = 2 * KeyLength;
    /// <summary>Length of every cookie this server makes: 4-byte key id, 16-byte nonce, 16-byte SIV tag and the two encrypted keys, 100 bytes in all.</summary>
    public const int Length = 4 + NonceLength + AesSivCmac256.TagLength + PlaintextLength;

    /// <summary>Writes a cookie holding a client's session keys, sealed under the current master key with a random nonce. The key id and nonce are authenticated as associated data.</summary>
    /// <param name="keys">The server's key set; only <see cref="NtsServerKeys.Current"/> is used.</param>
    /// <param name="c2s">The client's C2S key, <see cref="KeyLength"/> bytes.</param>
    /// <param name="s2c">The client's S2C key, <see cref="KeyLength"/> bytes.</param>
    /// <param name="cookie">Receives the cookie; needs at least <see cref="Length"/> bytes.</param>
    public static void Seal(NtsServerKeys keys, ReadOnlySpan<byte> c2s, ReadOnlySpan<byte> s2c, Span<byte> cookie)
    {
        var key = keys.Current;
        BinaryPrimitives.WriteUInt32BigEndian(cookie, key.Id);
        var nonce = cookie.Slice(4, NonceLength);
        RandomNumberGenerator.Fill(nonce);
        Span<byte> plaintext = stackalloc byte[PlaintextLength];
        c2s.CopyTo(plaintext);
        s2c.CopyTo(plaintext[KeyLength..]);
        key.Siv.Seal(cookie[..4], nonce, plaintext, cookie.Slice(4 + NonceLength, AesSivCmac256.TagLength + PlaintextLength));
        CryptographicOperations.ZeroMemory(plaintext);
    }

    /// <summary>Like the span overload, returning a new <see cref="Length"/>-byte cookie, e.g. for a New Cookie record of NTS-KE.</summary>
    public static byte[] Seal(NtsServerKeys keys, ReadOnlySpan<byte> c2s, ReadOnlySpan<byte> s2c)
    {
        var cookie = new byte[Length];
        Seal(keys, c2s, s2c, cookie);
        return cookie;
    }

    /// <summary>Opens a cookie with the key it names; false for an unknown key, a wrong length or any alteration.</summary>
    public static bool TryOpen(NtsServerKeys keys, ReadOnlySpan<byte> cookie, Span<byte> c2s, Span<byte> s2c)
    {
        if (cookie.Length != Length) return false;
        var key = keys.Find(BinaryPrimitives.ReadUInt32BigEndian(cookie));
        if (key is null) return false;
        Span<byte> plaintext = stackalloc byte[PlaintextLength];
        if (!key.Siv.Open(cookie[..4], cookie.Slice(4, NonceLength), cookie[(4 + NonceLength)..], plaintext)) return false;
        plaintext[..KeyLength].CopyTo(c2s);
        plaintext[KeyLength..].CopyTo(s2c);
        CryptographicOperations.ZeroMemory(plaintext);
        return true;
    }
}
