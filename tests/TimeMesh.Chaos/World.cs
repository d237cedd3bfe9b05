using System.Diagnostics;

namespace TimeMesh.Chaos;

/// <summary>
/// What the fault injector has done to the mesh, as the checker needs it: which node processes run, which
/// are SIGSTOPped or dead, which pairs of hosts are partitioned, and the history of it all (every line with
/// its time since the start of the run). Every change goes through here, under one lock.
/// </summary>
internal sealed class World
{
    private readonly object _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<string, ProcState> _state = new();
    private readonly Dictionary<string, double> _runningSince = new();
    private readonly HashSet<(string, string)> _blocked = new();
    private readonly List<(double T, string Text)> _history = new();
    private bool _upstreamStopped;

    public IReadOnlyList<NodeProcess> Nodes { get; }
    public IReadOnlyList<NodeProcess> Masters => Nodes.Where(n => n.Role == Role.Master).ToList();
    public IReadOnlyList<NodeProcess> Members => Nodes.Where(n => n.Role == Role.Member).ToList();
    public UpstreamChrony Upstream { get; }
    public Action<string> Print { get; }

    /// <summary>The node build (for the stranger) and a directory for the intruder's files and logs.</summary>
    public string TimeMeshDll { get; init; } = "";
    public string IntruderDir { get; init; } = Path.GetTempPath();

    /// <summary>The intruder process running now (a stranger node or the forger), or null.</summary>
    public IntruderProcess? Intruder { get; set; }

    public World(IReadOnlyList<NodeProcess> nodes, UpstreamChrony upstream, Action<string> print)
    {
        Nodes = nodes;
        Upstream = upstream;
        Print = print;
        foreach (var n in nodes) _state[n.Name] = ProcState.Down;
    }

    /// <summary>Seconds since the run started (monotonic).</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    public NodeProcess Node(string name) => Nodes.First(n => n.Name == name);

    public void Event(string text)
    {
        lock (_lock) _history.Add((Now, text));
        Print($"[{Now,7:0.00}s] {text}");
    }

    /// <summary>The history up to time <paramref name="t"/>, the last <paramref name="lines"/> lines.</summary>
    public IReadOnlyList<string> HistoryBefore(double t, int lines)
    {
        lock (_lock) return _history.Where(h => h.T <= t).TakeLast(lines).Select(h => $"{h.T,7:0.00}s {h.Text}").ToList();
    }

    public ProcState State(string node) { lock (_lock) return _state[node]; }

    /// <summary>When the node last became running (started, restarted or continued after SIGSTOP).</summary>
    public double RunningSince(string node) { lock (_lock) return _runningSince.GetValueOrDefault(node); }

    private void SetState(string node, ProcState state)
    {
        if (state == ProcState.Running && _state[node] != ProcState.Running) _runningSince[node] = Now;
        _state[node] = state;
    }

    public bool UpstreamStopped { get { lock (_lock) return _upstreamStopped; } }

    /// <summary>Live: running and not stopped.</summary>
    public IReadOnlyList<NodeProcess> Live() { lock (_lock) return Nodes.Where(n => _state[n.Name] == ProcState.Running).ToList(); }

    public bool Blocked(string a, string b) { lock (_lock) return _blocked.Contains(Key(a, b)); }

    public bool AnyPartition { get { lock (_lock) return _blocked.Count > 0; } }

    private static (string, string) Key(string a, string b) => string.CompareOrdinal(a, b) < 0 ? (a, b) : (b, a);

    // ---- changes (the fault injector's verbs) ----

    public void StartNode(NodeProcess n, string why)
    {
        n.Start(why);
        lock (_lock) SetState(n.Name, ProcState.Running);
    }

    public void KillNode(NodeProcess n)
    {
        lock (_lock) SetState(n.Name, ProcState.Down);
        n.Kill();
    }

    public void StopNode(NodeProcess n)
    {
        lock (_lock) SetState(n.Name, ProcState.Stopped);
        n.Stop();
    }

    public void ContinueNode(NodeProcess n)
    {
        n.Continue();
        lock (_lock) SetState(n.Name, ProcState.Running);
    }

    public void StopUpstream()
    {
        lock (_lock) _upstreamStopped = true;
        Upstream.Stop();
    }

    public void ContinueUpstream()
    {
        Upstream.Continue();
        lock (_lock) _upstreamStopped = false;
    }

    /// <summary>Partitions the hosts into the given sides: all traffic between hosts of different sides is dropped (nft, both hosts).</summary>
    public void Partition(IReadOnlyList<IReadOnlyList<Host>> sides)
    {
        var pairs = new List<(Host, Host)>();
        for (int i = 0; i < sides.Count; i++)
            for (int j = 0; j < sides.Count; j++)
                if (i != j) foreach (var a in sides[i]) foreach (var b in sides[j]) pairs.Add((a, b));
        // Mark first (the checker must not expect sync across a rule that is about to exist), then apply.
        lock (_lock) foreach (var (a, b) in pairs) _blocked.Add(Key(a.Name, b.Name));
        foreach (var g in pairs.GroupBy(p => p.Item1)) Topology.Block(g.Key, g.Select(p => p.Item2));
    }

    /// <summary>Removes every partition rule.</summary>
    public void Heal()
    {
        foreach (var h in new[] { Topology.Upstream }.Concat(Nodes.Select(n => n.Host))) Topology.Unblock(h);
        lock (_lock) _blocked.Clear();
    }
}
