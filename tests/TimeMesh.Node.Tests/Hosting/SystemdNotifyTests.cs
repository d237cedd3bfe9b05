using System.Net;
using System.Net.Sockets;
using System.Text;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests.Hosting;

/// <summary>
/// <c>timemesh run</c> as a Type=notify service without systemd: the test plays the service manager,
/// a unix datagram socket named by NOTIFY_SOCKET, as systemd does.
/// </summary>
[Collection(ProcessLanes.Tools)]
public class SystemdNotifyTests
{
    private static string Receive(Socket socket, TimeSpan timeout)
    {
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        var buffer = new byte[4096];
        try
        {
            int n = socket.Receive(buffer);
            return Encoding.UTF8.GetString(buffer, 0, n).Trim();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            return "(nothing within " + timeout + ")";
        }
    }

    [Fact]
    public void ReadyComesWhenTheNtpPortAnswersAndStoppingOnSigterm()
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-notify").FullName;
        try
        {
            string path = Path.Combine(dir, "notify.sock");
            using var manager = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            manager.Bind(new UnixDomainSocketEndPoint(path));
            int port = Chrony.FreeUdpPort();
            var endpoint = new IPEndPoint(IPAddress.Loopback, port);
            using var node = TimeMeshProcess.Start($"listen = [\"{endpoint}\"]\nallow = [\"127.0.0.1\"]\nlocal {{ stratum = 10 }}",
                environment: new Dictionary<string, string> { ["NOTIFY_SOCKET"] = path });

            Assert.Equal("READY=1", Receive(manager, TimeSpan.FromSeconds(60)));
            // Ready means serving: one request sent right now is answered, without retries.
            var reply = NtpProbe.Ask(endpoint, NtpProbe.ClientRequest(42), TimeSpan.FromSeconds(10));
            Assert.NotNull(reply);

            // Under a service manager the logs carry syslog priorities for journald, on one start-up line.
            node.WaitStarted(TimeSpan.FromSeconds(30));
            Assert.Contains($"<6>[ActorSystem(timemesh)] TimeMesh node started: role alone, NTP on {endpoint}, data in ", node.Output);

            node.Signal(15);
            Assert.Equal("STOPPING=1", Receive(manager, TimeSpan.FromSeconds(30)));
            Assert.Equal(0, node.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains("CoordinatedShutdown", node.Output);
            Assert.Contains("<5>timemesh: SIGTERM, shutting down", node.Output);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    [Fact]
    public void WithoutNotifySocketTheLogsArePlain()
    {
        using var node = TimeMeshProcess.Start("listen = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\nlocal { stratum = 10 }");
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        Assert.Contains($"TimeMesh node started: role alone, NTP on {endpoint}, data in ", node.Output);
        Assert.DoesNotContain("<6>", node.Output);
        node.Signal(15);
        Assert.Equal(0, node.WaitForExit(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void UnderAParentNamedSystemdMicrosoftsDetectionSwitchesTheLogsToJournaldFormat()
    {
        // SystemdHelpers.IsSystemdService() asks whether the parent process is called "systemd": a shell
        // run through a link of that name is one, without NOTIFY_SOCKET (so our own fallback stays out of it).
        string dir = Directory.CreateTempSubdirectory("timemesh-parent").FullName;
        try
        {
            string shell = Path.Combine(dir, "systemd");
            File.CreateSymbolicLink(shell, "/bin/bash");
            int port = Chrony.FreeUdpPort();
            string config = Path.Combine(dir, "node.hocon");
            File.WriteAllText(config, $"timemesh {{\n listen = [\"127.0.0.1:{port}\"]\n allow = [\"127.0.0.1\"]\n local {{ stratum = 10 }}\n data-dir = \"{dir}/data\"\n}}\n");
            var info = new System.Diagnostics.ProcessStartInfo(shell)
            {
                ArgumentList = { "-c", "dotnet \"$0\" run --config \"$1\" & echo \"child $!\"; wait $!", TimeMeshProcess.ExecutablePath, config },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.Environment.Remove("NOTIFY_SOCKET");
            info.Environment.Remove("JOURNAL_STREAM");
            using var parent = System.Diagnostics.Process.Start(info)!;
            var output = new StringBuilder();
            var started = new ManualResetEventSlim();
            int child = 0;
            parent.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (output) output.AppendLine(e.Data);
                if (e.Data.StartsWith("child ")) child = int.Parse(e.Data[6..]);
                if (e.Data.Contains("TimeMesh node started")) started.Set();
            };
            parent.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            parent.BeginOutputReadLine();
            parent.BeginErrorReadLine();
            try
            {
                Assert.True(started.Wait(TimeSpan.FromSeconds(60)), "no start-up line:\n" + output);
                string ppid = File.ReadLines($"/proc/{child}/status").First(l => l.StartsWith("PPid:")).Split('\t')[1].Trim();
                Assert.Equal("systemd", File.ReadAllText($"/proc/{ppid}/comm").Trim());
                lock (output) Assert.Contains($"<6>[ActorSystem(timemesh)] TimeMesh node started: role alone, NTP on 127.0.0.1:{port}", output.ToString());
                Assert.NotNull(NtpProbe.AskUntilAnswered(new IPEndPoint(IPAddress.Loopback, port), TimeSpan.FromSeconds(10)));
                System.Diagnostics.Process.Start("kill", $"-TERM {child}")!.WaitForExit();
                Assert.True(parent.WaitForExit(60_000), "timemesh did not stop");
                parent.WaitForExit();
                lock (output) Assert.True(parent.ExitCode == 0, output.ToString());
            }
            finally
            {
                if (!parent.HasExited) parent.Kill(entireProcessTree: true);
            }
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
