using System.Diagnostics;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Chaos;

/// <summary>One mesh run: a topology size, a number of faults, the seed they are drawn from.</summary>
internal sealed record Phase(int Nodes, int Rounds, int Seed);

internal sealed class PhaseResult
{
    public required Phase Phase { get; init; }
    public Dictionary<FaultKind, int> FaultsByKind { get; } = new();
    public List<(string Member, double KillT, double? Seconds)> Failovers { get; } = new();
    public List<(int Round, FaultKind Kind, double? Seconds)> ClusterAfterHeal { get; } = new();
    public double? InitialCluster { get; set; }
    public List<Violation> Violations { get; } = new();
    /// <summary>What the checker could not judge because this machine's own clock had been stepped (see <see cref="Checker.Excluded"/>).</summary>
    public List<Violation> Excluded { get; } = new();
    public List<(double T, double Step)> MachineSteps { get; } = new();
    public List<(double Start, double End)> DisturbedWindows { get; } = new();
    public long Samples { get; set; }
    public long CleanSamples { get; set; }
    public int RoundsRun { get; set; }
    public double Seconds { get; set; }
}

internal sealed class Runner(Options options, string runDir, string timemeshDll, CancellationToken cancel)
{
    private readonly Action<string> _print = line => { lock (Console.Out) Console.WriteLine(line); };

    private void Sleep(double seconds)
    {
        if (seconds > 0 && cancel.WaitHandle.WaitOne(TimeSpan.FromSeconds(seconds))) throw new OperationCanceledException(cancel);
    }

    private static List<NodeProcess> MakeNodes(int count, string dir, string timemeshDll)
    {
        var masters = new[] { Topology.Node(1), Topology.Node(2) };
        var nodes = Enumerable.Range(1, count)
            .Select(i => new NodeProcess(Topology.Node(i), i <= 2 ? Role.Master : Role.Member, Path.Combine(dir, $"n{i}"), timemeshDll))
            .ToList();
        foreach (var n in nodes) n.WriteConfig(masters);
        return nodes;
    }

    /// <param name="started">Told the phase's result as soon as it exists, so that a run interrupted inside the phase
    /// still reports what the phase saw until then (its violations among them).</param>
    public PhaseResult RunPhase(Phase phase, int index, UpstreamChrony upstream, Action<PhaseResult>? started = null)
    {
        var result = new PhaseResult { Phase = phase };
        started?.Invoke(result);
        var plan = Faults.Plan(phase.Seed, phase.Rounds, phase.Nodes, options.Kinds, options.Hold);
        _print($"== phase {index}: {phase.Nodes} nodes (2 masters + {phase.Nodes - 2} members), {phase.Rounds} faults, seed {phase.Seed}");
        _print($"   replay: {options.ReplayCommand(phase)}");
        _print($"   plan: {Faults.Describe(plan)}");
        var faults = plan.Select(Faults.Create).ToList(); // a hook kind fails here, before anything runs

        var nodes = MakeNodes(phase.Nodes, Path.Combine(runDir, $"phase{index}"), timemeshDll);
        var world = new World(nodes, upstream, _print) { TimeMeshDll = timemeshDll, IntruderDir = Path.Combine(runDir, $"phase{index}", "x") };
        world.Heal();
        var checker = new Checker(world, options.MaxDelaySeconds, meshPollSeconds: 1.0);
        var clock = Stopwatch.StartNew();
        try
        {
            checker.Start();
            world.Event($"start all {nodes.Count} nodes");
            foreach (var n in nodes) world.StartNode(n, "initial start");
            double t0 = world.Now;
            // The first formation: every node started at once (a figure; the run goes on either way).
            WaitRecovered(world, checker, t0, 60);
            result.InitialCluster = checker.FirstOneClusterAfter(t0) - t0;
            world.Event(result.InitialCluster is { } ic
                ? $"initial start: one cluster {ic:0.0} s after the start"
                : $"initial start: no single cluster within 60 s ({checker.LastClusterDetail()})\n{checker.Snapshot()}");

            double lastHeal = t0;
            foreach (var fault in faults)
            {
                cancel.ThrowIfCancellationRequested();
                var spec = fault.Spec;
                world.Event($"fault {spec.Round}/{phase.Rounds} [{Faults.Name(spec.Kind)}]: {fault.Describe()}");
                result.FaultsByKind[spec.Kind] = result.FaultsByKind.GetValueOrDefault(spec.Kind) + 1;
                var killedMaster = fault.KilledMaster(world);
                fault.Apply(world);
                if (killedMaster is not null)
                {
                    var other = world.Masters.First(m => m != killedMaster);
                    int followers = checker.WatchFailover(world.Now, killedMaster, other);
                    if (followers > 0) world.Event($"  {killedMaster.Label} was followed by {followers} member(s): timing their fail-over to {other.Label}");
                }
                Sleep(spec.HoldSeconds);
                fault.Heal(world);
                lastHeal = world.Now;
                world.Event($"  healed round {spec.Round}");
                bool recovered = WaitRecovered(world, checker, lastHeal, options.RecoveryCapSeconds);
                double? cluster = checker.FirstOneClusterAfter(lastHeal) - lastHeal;
                result.ClusterAfterHeal.Add((spec.Round, spec.Kind, cluster));
                checker.EndFailoverWatches();
                world.Event(recovered
                    ? $"  recovered: one cluster {cluster:0.0} s after the heal, every node synchronised"
                    : $"  not recovered within {options.RecoveryCapSeconds:0} s: cluster {(cluster is { } c ? $"after {c:0.0} s" : "not one")}; {checker.LastClusterDetail()}\n{checker.Snapshot()}");
                result.RoundsRun++;
                Sleep(1);
            }

            // The last heal: one cluster with every live node within 30 s, and long enough for the sync deadline.
            const double clusterDeadline = 30;
            while (checker.FirstOneClusterAfter(lastHeal) is null && world.Now - lastHeal < clusterDeadline) Sleep(0.25);
            Sleep(Math.Max(0, lastHeal + Checker.SyncDeadlineSeconds + 1 - world.Now));
            if (checker.FirstOneClusterAfter(lastHeal) is not { } final)
            {
                checker.ReportCluster(world.Now, world.Now - lastHeal, checker.LastClusterDetail() + "\n" + checker.Snapshot());
            }
            else world.Event($"end: one cluster {final - lastHeal:0.0} s after the last heal");
        }
        finally
        {
            checker.Stop();
            world.Intruder?.Close();
            foreach (var n in nodes) n.Close();
            world.Heal();
            result.Violations.AddRange(checker.Violations);
            result.Excluded.AddRange(checker.Excluded);
            result.MachineSteps.AddRange(checker.MachineSteps);
            result.DisturbedWindows.AddRange(checker.DisturbedWindows);
            result.Failovers.AddRange(checker.Failovers());
            result.Samples = checker.SampleCount;
            result.CleanSamples = checker.CleanCount;
            result.Seconds = clock.Elapsed.TotalSeconds;
        }
        return result;
    }

    /// <summary>Waits until one cluster with every live node is seen and every node is synchronised, at most <paramref name="cap"/> s.</summary>
    private bool WaitRecovered(World world, Checker checker, double since, double cap)
    {
        while (world.Now - since < cap)
        {
            if (checker.FirstOneClusterAfter(since) is not null && checker.LastRoundOneCluster(since) && checker.AllSynced(since)) return true;
            Sleep(0.25);
        }
        return false;
    }

    // ---------------- repeated starts (issue 10 step 5) ----------------

    public sealed record StartTry(int Try, double SpreadMs, double? UpSeconds, double? ClusterSeconds, double? MemberSyncSeconds, string Detail)
    {
        public bool Ok => ClusterSeconds <= Limit && MemberSyncSeconds <= Limit;
    }

    /// <summary>A start passes when one cluster and the member's sync are seen within this many seconds of the first process start.</summary>
    public const double Limit = 10;
    /// <summary>How long a try is watched (so that a slow one still gives its times).</summary>
    private const double Watch = 20;

    public (List<StartTry> Tries, List<Violation> Violations) RunStarts(int count, UpstreamChrony upstream)
    {
        _print($"== repeated starts: 2 masters + 1 member started within 100 ms of each other, {count} times; each: one cluster and the member synchronised within {Limit:0} s (watched up to {Watch:0} s)");
        var tries = new List<StartTry>();
        var violations = new List<Violation>();
        for (int k = 1; k <= count; k++)
        {
            cancel.ThrowIfCancellationRequested();
            var nodes = MakeNodes(3, Path.Combine(runDir, $"start{k}"), timemeshDll);
            var world = new World(nodes, upstream, _ => { });
            world.Heal();
            var checker = new Checker(world, options.MaxDelaySeconds, meshPollSeconds: 0.25);
            try
            {
                checker.Start();
                var spread = Stopwatch.StartNew();
                double t0 = world.Now;
                world.Event($"repeated start {k}/{count}: all 3 nodes started at once (data wiped)");
                foreach (var n in nodes) world.StartNode(n, $"repeated start {k}");
                double spreadMs = spread.Elapsed.TotalMilliseconds;
                double? cluster = null, sync = null, up = null;
                var member = nodes[2];
                var masterIds = nodes.Take(2).Select(m => ReferenceIds.FromAddress(System.Net.IPAddress.Parse(m.Host.Address))).ToHashSet();
                while (world.Now - t0 < Watch && (cluster is null || sync is null))
                {
                    cluster ??= checker.FirstOneClusterAfter(t0) - t0;
                    if (up is null && nodes.All(n => checker.FirstAnswer(n) is not null)) up = nodes.Max(n => checker.FirstAnswer(n)!.Value) - t0;
                    if (sync is null && checker.Latest(member.Name) is { Answered: true, Leap: LeapIndicator.NoWarning } s && masterIds.Contains(s.RefId) && s.Stratum <= 3)
                        sync = s.T - t0;
                    Sleep(0.05);
                }
                var t = new StartTry(k, spreadMs, up, cluster, sync, "");
                string detail = t.Ok ? "" : $"\n      {checker.LastClusterDetail()}\n{checker.Snapshot()}";
                tries.Add(t with { Detail = detail });
                _print($"   start {k,3}/{count}: {(t.Ok ? "ok  " : "FAIL")} started within {spreadMs:0} ms; all answering NTP {Fmt(up)}; one cluster {Fmt(cluster)}; member synchronised {Fmt(sync)}{detail}");
            }
            finally
            {
                checker.Stop();
                foreach (var n in nodes)
                {
                    n.Close();
                    n.WipeData();
                }
                violations.AddRange(checker.Violations);
            }
        }
        return (tries, violations);
    }

    private static string Fmt(double? seconds) => seconds is { } s ? $"{s:0.00} s" : $"not within {Watch:0} s";
}
