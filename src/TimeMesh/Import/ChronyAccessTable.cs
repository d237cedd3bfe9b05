using System.Net;

namespace TimeMesh.Cli.Import;

/// <summary>
/// chronyd's table of allow/deny rules, replayed in file order so that its order-dependent results can be
/// written as TimeMesh's two order-free lists. chronyd keeps a tree with one level per 4 address bits; a
/// rule sets the nodes its subnet covers (a /22 sets four /24 nodes), <c>all</c> also clears everything
/// below them, and an address takes the state of the deepest set node on its path (deny when none).
/// Every set node has its own prefix, so "longest matching prefix wins" over the set nodes — TimeMesh's
/// rule — decides exactly as chronyd does.
/// </summary>
internal sealed class ChronyAccessTable
{
    private const int BitsPerLevel = 4;

    private enum State : byte { AsParent, Allow, Deny }

    private sealed class Node
    {
        public State State;
        public int Line;
        public Node[]? Children;
    }

    /// <summary>One TimeMesh rule: a subnet in chrony's text form and whether it allows.</summary>
    public readonly record struct Rule(string Subnet, bool Allow);

    private readonly Node _ipv4 = new() { State = State.Deny };
    private readonly Node _ipv6 = new() { State = State.Deny };
    private readonly Dictionary<int, int> _nodesSetByLine = new();
    private readonly Dictionary<int, int> _overriddenBy = new();

    /// <summary>
    /// Applies one directive. <paramref name="address"/> null means both families (chrony's bare
    /// <c>allow</c>/<c>deny</c>, prefix 0). Returns false if chronyd would refuse the prefix length.
    /// </summary>
    public bool Apply(int line, bool allow, bool all, IPAddress? address, int prefixLength)
    {
        var state = allow ? State.Allow : State.Deny;
        if (address is null)
        {
            if (prefixLength != 0) return false;
            Set(_ipv4, new byte[4], 0, state, all, line);
            Set(_ipv6, new byte[16], 0, state, all, line);
            return true;
        }
        byte[] bytes = address.GetAddressBytes();
        if (prefixLength < 0 || prefixLength > bytes.Length * 8) return false;
        Set(bytes.Length == 4 ? _ipv4 : _ipv6, bytes, prefixLength, state, all, line);
        return true;
    }

    /// <summary>The line of the directive that undid every node <paramref name="line"/> set, if one did.</summary>
    public int? OverriddenBy(int line)
    {
        if (_nodesSetByLine.ContainsKey(line)) return null;
        return _overriddenBy.TryGetValue(line, out int by) ? by : null;
    }

    private static int Nibble(byte[] address, int index) =>
        index % 2 == 0 ? address[index / 2] >> 4 : address[index / 2] & 0xF;

    private void Set(Node root, byte[] address, int prefixLength, State state, bool deleteChildren, int line)
    {
        var node = root;
        int level = 0;
        int bitsToGo = prefixLength;
        while (bitsToGo >= BitsPerLevel)
        {
            node.Children ??= NewChildren();
            node = node.Children[Nibble(address, level)];
            bitsToGo -= BitsPerLevel;
            level++;
        }
        if (bitsToGo == 0)
        {
            Assign(node, state, deleteChildren, line);
            return;
        }
        // A prefix between two levels sets 2, 4 or 8 neighbouring nodes of the next level, as chronyd does.
        int count = 1 << (BitsPerLevel - bitsToGo);
        int first = Nibble(address, level) & ~(count - 1);
        node.Children ??= NewChildren();
        for (int i = first; i < first + count; i++) Assign(node.Children[i], state, deleteChildren, line);
    }

    private static Node[] NewChildren()
    {
        var children = new Node[1 << BitsPerLevel];
        for (int i = 0; i < children.Length; i++) children[i] = new Node();
        return children;
    }

    private void Assign(Node node, State state, bool deleteChildren, int line)
    {
        if (deleteChildren && node.Children is not null)
        {
            foreach (var child in node.Children) Release(child, line);
            node.Children = null;
        }
        if (node.State != State.AsParent) Forget(node.Line, line);
        node.State = state;
        node.Line = line;
        _nodesSetByLine[line] = _nodesSetByLine.GetValueOrDefault(line) + 1;
    }

    private void Release(Node node, int byLine)
    {
        if (node.State != State.AsParent) Forget(node.Line, byLine);
        if (node.Children is null) return;
        foreach (var child in node.Children) Release(child, byLine);
    }

    private void Forget(int ownerLine, int byLine)
    {
        // Line 0 is the initial "deny everything" of the two roots.
        if (ownerLine == 0) return;
        if (--_nodesSetByLine[ownerLine] == 0) _nodesSetByLine.Remove(ownerLine);
        _overriddenBy[ownerLine] = byLine;
    }

    /// <summary>
    /// The rules that decide as the table does under "most specific wins", in address order. Neighbouring
    /// nodes of one level with the same state are written as one shorter prefix again (the /22 comes back
    /// as a /22); that cannot change a decision, because no other rule has a prefix length between two
    /// levels. The roots' initial deny is TimeMesh's default and is left out.
    /// </summary>
    public IReadOnlyList<Rule> Rules()
    {
        var rules = new List<Rule>();
        bool allIPv4 = _ipv4.State == State.Allow, allIPv6 = _ipv6.State == State.Allow;
        if (allIPv4 && allIPv6) rules.Add(new Rule("all", true));
        else if (allIPv4) rules.Add(new Rule("0.0.0.0/0", true));
        else if (allIPv6) rules.Add(new Rule("::/0", true));
        Collect(_ipv4, new byte[4], 0, rules);
        Collect(_ipv6, new byte[16], 0, rules);
        return rules;
    }

    private static void Collect(Node parent, byte[] prefix, int level, List<Rule> rules)
    {
        if (parent.Children is not { } children) return;
        for (int i = 0; i < children.Length;)
        {
            if (children[i].State == State.AsParent)
            {
                i++;
                continue;
            }
            // The largest aligned block (8, 4, 2) starting here whose nodes all have this node's state.
            int size = 1;
            for (int candidate = 8; candidate > 1; candidate /= 2)
            {
                if (i % candidate != 0 || i + candidate > children.Length) continue;
                bool same = true;
                for (int j = i; j < i + candidate && same; j++) same = children[j].State == children[i].State;
                if (same)
                {
                    size = candidate;
                    break;
                }
            }
            byte[] network = WithNibble(prefix, level, i);
            int bits = (level + 1) * BitsPerLevel - System.Numerics.BitOperations.Log2((uint)size);
            rules.Add(new Rule(Format(network, bits), children[i].State == State.Allow));
            i += size;
        }
        for (int i = 0; i < children.Length; i++)
            Collect(children[i], WithNibble(prefix, level, i), level + 1, rules);
    }

    private static byte[] WithNibble(byte[] prefix, int level, int nibble)
    {
        byte[] copy = (byte[])prefix.Clone();
        copy[level / 2] = level % 2 == 0
            ? (byte)((copy[level / 2] & 0x0F) | (nibble << 4))
            : (byte)((copy[level / 2] & 0xF0) | nibble);
        return copy;
    }

    private static string Format(byte[] network, int prefixLength)
    {
        string address = new IPAddress(network).ToString();
        return prefixLength == network.Length * 8 ? address : $"{address}/{prefixLength}";
    }
}
