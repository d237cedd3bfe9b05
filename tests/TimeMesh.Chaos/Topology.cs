namespace TimeMesh.Chaos;

/// <summary>One host of the test LAN: a network namespace with one address on the bridge.</summary>
internal sealed record Host(string Name, string Namespace, string Address);

/// <summary>
/// The test's own LAN: a bridge in a namespace of its own (<c>tmchaos-br</c>), and one namespace per host
/// (upstream chronyd, checker, each node) joined to it by a veth pair whose host end lives in the bridge's
/// namespace, so nothing of it is in the machine's own namespace. Addresses 10.213.0.0/24. Partitions are nft
/// rules (table <c>inet chaos</c>) in the hosts' namespaces. Everything is named with the prefix
/// <c>tmchaos-</c>; a leftover of a crashed run is removed at start, and deleting the namespaces removes the
/// veths and the bridge with them.
/// </summary>
internal sealed class Topology
{
    /// <summary>
    /// The names of this run's namespaces start with this: <c>tmchaos-</c>, or <c>tmchaosN-</c> for <c>--lan N</c>
    /// (a second LAN that runs beside the first: the addresses are the same, each LAN is its own set of namespaces).
    /// </summary>
    public static string Prefix { get; private set; } = "tmchaos-";
    public const string Subnet = "10.213.0.0/24";
    private static string BridgeNs => Prefix + "br";

    /// <summary>Chooses the LAN (0 = the default one); before anything else is done.</summary>
    public static void UseLan(int lan) => Prefix = lan == 0 ? "tmchaos-" : $"tmchaos{lan}-";

    public static Host Upstream => new("up", Prefix + "up", "10.213.0.2");
    public static Host Checker => new("checker", Prefix + "chk", "10.213.0.3");

    /// <summary>The stranger / forger of the stranger and forged-status faults: a host of the LAN that is no node.</summary>
    public static Host Intruder => new("x", Prefix + "x", "10.213.0.9");

    /// <summary>Node i (1-based): n1 and n2 are the masters, n3.. the members; 10.213.0.(10+i).</summary>
    public static Host Node(int i) => new($"n{i}", $"{Prefix}n{i}", $"10.213.0.{10 + i}");

    public const int MaxNodes = 5;

    /// <summary>Namespaces of earlier runs (this prefix) are deleted after the processes in them are killed.</summary>
    public static void RemoveLeftovers(Action<string> log)
    {
        var (_, list) = Sys.Run(["ip", "netns", "list"], check: false);
        foreach (string line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string ns = line.Split(' ')[0];
            if (!ns.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            log($"removing leftover namespace {ns}");
            KillProcessesIn(ns);
            Sys.Run(["ip", "netns", "del", ns], check: false);
        }
    }

    /// <summary>SIGKILLs every process that runs in the namespace (all of them were started by this tool).</summary>
    public static void KillProcessesIn(string ns)
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            var (_, pids) = Sys.Run(["ip", "netns", "pids", ns], check: false);
            var list = pids.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(p => int.TryParse(p.Trim(), out int v) ? v : 0).Where(p => p > 0).ToList();
            if (list.Count == 0) return;
            foreach (int pid in list) Sys.Signal(pid, Sys.SIGKILL);
            Thread.Sleep(100);
        }
    }

    public static IEnumerable<Host> AllHosts(int nodes) => new[] { Upstream, Checker, Intruder }.Concat(Enumerable.Range(1, nodes).Select(Node));

    public static void Create(int nodes)
    {
        Sys.Run("ip", "netns", "add", BridgeNs);
        Sys.Run("ip", "-n", BridgeNs, "link", "set", "lo", "up");
        Sys.Run("ip", "-n", BridgeNs, "link", "add", "br0", "type", "bridge");
        Sys.Run("ip", "-n", BridgeNs, "link", "set", "br0", "up");
        foreach (var h in AllHosts(nodes))
        {
            Sys.Run("ip", "netns", "add", h.Namespace);
            Sys.Run("ip", "-n", h.Namespace, "link", "set", "lo", "up");
            string port = "v" + h.Name;
            Sys.Run("ip", "-n", BridgeNs, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.Namespace);
            Sys.Run("ip", "-n", BridgeNs, "link", "set", port, "master", "br0");
            Sys.Run("ip", "-n", BridgeNs, "link", "set", port, "up");
            Sys.Run("ip", "-n", h.Namespace, "addr", "add", h.Address + "/24", "dev", "eth0");
            Sys.Run("ip", "-n", h.Namespace, "link", "set", "eth0", "up");
            // The chains partitions add their rules to; empty = no partition.
            Sys.Run(["ip", "netns", "exec", h.Namespace, "nft", "-f", "-"], stdin: """
                table inet chaos {
                  chain in { type filter hook input priority 0; policy accept; }
                  chain out { type filter hook output priority 0; policy accept; }
                }
                """);
        }
    }

    public static void Delete(int nodes)
    {
        foreach (var h in AllHosts(nodes).Reverse())
        {
            KillProcessesIn(h.Namespace);
            Sys.Run(["ip", "netns", "del", h.Namespace], check: false);
        }
        Sys.Run(["ip", "netns", "del", BridgeNs], check: false);
    }

    /// <summary>Drops all traffic between <paramref name="a"/> and each of <paramref name="others"/>, both ways, on a's side.</summary>
    public static void Block(Host a, IEnumerable<Host> others)
    {
        var rules = others.SelectMany(o => new[]
        {
            $"add rule inet chaos in ip saddr {o.Address} drop",
            $"add rule inet chaos out ip daddr {o.Address} drop",
        }).ToList();
        if (rules.Count == 0) return;
        Sys.Run(["ip", "netns", "exec", a.Namespace, "nft", "-f", "-"], stdin: string.Join('\n', rules) + "\n");
    }

    /// <summary>Removes every partition rule in the host's namespace.</summary>
    public static void Unblock(Host a) =>
        Sys.Run(["ip", "netns", "exec", a.Namespace, "nft", "-f", "-"], stdin: "flush chain inet chaos in\nflush chain inet chaos out\n");
}
