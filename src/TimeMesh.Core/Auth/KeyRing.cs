using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace TimeMesh.Core.Auth;

/// <summary>The keys of one keyfile by id, immutable: the server's receive loops look keys up without locks.</summary>
public sealed class KeyRing
{
    private readonly FrozenDictionary<uint, SymmetricKey> _keys;

    public KeyRing(IEnumerable<SymmetricKey> keys, string source = "", IReadOnlyList<string>? warnings = null)
    {
        _keys = keys.ToFrozenDictionary(k => k.Id);
        Source = source;
        Warnings = warnings ?? [];
    }

    public static KeyRing Empty { get; } = new([]);

    /// <summary>Where the keys came from (the keyfile's path), for messages.</summary>
    public string Source { get; }
    /// <summary>What is legal but unwise in the file (keys shorter than 80 bits, as chrony warns).</summary>
    public IReadOnlyList<string> Warnings { get; }
    public int Count => _keys.Count;
    public IEnumerable<SymmetricKey> Keys => _keys.Values.OrderBy(k => k.Id);

    public bool TryGet(uint id, [MaybeNullWhen(false)] out SymmetricKey key) => _keys.TryGetValue(id, out key);

    public bool Contains(uint id) => _keys.ContainsKey(id);
}
