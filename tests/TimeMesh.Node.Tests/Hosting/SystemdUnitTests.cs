using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests.Hosting;

/// <summary>deploy/systemd/timemesh.service: what it promises, systemd's own verifier, and its ExecStart run under a fake service manager.</summary>
[Collection(ProcessLanes.Tools)]
public class SystemdUnitTests
{
    private const string InstalledExecutable = "/opt/timemesh/timemesh";
    private const string InstalledConfig = "/etc/timemesh/timemesh.hocon";

    private static string UnitPath => Path.Combine(ExecutableTests.RepoRoot(), "deploy", "systemd", "timemesh.service");

    /// <summary>The unit's directives (comments and sections left out) as key → values.</summary>
    private static ILookup<string, string> Directives() => File.ReadAllLines(UnitPath)
        .Select(l => l.Trim())
        .Where(l => l.Length > 0 && !l.StartsWith('#') && !l.StartsWith('['))
        .Select(l => l.Split('=', 2))
        .ToLookup(p => p[0], p => p[1]);

    /// <summary>The built apphost next to the tests, standing in for the published one.</summary>
    private static string BuiltExecutable
    {
        get
        {
            string path = Path.Combine(Path.GetDirectoryName(TimeMeshProcess.ExecutablePath)!, "timemesh");
            Assert.True(File.Exists(path), $"{path} (the timemesh apphost) is missing");
            return path;
        }
    }

    [Fact]
    public void TheUnitIsANotifyServiceWithTheCapabilitiesADedicatedUserAndAStateDirectory()
    {
        var d = Directives();
        Assert.Equal("notify", d["Type"].Single());
        Assert.Equal("always", d["Restart"].Single());
        var ambient = d["AmbientCapabilities"].Single().Split(' ');
        Assert.Contains("CAP_SYS_TIME", ambient);
        Assert.Contains("CAP_NET_BIND_SERVICE", ambient);
        Assert.Equal("timemesh", d["User"].Single());
        Assert.Equal("timemesh", d["StateDirectory"].Single());
        Assert.Equal($"{InstalledExecutable} run --config {InstalledConfig}", d["ExecStart"].Single());
        // Hardening that would break TimeMesh: clock = system needs the clock, the JIT needs W+X pages.
        Assert.Empty(d["ProtectClock"]);
        Assert.Empty(d["MemoryDenyWriteExecute"]);
        Assert.DoesNotContain(d["SystemCallFilter"], f => !f.Contains("@clock"));
    }

    [Fact]
    public async Task SystemdAnalyzeVerifyAcceptsTheUnit()
    {
        const string analyze = "/usr/bin/systemd-analyze";
        Assert.True(File.Exists(analyze), $"{analyze} is missing: install Debian's systemd (tests/run-all.sh does)");
        string dir = Directory.CreateTempSubdirectory("timemesh-unit").FullName;
        try
        {
            // verify checks that ExecStart exists: point it at the built executable, nothing else changes.
            string unit = Path.Combine(dir, "timemesh.service");
            File.WriteAllText(unit, File.ReadAllText(UnitPath).Replace($"ExecStart={InstalledExecutable} ", $"ExecStart={BuiltExecutable} "));
            var info = new ProcessStartInfo(analyze) { ArgumentList = { "verify", unit }, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = await p.StandardError.ReadToEndAsync();
            Assert.True(p.WaitForExit(60_000));
            // Unknown keys and bad values are only warnings (exit 0) for systemd-analyze: any output counts as a failure here.
            string output = (await stdout + stderr).Trim();
            Assert.True(p.ExitCode == 0 && output.Length == 0, $"systemd-analyze verify exited {p.ExitCode}:\n{output}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void TheUnitsExecStartRunsAndNotifiesUnderAFakeServiceManager()
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-unit-run").FullName;
        try
        {
            // The unit's command line, with the executable and config moved into the temp directory.
            string config = Path.Combine(dir, "timemesh.hocon");
            int port = Chrony.FreeUdpPort();
            File.WriteAllText(config, $"timemesh {{\n listen = [\"127.0.0.1:{port}\"]\n allow = [\"127.0.0.0/8\"]\n local {{ stratum = 10 }}\n data-dir = \"{dir}/state\"\n}}\n");
            var command = Directives()["ExecStart"].Single().Split(' ');
            Assert.Equal(InstalledExecutable, command[0]);
            var args = command.Skip(1).Select(a => a == InstalledConfig ? config : a).ToList();

            string notify = Path.Combine(dir, "notify.sock");
            using var manager = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            manager.Bind(new UnixDomainSocketEndPoint(notify));
            manager.ReceiveTimeout = 60_000;

            var info = new ProcessStartInfo(BuiltExecutable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
            foreach (string a in args) info.ArgumentList.Add(a);
            info.Environment["NOTIFY_SOCKET"] = notify;
            using var process = Process.Start(info)!;
            var output = new StringBuilder();
            process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                var buffer = new byte[512];
                Assert.Equal("READY=1", Encoding.UTF8.GetString(buffer, 0, manager.Receive(buffer)).Trim());
                Assert.NotNull(NtpProbe.Ask(new IPEndPoint(IPAddress.Loopback, port), NtpProbe.ClientRequest(7), TimeSpan.FromSeconds(10)));
                Process.Start("kill", $"-TERM {process.Id}")!.WaitForExit();
                Assert.Equal("STOPPING=1", Encoding.UTF8.GetString(buffer, 0, manager.Receive(buffer)).Trim());
                Assert.True(process.WaitForExit(60_000), "timemesh did not stop");
                process.WaitForExit();
                lock (output) Assert.True(process.ExitCode == 0, output.ToString());
            }
            finally
            {
                if (!process.HasExited) process.Kill();
            }
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
