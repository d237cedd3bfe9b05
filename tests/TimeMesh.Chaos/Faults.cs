namespace TimeMesh.Chaos;

/// <summary>The kinds of fault.</summary>
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
    /// <summary>
    /// A stock <c>timemesh run</c> on the intruder host that is no node of the mesh: role master, <c>local stratum 1</c>,
    /// the masters as its seeds. The chaos LAN runs without cluster TLS (<c>mesh.insecure = on</c>), so it joins the
    /// cluster; the pinned masters must keep every node from electing or following it. Leaves gracefully at the heal.
    /// </summary>
    Stranger,
    /// <summary>
    /// The forger (<see cref="Forger"/>) on the intruder host: a remote-only actor system telling every node's
    /// /user/mesh forged statuses (stratum 1, claiming leadership; named after itself, after master n1, or junk)
    /// for the hold; every one must be dropped.
    /// </summary>
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
        [FaultKind.Kill, FaultKind.Pause, FaultKind.PartitionMaster, FaultKind.PartitionMastersMembers, FaultKind.PartitionMemberAlone, FaultKind.UpstreamLost, FaultKind.RestartAll,
         FaultKind.Stranger, FaultKind.ForgedStatus];

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
        _ => throw new ArgumentException($"unknown fault kind '{name}'; known: kill, pause, partition-master, partition-masters-members, partition-member, upstream, restart-all, stranger, forged-status"),
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
        FaultKind.Stranger => new StrangerFault(spec),
        FaultKind.ForgedStatus => new ForgedStatusFault(spec),
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

    private sealed class StrangerFault(FaultSpec spec) : IFault
    {
        public FaultSpec Spec => spec;
        public string Describe() => $"a stranger ({Topology.Intruder.Address}, role master, local stratum 1) joins through the masters for {spec.HoldSeconds:0.0} s";

        public void Apply(World w)
        {
            var x = Topology.Intruder;
            Directory.CreateDirectory(w.IntruderDir);
            string config = Path.Combine(w.IntruderDir, $"stranger-{spec.Round}.hocon");
            string seeds = string.Join(", ", w.Masters.Select(m => $"\"{m.ClusterAddress}\""));
            File.WriteAllText(config, $$"""
                # written by the chaos suite: the stranger of round {{spec.Round}}, no node of the mesh
                timemesh {
                  role = master
                  listen = ["{{x.Address}}:{{NodeProcess.NtpPort}}"]
                  allow = ["{{Topology.Subnet}}"]
                  local { stratum = 1 }
                  data-dir = "{{Path.Combine(w.IntruderDir, $"stranger-{spec.Round}-data")}}"
                  control = off
                  mesh.insecure = on
                }
                akka {
                  remote.dot-netty.tcp { hostname = "{{x.Address}}", port = {{NodeProcess.ClusterPort}} }
                  cluster.seed-nodes = [{{seeds}}]
                }
                """);
            w.Intruder = IntruderProcess.Start($"stranger (round {spec.Round})", Path.Combine(w.IntruderDir, "intruder.log"),
                ["dotnet", w.TimeMeshDll, "run", "--config", config]);
            // In force once it is in the cluster (the hold counts from then), or after 30 s if it never gets in.
            var watch = System.Diagnostics.Stopwatch.StartNew();
            bool joined = w.Intruder.WaitFor("Welcome from", TimeSpan.FromSeconds(30));
            w.Event(joined ? $"  the stranger joined the cluster {watch.Elapsed.TotalSeconds:0.0} s after its start" : "  the stranger did not get into the cluster within 30 s");
        }

        public void Heal(World w)
        {
            var stranger = w.Intruder;
            w.Intruder = null;
            if (stranger is null) return;
            bool joined = stranger.Output.Contains("Welcome from", StringComparison.Ordinal);
            stranger.Close();
            w.Event($"  the stranger left (SIGINT); it had {(joined ? "joined the cluster (the chaos LAN runs without cluster TLS)" : "not joined the cluster")}");
        }
    }

    private sealed class ForgedStatusFault(FaultSpec spec) : IFault
    {
        public FaultSpec Spec => spec;
        public string Describe() => $"the forger ({Topology.Intruder.Address}) tells every node forged statuses for {spec.HoldSeconds:0.0} s";

        public void Apply(World w)
        {
            Directory.CreateDirectory(w.IntruderDir);
            var command = new List<string> { "dotnet", typeof(Forger).Assembly.Location, "forge", "--bind", Topology.Intruder.Address,
                "--ntp", $"{Topology.Intruder.Address}:{NodeProcess.NtpPort}", "--count", "1000000", "--rate", "500",
                "--seconds", spec.HoldSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture),
                "--name", "self", "--name", w.Masters[0].ClusterAddress, "--name", "long:300" };
            foreach (var n in w.Nodes) command.AddRange(["--target", n.ClusterAddress]);
            w.Intruder = IntruderProcess.Start($"forger (round {spec.Round})", Path.Combine(w.IntruderDir, "intruder.log"), command);
            // In force once it sends (after asking each node's mesh actor to identify itself).
            if (!w.Intruder.WaitFor("forge: sending", TimeSpan.FromSeconds(60))) w.Event("  the forger did not start sending within 60 s");
        }

        public void Heal(World w)
        {
            var forger = w.Intruder;
            w.Intruder = null;
            if (forger is null) return;
            // It stops by itself after the hold, then drains for 2 s.
            forger.Close(TimeSpan.FromSeconds(10));
            var lines = forger.Output.Split('\n').Where(l => l.StartsWith("forge: akka", StringComparison.Ordinal) || l.StartsWith("forge: done", StringComparison.Ordinal));
            w.Event("  " + (lines.Any() ? string.Join("; ", lines.Select(l => l.Trim())) : "the forger printed no summary (stopped early)"));
        }
    }
}
