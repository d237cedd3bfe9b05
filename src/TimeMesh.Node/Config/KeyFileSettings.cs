using TimeMesh.Core.Auth;

namespace TimeMesh.Node.Config;

/// <summary>
/// chrony's <c>keyfile</c> directive: <c>timemesh.keyfile</c> names a file in chrony's format (an
/// existing chrony.keys works unchanged); empty or left out means no keys. A file that cannot be read or
/// has a bad line stops the node at start, naming the file, the line and what is wrong.
/// </summary>
internal static class KeyFileSettings
{
    public const string Key = "timemesh.keyfile";

    public static KeyRing Load(ConfigReader r)
    {
        string? path = r.Has(Key) ? r.RawString(Key) : null;
        if (string.IsNullOrWhiteSpace(path)) return KeyRing.Empty;
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            // ArgumentException: a path .NET refuses outright (a NUL in it; found by tests/fuzz, configcheck target).
            throw new TimeMeshConfigException(Key, path, $"cannot read the keyfile: {e.Message}");
        }
        try
        {
            return KeyFile.Parse(content, path);
        }
        catch (KeyFileException e)
        {
            throw new TimeMeshConfigException(Key, path, e.Message);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(content);
        }
    }

    /// <summary>A source's <c>key</c> option: an id that the keyfile defines.</summary>
    public static SymmetricKey? SourceKey(ConfigReader s, KeyRing keys)
    {
        if (!s.Has("key")) return null;
        long id = s.Integer("key", 1, uint.MaxValue);
        if (s.Switch("nts", false))
            throw new TimeMeshConfigException(s.DisplayName("key"), id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "a source is authenticated by a symmetric key or by NTS, not both: drop key or nts");
        if (keys.TryGet((uint)id, out var key)) return key;
        string defined = keys.Count == 0
            ? $"no keyfile is loaded; set {Key}"
            : $"{keys.Source} defines {string.Join(", ", keys.Keys.Select(k => k.Id))}";
        throw new TimeMeshConfigException(s.DisplayName("key"), id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"allowed: the id of a key in the keyfile ({defined})");
    }
}
