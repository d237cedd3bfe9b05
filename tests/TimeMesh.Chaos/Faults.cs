namespace TimeMesh.Chaos;

/// <summary>The kinds of fault. <see cref="Stranger"/> and <see cref="ForgedStatus"/> are hooks for later: drawn only when asked for.</summary>
internal enum FaultKind
{
    /// <summary>SIGKILL a node, restart it after the hold.</summary>
    Kill,
    /// <summary>SIGSTOP a node for 1–6 s, then SIGCONT: a long GC pause.</summary>
    Pause,
    /// <summary>One master cut off from everything else (nodes and upstream).</summary>
    PartitionMaster,
    /// <summary>The masters (with the upstream) cut off from the members.</summary>
    PartitionMastersMembers,
    /// <summary>One member cut off from everything else.</summary>
    PartitionMemberAlone,
    /// <summary>The upstream lost: its namespace partitioned from the nodes, or chronyd SIGSTOPped.</summary>
    UpstreamLost,
    /// <summary>Every node SIGKILLed at once (a power cut), all started again together after the hold.</summary>
    RestartAll,
    /// <summary>Hook: a node of another cluster (or a stray client) speaking to the mesh. Not implemented yet.</summary>
    Stranger,
    /// <summary>Hook: a node publishing forged time statuses (e.g. a better stratum than it has). Not implemented yet.</summary>
    ForgedStatus,
}

/// <summary>
/// One fault with every random choice already drawn from the seed, so that a seed gives the same sequence
/// whatever happens at run time. <see cref="Target"/> is a node index (0-based within its role group) or the
/// upstream variant; <see cref="HoldSeconds"/> how long the fault lasts before it heals.
/// </summary>
internal sealed record FaultSpec(int Round, FaultKind Kind, int Target, int Variant, double HoldSeconds);

/// <summary>A fault being applied to the mesh. New kinds implement this and get a case in <see cref="Faults.Create"/>.</summary>
internal interface IFault
{
    FaultSpec Spec { get; }
    string Describe();
    /// <summary>Applies the fault; returns when it is in force.</summary>
    void Apply(World world);
    /// <summary>Undoes it (restart, SIGCONT, remove the partition rules); returns when healed.</summary>
    void Heal(World world);
    /// <summary>The master whose SIGKILL this is (for the fail-over figures), or null.</summary>
    NodeProcess? KilledMaster(World world) => null;
}

internal static class Faults
{
    public static readonly FaultKind[] Default =
        [FaultKind.Kill, FaultKind.Pause, FaultKind.PartitionMaster, FaultKind.PartitionMastersMembers, FaultKind.PartitionMemberAlone, FaultKind.UpstreamLost, FaultKind.RestartAll];

    public static FaultKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "kill" => FaultKind.Kill,
        "pause" or "stop" => FaultKind.Pause,
        "partition-master" => FaultKind.PartitionMaster,
        "partition-masters-members" => FaultKind.PartitionMastersMembers,
        "partition-member" or "member-alone" => FaultKind.PartitionMemberAlone,
        "upstream" or "upstream-lost" => FaultKind.UpstreamLost,
        "restart-all" => FaultKind.RestartAll,
        "stranger" => FaultKind.Stranger,
        "forged-status" => FaultKind.ForgedStatus,
        _ => throw new ArgumentException($"unknown fault kind '{name}'; known: kill, pause, partition-master, partition-masters-members, partition-member, upstream, restart-all"),
    };

    public static string Name(FaultKind k) => k switch
    {
        FaultKind.Kill => "kill",
        FaultKind.Pause => "pause",
        FaultKind.PartitionMaster => "partition-master",
        FaultKind.PartitionMastersMembers => "partition-masters-members",
        FaultKind.PartitionMemberAlone => "partition-member",
        FaultKind.UpstreamLost => "upstream",
        FaultKind.RestartAll => "restart-all",
        FaultKind.Stranger => "stranger",
        FaultKind.ForgedStatus => "forged-status",
        _ => k.ToString(),
    };

    /// <summary>
    /// Draws <paramref name="rounds"/> faults from <paramref name="seed"/>. Only the seed, the node count and
    /// the kinds decide the sequence (the random source is used for nothing else).
    /// </summary>
    public static IReadOnlyList<FaultSpec> Plan(int seed, int rounds, int nodes, IReadOnlyList<FaultKind> kinds, double? holdSeconds = null)
    {
        var random = new Random(seed);
        int members = nodes - 2;
        var plan = new List<FaultSpec>();
        for (int r = 1; r <= rounds; r++)
        {
            var kind = kinds[random.Next(kinds.Count)];
            // Every draw happens for every kind, so one kind's draws never shift the next round's.
            int anyNode = random.Next(nodes);
            int master = random.Next(2);
            int member = random.Next(members);
            int variant = random.Next(2);
            double hold = 2 + random.NextDouble() * 8;   // 2–10 s
            double pause = 1 + random.NextDouble() * 5;  // 1–6 s
            int target = kind switch
            {
                FaultKind.Kill or FaultKind.Pause => anyNode,
                FaultKind.PartitionMaster => master,
                FaultKind.PartitionMemberAlone => 2 + member,
                _ => 0,
            };
            plan.Add(new FaultSpec(r, kind, target, variant, holdSeconds ?? Math.Round(kind == FaultKind.Pause ? pause : hold, 1)));
        }
        return plan;
    }

    /// <summary>The plan on one line: round:kind(target)/hold, e.g. <c>3:kill(n1)/4.2s</c>.</summary>
    public static string Describe(IEnumerable<FaultSpec> plan) => string.Join(", ", plan.Select(f =>
        $"{f.Round}:{Name(f.Kind)}{(f.Kind is FaultKind.Kill or FaultKind.Pause or FaultKind.PartitionMaster or FaultKind.PartitionMemberAlone ? $"(n{f.Target + 1})" : f.Kind == FaultKind.UpstreamLost ? (f.Variant == 0 ? "(nft)" : "(stop)") : "")}/{f.HoldSeconds:0.0}s"));

    public static IFault Create(FaultSpec spec) => spec.Kind switch
    {
        FaultKind.Kill => new KillFault(spec),
        FaultKind.Pause => new PauseFault(spec),
        FaultKind.PartitionMaster or FaultKind.PartitionMastersMembers or FaultKind.PartitionMemberAlone => new PartitionFault(spec),
        FaultKind.UpstreamLost => new UpstreamFault(spec),
        FaultKind.RestartAll => new RestartAllFault(spec),
        FaultKind.Stranger or FaultKind.ForgedStatus => throw new NotSupportedException($"fault '{Name(spec.Kind)}' is a hook for later; not implemented yet"),
        _ => throw new NotSupportedException(spec.Kind.ToString()),
    };

    private sealed class KillFault(FaultSpec spec) : IFault
    {
        public FaultSpec Spec => spec;
        public string Describe() => $"SIGKILL n{spec.Target + 1}, restart after {spec.HoldSeconds:0.0} s";
        public void Apply(World w) => w.KillNode(w.Nodes[spec.Target]);
        public void Heal(World w) => w.StartNode(w.Nodes[spec.Target], $"restart after SIGKILL (round {spec.Round})");
        public NodeProcess? KilledMaster(World w) => w.Nodes[spec.Target] is { Role: Role.Master } m ? m : null;
    }

    private sealed class PauseFault(FaultSpec spec) : IFault
    {
        public FaultSpec Spec => spec;
        public string Describe() => $"SIGSTOP n{spec.Target + 1} for {spec.HoldSeconds:0.0} s, then SIGCONT";
        public void Apply(World w) => w.StopNode(w.Nodes[spec.Target]);
        public void Heal(World w) => w.ContinueNode(w.Nodes[spec.Target]);
    }

    private sealed class PartitionFault(FaultSpec spec) : IFault
    {
        public FaultSpec Spec => spec;

        private (List<Host> A, List<Host> B) Sides(World w)
        {
            var all = w.Nodes.Select(n => n.Host).Append(Topology.Upstream).ToList();
            List<Host> a = spec.Kind switch
            {
                FaultKind.PartitionMaster => [w.Nodes[spec.Target].Host],
                FaultKind.PartitionMemberAlone => [w.Nodes[spec.Target].Host],
                _ => w.Members.Select(n => n.Host).ToList(),
            };
            return (a, all.Except(a).ToList());
        }

        public string Describe() => spec.Kind switch
        {
            FaultKind.PartitionMaster => $"partition n{spec.Target + 1} (master) | rest for {spec.HoldSeconds:0.0} s",
            FaultKind.PartitionMemberAlone => $"partition n{spec.Target + 1} (member) alone for {spec.HoldSeconds:0.0} s",
            _ => $"partition masters+upstream | members for {spec.HoldSeconds:0.0} s",
        };

        public void Apply(World w)
        {
            var (a, b) = Sides(w);
            w.Partition([a, b]);
        }

        public void Heal(World w) => w.Heal();
    }

    private sealed class UpstreamFault(FaultSpec spec) : IFault
    {
        public FaultSpec Spec => spec;
        public string Describe() => spec.Variant == 0
            ? $"upstream lost: its namespace partitioned from the nodes for {spec.HoldSeconds:0.0} s"
            : $"upstream lost: chronyd SIGSTOPped for {spec.HoldSeconds:0.0} s";

        public void Apply(World w)
        {
            if (spec.Variant == 0) w.Partition([[Topology.Upstream], w.Nodes.Select(n => n.Host).ToList()]);
            else w.StopUpstream();
        }

        public void Heal(World w)
        {
            if (spec.Variant == 0) w.Heal();
            else w.ContinueUpstream();
        }
    }

    private sealed class RestartAllFault(FaultSpec spec) : IFault
    {
        public FaultSpec Spec => spec;
        public string Describe() => $"SIGKILL all nodes, start them all again after {spec.HoldSeconds:0.0} s";
        public void Apply(World w)
        {
            foreach (var n in w.Nodes) w.KillNode(n);
        }

        public void Heal(World w)
        {
            foreach (var n in w.Nodes) w.StartNode(n, $"restart all (round {spec.Round})");
        }
    }
}
