using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace TimeMesh.Core.Nts;

/// <summary>One server master key: cookies name it by id, so a rotated-out key can still open its cookies.</summary>
public sealed class NtsMasterKey
{
    public NtsMasterKey(uint id, byte[] key, long createdUnixSeconds)
    {
        if (key.Length != AesSivCmac256.KeyLength) throw new ArgumentException($"a master key is {AesSivCmac256.KeyLength} bytes", nameof(key));
        Id = id;
        Key = key;
        CreatedUnixSeconds = createdUnixSeconds;
        Siv = new AesSivCmac256(key);
    }

    public uint Id { get; }
    public byte[] Key { get; }
    public long CreatedUnixSeconds { get; }
    public AesSivCmac256 Siv { get; }

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
    public NtsMasterKey Current { get; } = current;
    public NtsMasterKey? Previous { get; } = previous;

    public static NtsServerKeys Generate(long nowUnixSeconds) => new(NtsMasterKey.Generate(nowUnixSeconds), null);

    public bool RotationDue(long nowUnixSeconds, long intervalSeconds) =>
        nowUnixSeconds - Current.CreatedUnixSeconds >= intervalSeconds || nowUnixSeconds < Current.CreatedUnixSeconds - intervalSeconds;

    public NtsServerKeys Rotate(long nowUnixSeconds) => new(NtsMasterKey.Generate(nowUnixSeconds, Current.Id), Current);

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
    public const int KeyLength = AesSivCmac256.KeyLength;
    private const int NonceLength = 16;
    private const int PlaintextLength = 2 * KeyLength;
    public const int Length = 4 + NonceLength + AesSivCmac256.TagLength + PlaintextLength;

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
