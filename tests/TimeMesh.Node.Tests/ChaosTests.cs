using System.Diagnostics;
using System.Text;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// The chaos suite (tests/TimeMesh.Chaos, docs/chaos.md) as part of the test command: the short profile
/// (a 3-node and a 5-node mesh in network namespaces, faults drawn from a seed, every invariant checked on
/// every NTP sample) and the repeated-start check (2 masters + 1 member started at once, 10 times). Each fails
/// with the tool's whole output — the violations, their fault histories and the seed to replay them.
/// Needs root, ip and nft: missing tools fail the test, they never skip it.
/// </summary>
[Collection(ProcessTests.Name)]
public class ChaosTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string ChaosDll()
    {
        // The tool is built by the solution build (and before this project: see the build-order reference).
        string configuration = AppContext.BaseDirectory.Contains("/bin/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        string dll = Path.Combine(ExecutableTests.RepoRoot(), "tests", "TimeMesh.Chaos", "bin", configuration, "net10.0", "TimeMesh.Chaos.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException("the chaos tool is not built: dotnet build TimeMesh.sln -c " + configuration, dll);
        return dll;
    }

    private static void RequireTools()
    {
        foreach (var (tool, package) in new[] { ("ip", "iproute2"), ("nft", "nftables") })
        {
            bool found = new[] { "/usr/sbin", "/sbin", "/usr/bin", "/bin" }.Any(d => File.Exists(Path.Combine(d, tool)));
            if (!found) throw new InvalidOperationException($"`{tool}` is missing: the chaos suite needs Debian's {package} (tests/run-all.sh installs it)");
        }
        Chrony.RequireInstalled();
    }

    private (int ExitCode, string Output) RunChaos(TimeSpan limit, params string[] args)
    {
        RequireTools();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = ExecutableTests.RepoRoot(),
        };
        info.ArgumentList.Add(ChaosDll());
        foreach (var a in args) info.ArgumentList.Add(a);
        // The same node build the other process tests run.
        info.ArgumentList.Add("--timemesh");
        info.ArgumentList.Add(TimeMeshProcess.ExecutablePath);
        var text = new StringBuilder();
        using var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(limit))
        {
            // SIGTERM: the tool stops its nodes and removes its namespaces.
            Process.Start("kill", $"-TERM {p.Id}")!.WaitForExit();
            if (!p.WaitForExit(TimeSpan.FromSeconds(60))) p.Kill(entireProcessTree: true);
            lock (text) text.AppendLine($"(the chaos tool did not finish within {limit.TotalSeconds:0} s and was stopped)");
        }
        p.WaitForExit();
        string all;
        lock (text) all = text.ToString();
        output.WriteLine(all);
        return (p.HasExited ? p.ExitCode : -1, all);
    }

    [Fact]
    public void TheShortChaosProfileFindsNoViolation()
    {
        // A fixed seed, so that a failure here is replayable from the test's name alone. Random seeds are for the long
        // profile: they found a violation still open (a master 1.1-1.8 ms off for ~8 s after its upstream chronyd
        // was SIGSTOPped for 2.3 s, seed 325677 of the 5-node phase; docs/chaos.md).
        var (exit, text) = RunChaos(TimeSpan.FromMinutes(4.5), "--profile", "short", "--seed", "983631");
        Assert.True(exit == 0, $"the chaos suite's short profile exited with {exit}:\n{text}");
    }

    [Fact]
    public void TenSimultaneousStartsAllFormOneClusterWithTheMemberSynchronised()
    {
        var (exit, text) = RunChaos(TimeSpan.FromMinutes(4.5), "--starts", "10");
        Assert.True(exit == 0, $"the chaos suite's repeated starts exited with {exit}:\n{text}");
    }
}
