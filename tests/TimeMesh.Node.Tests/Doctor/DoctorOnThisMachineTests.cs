using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests.Doctor;

/// <summary>
/// The real <c>timemesh doctor</c> on this machine, judged against facts the test gathers on its own:
/// a chronyd -x it starts, a UDP socket it binds, pgrep and systemctl.
/// </summary>
[Collection(ProcessTests.Name)]
public class DoctorOnThisMachineTests
{
    private sealed record Finding(string Check, string Level, string Message);

    private static (int ExitCode, List<Finding> Findings, string Output) Doctor(string config)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { TimeMeshProcess.ExecutablePath, "doctor", "--config", config, "--json" }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "doctor did not finish");
        Assert.True(stderr.Result.Length == 0, stderr.Result);
        using var json = JsonDocument.Parse(stdout);
        var findings = json.RootElement.GetProperty("findings").EnumerateArray()
            .Select(f => new Finding(f.GetProperty("check").GetString()!, f.GetProperty("level").GetString()!, f.GetProperty("message").GetString()!))
            .ToList();
        return (p.ExitCode, findings, stdout);
    }

    private static string Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit(10_000);
        return output.Trim();
    }

    [Fact]
    public void DoctorFindsTheChronydAndTheSocketThatAreReallyThereAndNothingOnceTheyAreGone()
    {
        int chronyPort = Chrony.FreeUdpPort();
        string dir = Directory.CreateTempSubdirectory("timemesh-doctor-real").FullName;
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int socketPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
            string config = Path.Combine(dir, "node.hocon");
            File.WriteAllText(config, $$"""
                timemesh {
                  listen = ["127.0.0.1:{{chronyPort}}", "127.0.0.1:{{socketPort}}"]
                  allow = ["127.0.0.0/8"]
                  local { stratum = 10 }
                  data-dir = "{{dir}}/data"
                }
                """);

            var chrony = Chrony.StartServer("127.0.0.1", chronyPort);
            int chronyPid;
            try
            {
                chronyPid = int.Parse(File.ReadAllText(Path.Combine(chrony.Directory, "chronyd.pid")).Trim());
                var (exit, findings, output) = Doctor(config);

                Assert.Equal(1, exit);
                // Every chronyd pgrep sees (ours and any other) is reported, ours with -x.
                var pgrep = Run("pgrep", "-x", "chronyd").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
                Assert.Contains(chronyPid, pgrep);
                foreach (int pid in pgrep)
                    Assert.Contains(findings, f => f.Check == "time-daemon" && f.Message.StartsWith($"chronyd runs (pid {pid}:"));
                Assert.Contains(findings, f => f.Check == "time-daemon" && f.Level == "warn"
                    && f.Message.StartsWith($"chronyd runs (pid {chronyPid}:") && f.Message.Contains(" -x "));

                Assert.Contains(new Finding("port", "fail", $"UDP 127.0.0.1:{chronyPort} is taken by chronyd (pid {chronyPid})"), findings);
                // The test process holds the other socket; its process name is whatever the test host is called.
                Assert.Contains(findings, f => f.Check == "port" && f.Level == "fail"
                    && f.Message.StartsWith($"UDP 127.0.0.1:{socketPort} is taken by ") && f.Message.EndsWith($"(pid {Environment.ProcessId})"));

                // systemctl's own answer and doctor's reading of the unit links agree.
                bool chronyEnabled = Run("systemctl", "is-enabled", "chrony.service") == "enabled";
                Assert.Equal(chronyEnabled, findings.Any(f => f.Check == "time-daemon" && f.Message.StartsWith("chrony.service is enabled")));
                Assert.DoesNotContain(findings, f => f.Level == "fail" && f.Check is not "port");
                Assert.False(output.Contains("CapEff unreadable"), output);
            }
            finally
            {
                chrony.Kill();
                chrony.Dispose();
            }
            socket.Close();

            var (exitAfter, after, outputAfter) = Doctor(config);
            Assert.DoesNotContain(after, f => f.Message.Contains($"(pid {chronyPid}"));
            Assert.Contains(new Finding("port", "ok", $"UDP 127.0.0.1:{chronyPort} is free"), after);
            Assert.Contains(new Finding("port", "ok", $"UDP 127.0.0.1:{socketPort} is free"), after);
            Assert.True(exitAfter == 0, outputAfter);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
