using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using TimeMesh.Chaos;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

// `forge`: a process outside the mesh telling forged statuses to its nodes (Forger.cs), run by the forged-status fault.
if (args.Length > 0 && args[0] == "forge") return Forger.Run(args[1..]);

Options options;
try
{
    options = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"chaos: {e.Message}\n\n{Options.Usage}");
    return 2;
}
if (options.Help)
{
    Console.WriteLine(Options.Usage);
    return 0;
}
if (options.DryRun)
{
    // The fault sequence a seed gives, without running anything (no root needed): replays print the same.
    foreach (var phase in options.Phases())
        Console.WriteLine($"{phase.Nodes} nodes, seed {phase.Seed}: {Faults.Describe(Faults.Plan(phase.Seed, phase.Rounds, phase.Nodes, options.Kinds, options.Hold))}");
    return 0;
}
Topology.UseLan(options.Lan);
return options.Inner ? Inner.Run(options) : Outer.Run(options);

/// <summary>
/// The part that runs in the machine's own namespace: checks the tools, takes the machine-wide lock, removes
/// a crashed run's leftovers, makes the namespaces, runs <see cref="Inner"/> inside the checker's namespace
/// (so every socket the checker opens is on the test LAN), and tears everything down, also on Ctrl+C.
/// </summary>
internal static class Outer
{
    private static string LockName => "\0" + Topology.Prefix + "lock";

    public static int Run(Options o)
    {
        Console.WriteLine($"chaos: seed {o.Seed}");
        Console.WriteLine($"chaos: replay with: {o.ReplayCommand(null)}");
        if (Sys.GetEuid() != 0) return Fail("needs root (network namespaces, nft)");
        foreach (var tool in new[] { "ip", "nft" })
            if (Sys.Which(tool) is null) return Fail($"`{tool}` is missing: install Debian's {(tool == "ip" ? "iproute2" : "nftables")} (tests/run-all.sh does)");
        if (!File.Exists(UpstreamChrony.ChronydPath)) return Fail($"{UpstreamChrony.ChronydPath} is missing: install Debian's chrony (tests/run-all.sh does)");
        string timemesh;
        try { timemesh = o.TimeMeshDll(); }
        catch (FileNotFoundException e) { return Fail(e.Message); }

        // One chaos run at a time on this machine (the namespace names are fixed): an abstract unix socket as
        // the lock, released by the kernel when this process ends however it ends, and leaving no file behind.
        using var lockSocket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        var waitLock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                lockSocket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(LockName));
                break;
            }
            catch (System.Net.Sockets.SocketException)
            {
                if (waitLock.Elapsed > TimeSpan.FromMinutes(10)) return Fail("another chaos run has been running for 10 minutes");
                if (waitLock.Elapsed.TotalSeconds < 1) Console.WriteLine("chaos: waiting for another chaos run to end");
                Thread.Sleep(1000);
            }
        }

        Topology.RemoveLeftovers(line => Console.WriteLine("chaos: " + line));
        foreach (var stale in Directory.GetDirectories(Path.GetTempPath(), Topology.Prefix + "run-*"))
        {
            Console.WriteLine($"chaos: removing leftover {stale}");
            try { Directory.Delete(stale, true); } catch (IOException) { }
        }
        string runDir = Path.Combine(Path.GetTempPath(), $"{Topology.Prefix}run-{Environment.ProcessId}");
        Directory.CreateDirectory(runDir);
        int nodes = o.MaxNodes;
        Process? inner = null;
        bool interrupted = false;
        void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            interrupted = true;
            // The inner run stops its nodes on SIGTERM (SIGINT may be ignored: a background job of a script).
            if (inner is { HasExited: false } p) Sys.Signal(p.Id, Sys.SIGTERM);
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        try
        {
            Topology.Create(nodes);
            var info = new ProcessStartInfo("ip") { UseShellExecute = false };
            // env: a SIGINT this process inherited as ignored (a background job of a script) is not passed on.
            foreach (var a in new[] { "netns", "exec", Topology.Checker.Namespace, "env", "--default-signal=INT" }) info.ArgumentList.Add(a);
            foreach (var a in SelfCommand()) info.ArgumentList.Add(a);
            foreach (var a in o.Raw) info.ArgumentList.Add(a);
            foreach (var a in new[] { "--inner", "--run-dir", runDir, "--timemesh", timemesh, "--seed", o.Seed.ToString(CultureInfo.InvariantCulture) }) info.ArgumentList.Add(a);
            inner = Process.Start(info)!;
            var limit = TimeSpan.FromHours(o.MaxHours);
            if (!inner.WaitForExit(limit))
            {
                Console.WriteLine($"chaos: the run took longer than {limit.TotalHours} h; stopping it");
                Sys.Signal(inner.Id, Sys.SIGTERM);
            }
            if (!inner.WaitForExit(TimeSpan.FromSeconds(30))) { Sys.Signal(inner.Id, Sys.SIGKILL); inner.WaitForExit(); }
            int code = interrupted ? 130 : inner.ExitCode;
            if (o.LogsDir is { } logs) CopyLogs(runDir, logs);
            return code;
        }
        finally
        {
            if (inner is { HasExited: false }) { Sys.Signal(inner.Id, Sys.SIGKILL); inner.WaitForExit(5000); }
            Topology.Delete(nodes);
            Topology.RemoveLeftovers(_ => { });
            try { Directory.Delete(runDir, true); } catch (IOException) { }
        }
    }

    private static IEnumerable<string> SelfCommand()
    {
        string host = Environment.ProcessPath!;
        string dll = typeof(Outer).Assembly.Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? [host, dll] : [host];
    }

    private static void CopyLogs(string runDir, string logs)
    {
        foreach (var file in Directory.GetFiles(runDir, "*.log", SearchOption.AllDirectories).Concat(Directory.GetFiles(runDir, "*.hocon", SearchOption.AllDirectories)))
        {
            string target = Path.Combine(logs, Path.GetRelativePath(runDir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
        Console.WriteLine($"chaos: node logs in {Path.GetFullPath(logs)}");
    }

    private static int Fail(string why)
    {
        Console.Error.WriteLine("chaos: " + why);
        return 2;
    }
}

/// <summary>The run itself, inside the checker's namespace: upstream chronyd, the phases, the figures.</summary>
internal static class Inner
{
    public static int Run(Options o)
    {
        using var cts = new CancellationTokenSource();
        void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            cts.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var upstream = new UpstreamChrony(Path.Combine(o.RunDir!, "upstream"));
        var runner = new Runner(o, o.RunDir!, o.TimeMeshDll(), cts.Token);
        var results = new List<PhaseResult>();
        List<Runner.StartTry>? starts = null;
        var startViolations = new List<Violation>();
        var clock = Stopwatch.StartNew();
        bool interrupted = false;
        try
        {
            upstream.Start();
            if (o.Starts is { } n)
            {
                (starts, startViolations) = runner.RunStarts(n, upstream);
            }
            else
            {
                int i = 1;
                foreach (var phase in o.Phases()) runner.RunPhase(phase, i++, upstream, results.Add);
            }
        }
        catch (OperationCanceledException)
        {
            interrupted = true;
            Console.WriteLine("chaos: interrupted");
        }
        finally
        {
            upstream.Close();
        }
        bool failed = Report.Print(o, results, starts, startViolations, clock.Elapsed, interrupted);
        if (interrupted) return 130;
        return failed ? 1 : 0;
    }
}

internal static class Report
{
    private static double Pct(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static string Stats(IEnumerable<double?> values, string unit = "s")
    {
        var all = values.ToList();
        var got = all.Where(v => v is not null).Select(v => v!.Value).Order().ToList();
        int missing = all.Count - got.Count;
        if (all.Count == 0) return "none measured";
        string s = got.Count == 0 ? "" : $"p50 {Pct(got, 50):0.00} {unit}, p99 {Pct(got, 99):0.00} {unit}, max {got[^1]:0.00} {unit} (n = {got.Count})";
        if (missing > 0) s += (s.Length > 0 ? "; " : "") + $"{missing} of {all.Count} not seen";
        return s;
    }

    /// <summary>Prints the figures and every violation; true when there was any violation or failed start.</summary>
    public static bool Print(Options o, List<PhaseResult> results, List<Runner.StartTry>? starts, List<Violation> startViolations, TimeSpan elapsed, bool interrupted)
    {
        string partial = interrupted ? " (INTERRUPTED: the run stopped early)" : "";
        var violations = results.SelectMany(r => r.Violations.Select(v => ((Phase?)r.Phase, v))).Concat(startViolations.Select(v => ((Phase?)null, v))).ToList();
        Console.WriteLine();
        Console.WriteLine($"==================== chaos figures (seed {o.Seed}, {elapsed.TotalSeconds:0} s) ====================");
        foreach (var r in results)
        {
            Console.WriteLine($"phase: {r.Phase.Nodes} nodes, seed {r.Phase.Seed}: {r.RoundsRun} of {r.Phase.Rounds} faults run in {r.Seconds:0} s; {r.Samples} NTP samples ({r.CleanSamples} answered within {o.MaxDelaySeconds * 1e3:0.#} ms)");
            Console.WriteLine($"  replay: {o.ReplayCommand(r.Phase)}");
            Console.WriteLine($"  faults by kind: {string.Join(", ", r.FaultsByKind.OrderBy(k => k.Key).Select(k => $"{Faults.Name(k.Key)} {k.Value}"))}");
            Console.WriteLine($"  first start: one cluster {(r.InitialCluster is { } ic ? $"{ic:0.0} s" : "not within 60 s")} after all nodes were started");
            Console.WriteLine($"  fail-over after SIGKILL of the followed master (kill -> member serves the other master's time; not seen = not before the recovery window ended): {Stats(r.Failovers.Select(f => f.Seconds))}");
            Console.WriteLine($"  time to one cluster after a heal: {Stats(r.ClusterAfterHeal.Select(c => c.Seconds))} (within the {o.RecoveryCapSeconds:0} s recovery window)");
            foreach (var g in r.ClusterAfterHeal.GroupBy(c => c.Kind).OrderBy(g => g.Key))
                Console.WriteLine($"    after {Faults.Name(g.Key),-26} {string.Join(" ", g.Select(c => c.Seconds is { } s ? $"{s:0.0}" : $">{o.RecoveryCapSeconds:0}"))}");
            Console.WriteLine($"  violations: {r.Violations.Count} ({string.Join(", ", r.Violations.GroupBy(v => v.Invariant).Select(g => $"{g.Key} {g.Count()}"))})");
            if (r.MachineSteps.Count > 0)
            {
                var largest = r.MachineSteps.MaxBy(m => Math.Abs(m.Step));
                double notJudged = r.DisturbedWindows.Sum(w => (double.IsNaN(w.End) ? r.Seconds : w.End) - w.Start);
                Console.WriteLine($"  this machine's clock was stepped {r.MachineSteps.Count} time(s) by something outside the test (largest {largest.Step:+0.000000;-0.000000} s at {largest.T:0.0} s); " +
                    $"not judged for {notJudged:0} s in {r.DisturbedWindows.Count} window(s) [{string.Join(", ", r.DisturbedWindows.Select(w => $"{w.Start:0}-{(double.IsNaN(w.End) ? "end" : w.End.ToString("0"))} s"))}]: " +
                    $"{r.Excluded.Count} would-be violation(s) there ({string.Join(", ", r.Excluded.GroupBy(v => v.Invariant).Select(g => $"{g.Key} {g.Count()}"))})");
            }
        }
        if (results.Count > 1)
        {
            Console.WriteLine($"all phases: fail-over {Stats(results.SelectMany(r => r.Failovers).Select(f => f.Seconds))}; one cluster after heal {Stats(results.SelectMany(r => r.ClusterAfterHeal).Select(c => c.Seconds))}");
        }
        bool startsFailed = false;
        if (starts is not null)
        {
            int ok = starts.Count(s => s.Ok);
            startsFailed = ok < starts.Count || starts.Count < (o.Starts ?? 0);
            Console.WriteLine($"repeated starts: {ok} of {o.Starts} formed one cluster with the member synchronised within {Runner.Limit:0} s ({starts.Count} run)");
            Console.WriteLine($"  started within: max {(starts.Count > 0 ? starts.Max(s => s.SpreadMs) : 0):0} ms");
            Console.WriteLine($"  all three answering NTP after start: {Stats(starts.Select(s => s.UpSeconds))}");
            Console.WriteLine($"  one cluster after start: {Stats(starts.Select(s => s.ClusterSeconds))}");
            Console.WriteLine($"  member synchronised after start: {Stats(starts.Select(s => s.MemberSyncSeconds))}");
            Console.WriteLine($"  times (up/cluster/sync, s): {string.Join("  ", starts.Select(s => $"{Fmt(s.UpSeconds)}/{Fmt(s.ClusterSeconds)}/{Fmt(s.MemberSyncSeconds)}"))}");
        }
        Console.WriteLine();
        if (violations.Count == 0)
        {
            Console.WriteLine((startsFailed ? "RESULT: FAIL (repeated starts)" : interrupted ? "RESULT: no violation until the run stopped" : "RESULT: PASS, no violation") + partial);
            return startsFailed;
        }
        Console.WriteLine($"{violations.Count} VIOLATION(S):");
        int i = 1;
        foreach (var (phase, v) in violations)
        {
            Console.WriteLine($"#{i++} {v.Invariant} [{v.Subject}] at {v.Start:0.00} s for {v.End - v.Start:0.0} s ({v.Samples} samples, worst {v.Worst}){(phase is null ? "" : $", {phase.Nodes}-node mesh, seed {phase.Seed}")}");
            Console.WriteLine($"   {v.First}");
            Console.WriteLine("   fault history before it:");
            foreach (var h in v.History) foreach (var line in h.Split('\n')) Console.WriteLine("     " + line);
            if (phase is not null) Console.WriteLine($"   replay: {o.ReplayCommand(phase)}");
        }
        Console.WriteLine($"RESULT: FAIL, {violations.Count} violation(s){(startsFailed ? " and failed starts" : "")}; seed {o.Seed}{partial}");
        return true;
    }

    private static string Fmt(double? v) => v is { } x ? x.ToString("0.0", CultureInfo.InvariantCulture) : "-";
}

/// <summary>The command line.</summary>
internal sealed class Options
{
    public const string Usage = """
        usage: TimeMesh.Chaos [--profile short|long] [--nodes 3|5] [--rounds K] [--seed N] [--starts N]
                              [--faults kill,pause,partition-master,partition-masters-members,partition-member,upstream,restart-all,
                                        stranger,forged-status]
                              [--recovery-cap S] [--max-delay-ms D] [--logs DIR] [--timemesh PATH/timemesh.dll]
                              [--hold S] [--lan 0-9] [--max-hours H]
          --profile short   3-node mesh, 7 faults, then 5-node mesh, 4 faults (the test command runs this; ≤ 4 min)
          --profile long    3-node mesh, 250 faults, then 5-node mesh, 250 faults (hours)
          --nodes/--rounds  one mesh of that size (2 masters + the rest members), that many faults (default 3, 10)
          --seed N          the faults are drawn from N (default: random; printed first, with a replay command)
          --starts N        instead of faults: start 2 masters + 1 member at once N times (data wiped between),
                            each time one cluster and the member synchronised within 10 s
          --recovery-cap S  the longest recovery window after a heal (default 12 s short, 30 s otherwise)
          --max-delay-ms D  exchanges slower than this do not count for the spread and jump checks (default 2)
          --logs DIR        keep the nodes' logs and configs there (otherwise deleted with the run directory)
          --dry-run         print the fault sequence the seed gives and exit
          --hold S          every fault lasts S seconds (default: drawn, 2-10 s; 1-6 s for a pause)
          --lan N           run on LAN N (namespaces tmchaosN-*): runs on different LANs may run at once
                            (the test command uses LAN 0; a long run beside it takes another)
          --max-hours H     stop a run that takes longer (default 12)
        Needs root, iproute2, nftables, chrony. Exit code 0: no violation; 1: violations; 2: cannot run.
        TimeMesh.Chaos forge …: the forger the forged-status fault runs (Forger.cs; `forge --help`).
        """;

    public List<string> Raw { get; } = new();
    public bool Help { get; private set; }
    public bool Inner { get; private set; }
    public bool DryRun { get; private set; }
    public string? RunDir { get; private set; }
    public string? Profile { get; private set; }
    public int Nodes { get; private set; } = 3;
    public int? Rounds { get; private set; }
    public int Seed { get; private set; }
    public bool SeedGiven { get; private set; }
    public int? Starts { get; private set; }
    public List<FaultKind> Kinds { get; private set; } = Faults.Default.ToList();
    public bool KindsGiven { get; private set; }
    public double? RecoveryCap { get; private set; }
    public double MaxDelaySeconds { get; private set; } = 2e-3;
    /// <summary>Every fault lasts this long (seconds) instead of a drawn 2–10 s (1–6 s for a pause).</summary>
    public double? Hold { get; private set; }
    public string? LogsDir { get; private set; }
    public string? TimeMesh { get; private set; }
    public double MaxHours { get; private set; } = 12;
    /// <summary>Which of ten LANs (namespace sets) to use: runs on different LANs may run at the same time.</summary>
    public int Lan { get; private set; }

    public double RecoveryCapSeconds => RecoveryCap ?? (Profile == "short" ? 12 : 30);
    public int MaxNodes => Starts is not null ? 3 : Phases().Max(p => p.Nodes);

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            int NextInt() => int.TryParse(Next(), CultureInfo.InvariantCulture, out int v) ? v : throw new ArgumentException($"{a} needs a whole number");
            double NextDouble() => double.TryParse(Next(), CultureInfo.InvariantCulture, out double v) ? v : throw new ArgumentException($"{a} needs a number");
            bool forInner = a is "--inner" or "--run-dir" or "--timemesh" or "--seed";
            int before = i;
            switch (a)
            {
                case "-h" or "--help": o.Help = true; break;
                case "--inner": o.Inner = true; break;
                case "--dry-run": o.DryRun = true; break;
                case "--run-dir": o.RunDir = Next(); break;
                case "--profile":
                    o.Profile = Next();
                    if (o.Profile is not ("short" or "long")) throw new ArgumentException("--profile is short or long");
                    break;
                case "--nodes":
                    o.Nodes = NextInt();
                    if (o.Nodes is < 3 or > Topology.MaxNodes) throw new ArgumentException($"--nodes is 3 to {Topology.MaxNodes}");
                    break;
                case "--rounds": o.Rounds = NextInt(); break;
                case "--seed": o.Seed = NextInt(); o.SeedGiven = true; break;
                case "--starts": o.Starts = NextInt(); break;
                case "--faults":
                    o.Kinds = Next().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Faults.Parse).ToList();
                    o.KindsGiven = true;
                    break;
                case "--recovery-cap": o.RecoveryCap = NextDouble(); break;
                case "--max-delay-ms": o.MaxDelaySeconds = NextDouble() / 1e3; break;
                case "--logs": o.LogsDir = Next(); break;
                case "--hold": o.Hold = NextDouble(); break;
                case "--lan":
                    o.Lan = NextInt();
                    if (o.Lan is < 0 or > 9) throw new ArgumentException("--lan takes 0 to 9");
                    break;
                case "--timemesh": o.TimeMesh = Next(); break;
                case "--max-hours": o.MaxHours = NextDouble(); break;
                default: throw new ArgumentException($"unknown argument {a}");
            }
            if (!forInner) o.Raw.AddRange(args[before..(i + 1)]);
        }
        if (!o.SeedGiven) o.Seed = Random.Shared.Next(1, 1_000_000);
        if (o.Kinds.Count == 0) throw new ArgumentException("--faults names no fault");
        return o;
    }

    /// <summary>The meshes to run: a profile's two, or the one of --nodes/--rounds. Phase k's faults come from seed + k − 1.</summary>
    public IReadOnlyList<Phase> Phases() => Profile switch
    {
        "short" => [new Phase(3, Rounds ?? 7, Seed), new Phase(5, Rounds is { } r ? Math.Max(1, r / 2) : 4, Seed + 1)],
        "long" => [new Phase(3, Rounds ?? 250, Seed), new Phase(5, Rounds ?? 250, Seed + 1)],
        _ => [new Phase(Nodes, Rounds ?? 10, Seed)],
    };

    /// <summary>The command that replays a phase (or, for null, this whole run).</summary>
    public string ReplayCommand(Phase? phase)
    {
        string dll = Path.GetRelativePath(Directory.GetCurrentDirectory(), typeof(Options).Assembly.Location);
        var parts = new List<string> { "dotnet", dll };
        if (phase is null)
        {
            if (Profile is not null) parts.AddRange(["--profile", Profile]);
            else if (Starts is null) parts.AddRange(["--nodes", Nodes.ToString(CultureInfo.InvariantCulture)]);
            if (Rounds is { } r) parts.AddRange(["--rounds", r.ToString(CultureInfo.InvariantCulture)]);
            if (Starts is { } s) parts.AddRange(["--starts", s.ToString(CultureInfo.InvariantCulture)]);
            parts.AddRange(["--seed", Seed.ToString(CultureInfo.InvariantCulture)]);
        }
        else
        {
            parts.AddRange(["--nodes", phase.Nodes.ToString(CultureInfo.InvariantCulture), "--rounds", phase.Rounds.ToString(CultureInfo.InvariantCulture), "--seed", phase.Seed.ToString(CultureInfo.InvariantCulture)]);
            if (RecoveryCap is null && Profile is not null) parts.AddRange(["--recovery-cap", RecoveryCapSeconds.ToString(CultureInfo.InvariantCulture)]);
        }
        if (KindsGiven) parts.AddRange(["--faults", string.Join(',', Kinds.Select(Faults.Name))]);
        if (RecoveryCap is { } c) parts.AddRange(["--recovery-cap", c.ToString(CultureInfo.InvariantCulture)]);
        if (Hold is { } h) parts.AddRange(["--hold", h.ToString(CultureInfo.InvariantCulture)]);
        return string.Join(' ', parts);
    }

    /// <summary>timemesh.dll: --timemesh, else the build of src/TimeMesh in this checkout (same configuration as this tool).</summary>
    public string TimeMeshDll()
    {
        if (TimeMesh is not null)
            return File.Exists(TimeMesh) ? Path.GetFullPath(TimeMesh) : throw new FileNotFoundException($"--timemesh {TimeMesh}: no such file");
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        string config = AppContext.BaseDirectory.Contains("/bin/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TimeMesh.sln"))) dir = dir.Parent;
        if (dir is null) throw new FileNotFoundException("TimeMesh.sln not found above the chaos tool; pass --timemesh PATH/timemesh.dll");
        foreach (var c in new[] { config, config == "Release" ? "Debug" : "Release" })
        {
            string dll = Path.Combine(dir.FullName, "src", "TimeMesh", "bin", c, "net10.0", "timemesh.dll");
            if (File.Exists(dll)) return dll;
        }
        throw new FileNotFoundException($"no build of src/TimeMesh under {dir.FullName}: run `dotnet build TimeMesh.sln -c Release` (or pass --timemesh)");
    }
}
