using System.Diagnostics;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Tests whose figures need the machine to themselves: mesh formation, fail-over and partition timings, the chaos
/// profile and the repeated starts, and tests that watch the whole machine (doctor's pgrep, the docker check's
/// publish into the build's own output). xunit runs this collection alone, after everything else.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public class ProcessTests
{
    public const string Name = "processes";
}

/// <summary>
/// Two lanes of process tests that may run beside each other (and beside the in-process tests) before the
/// <see cref="ProcessTests"/> collection: each lane runs its own tests one at a time. Their bars hold on a busy
/// machine (they are judged on what the nodes serve, with round-trip bounds, not on how fast), their namespaces
/// carry the test process's id and a prefix of their own, and their ports are free ones or inside their own
/// namespaces. With every process test in one serial collection the Node tests took 19–20 minutes here; the
/// lanes overlap about a third of that.
/// </summary>
public static class ProcessLanes
{
    /// <summary>Meshes and upstreams in namespaces: the attacks, TLS and certificates, mesh NTS, chrony interop.</summary>
    public const string Mesh = "processes-mesh";

    /// <summary>Ports and tools: hostile datagrams, cmdmon, NTS-KE, the status page, fuzzing, packing, the importer.</summary>
    public const string Tools = "processes-tools";
}

[CollectionDefinition(ProcessLanes.Mesh)]
public class ProcessLaneMesh;

[CollectionDefinition(ProcessLanes.Tools)]
public class ProcessLaneTools;

[Collection(ProcessTests.Name)]
public class ExecutableTests
{
    private static (int ExitCode, string Output) RunTimemesh(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(TimeMeshProcess.ExecutablePath);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "timemesh did not exit");
        return (p.ExitCode, stdout.Result + stderr);
    }

    [Theory]
    [InlineData("local { stratum = 20 }", "timemesh.local.stratum = 20", "from 1 to 15")]
    [InlineData("allow = [\"10.0.0.0/33\"]", "timemesh.allow = 10.0.0.0/33", "prefix length")]
    [InlineData("listen = [\"localhost\"]", "timemesh.listen = localhost", "IP address and port")]
    [InlineData("ratelimit { leak = 9 }", "timemesh.ratelimit.leak = 9", "from 1 to 4")]
    [InlineData("ratelimit { kod = maybe }", "timemesh.ratelimit.kod = maybe", "on or off")]
    [InlineData("clientloglimit = lots", "timemesh.clientloglimit = lots", "whole number")]
    public void ABadConfigValueExitsNonZeroNamingKeyValueAndWhatIsAllowed(string line, string keyAndValue, string allowed)
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-badconf").FullName;
        string file = Path.Combine(dir, "bad.hocon");
        // The listen case replaces the listen line: a key set twice is refused before any value is read.
        string listen = line.StartsWith("listen", StringComparison.Ordinal) ? "" : " listen = [\"127.0.0.1:0\"]\n";
        File.WriteAllText(file, $"timemesh {{\n{listen} {line}\n data-dir = \"{dir}/data\"\n}}");
        var (exit, output) = RunTimemesh("run", "--config", file);
        Assert.Equal(2, exit);
        Assert.Contains(keyAndValue, output);
        Assert.Contains(allowed, output);
    }

    [Fact]
    public void AKeyfileOthersCanReadStopsTheNodeWithExitCode2UnlessOverriddenThenEveryStartWarns()
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-openkey").FullName;
        string keys = Path.Combine(dir, "chrony.keys");
        File.WriteAllText(keys, "1 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7\n");
        File.SetUnixFileMode(keys, (UnixFileMode)0b110_110_110); // 0666
        string file = Path.Combine(dir, "node.hocon");
        File.WriteAllText(file, $"timemesh {{\n listen = [\"127.0.0.1:0\"]\n keyfile = \"{keys}\"\n data-dir = \"{dir}/data\"\n}}");
        var (exit, output) = RunTimemesh("run", "--config", file);
        Assert.Equal(2, exit);
        Assert.Contains($"timemesh: invalid configuration: timemesh.keyfile = {keys}; {keys} (mode 0666) is writable by every user", output);
        Assert.Contains($"fix: chmod 600 {keys}", output);

        using var node = TimeMeshProcess.Start($"listen = [\"127.0.0.1:0\"]\nkeyfile = \"{keys}\"\ninsecure-file-permissions = on");
        node.WaitStarted(TimeSpan.FromSeconds(60));
        Assert.Contains($"insecure-file-permissions = on: timemesh.keyfile {keys} (mode 0666)", node.Output);
        node.Signal(15);
        node.WaitForExit(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void AMissingConfigFileIsAnError()
    {
        var (exit, output) = RunTimemesh("run", "--config", "/nonexistent/timemesh.hocon");
        Assert.NotEqual(0, exit);
        Assert.Contains("/nonexistent/timemesh.hocon", output);
    }

    [Fact]
    public void ATakenPortIsAnErrorNamingTheAddress()
    {
        using var first = TimeMeshProcess.Start("listen = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]");
        var endpoint = first.WaitStarted(TimeSpan.FromSeconds(60))[0];
        using var second = TimeMeshProcess.Start($"listen = [\"{endpoint}\"]\nallow = [\"127.0.0.1\"]");
        Assert.Equal(1, second.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains(endpoint.ToString(), second.Output);
    }

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void ASignalShutsDownThroughCoordinatedShutdown(int signal)
    {
        using var node = TimeMeshProcess.Start("listen = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\nlocal { stratum = 10 }");
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        Assert.NotNull(NtpProbe.AskUntilAnswered(endpoint, TimeSpan.FromSeconds(10)));
        node.Signal(signal);
        Assert.Equal(0, node.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains("CoordinatedShutdown", node.Output);
    }

    [Fact]
    public void TheQuickstartConfigServesBothFamiliesOnItsPorts()
    {
        // The README's config, as shipped, except that the test picks its own data directory.
        string quickstart = File.ReadAllText(Path.Combine(RepoRoot(), "hocon", "quickstart.hocon"));
        var settings = Config.TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString(quickstart));
        Assert.Equal(["127.0.0.1:11123", "[::1]:11123"], settings.Listen.Select(e => e.ToString()));
        Assert.Equal(10, settings.Local!.Stratum);
        Assert.Null(settings.RateLimit);
        Assert.Equal("data", settings.DataDir);
        Assert.Equal(524288, settings.ClientLogLimitBytes);
    }

    [Fact]
    public void EveryShippedHoconExampleIsValid()
    {
        var files = Directory.GetFiles(Path.Combine(RepoRoot(), "hocon"), "*.hocon");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var config = Akka.Configuration.ConfigurationFactory.ParseString(File.ReadAllText(file));
            var settings = Config.TimeMeshSettings.FromConfig(config);
            Assert.NotEmpty(settings.Listen);
        }
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TimeMesh.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("TimeMesh.sln not found above the test binaries");
    }
}
