using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace TimeMesh.Core.Auth;

/// <summary>The keys of one keyfile by id, immutable: the server's receive loops look keys up without locks.</summary>
public sealed class KeyRing
{
    private readonly FrozenDictionary<uint, SymmetricKey> _keys;

    /// <summary>Indexes <paramref name="keys"/> by id. The ring does not own the keys' lifetime: whoever made them disposes them.</summary>
    /// <param name="keys">Keys with distinct ids (<see cref="KeyFile.Parse"/> guarantees this).</param>
    /// <param name="source">Where the keys came from, usually the keyfile's path; empty when built in code.</param>
    /// <param name="warnings">Problems that do not stop the keys being used; null for none.</param>
    public KeyRing(IEnumerable<SymmetricKey> keys, string source = "", IReadOnlyList<string>? warnings = null)
    {
        _keys = keys.ToFrozenDictionary(k => k.Id);
        Source = source;
        Warnings = warnings ?? [];
    }

    /// <summary>A ring with no keys: the server's default, under which every MAC'd request finds its key unknown.</summary>
    public static KeyRing Empty { get; } = new([]);

    /// <summary>Where the keys came from (the keyfile's path), for messages.</summary>
    public string Source { get; }
    /// <summary>What is legal but unwise in the file (keys shorter than 80 bits, as chrony warns).</summary>
    public IReadOnlyList<string> Warnings { get; }
    /// <summary>How many keys the ring holds.</summary>
    public int Count => _keys.Count;
    /// <summary>The keys in ascending id order (sorted on each call, so for listing rather than the packet path).</summary>
    public IEnumerable<SymmetricKey> Keys => _keys.Values.OrderBy(k => k.Id);

    /// <summary>Looks up the key an NTP MAC names by its 32-bit key id.</summary>
    /// <returns>True and the key when the id is in the ring; false and null otherwise.</returns>
    public bool TryGet(uint id, [MaybeNullWhen(false)] out SymmetricKey key) => _keys.TryGetValue(id, out key);

    /// <summary>Whether the ring holds a key with this id; never true for 0, which no key can have.</summary>
    public bool Contains(uint id) => _keys.ContainsKey(id);
}
