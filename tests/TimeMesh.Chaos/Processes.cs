using System.Diagnostics;

namespace TimeMesh.Chaos;

internal enum Role { Master, Member }

internal enum ProcState { Down, Running, Stopped }

/// <summary>
/// One <c>timemesh run</c> process in its namespace: <c>ip netns exec NS env --default-signal=INT,QUIT
/// dotnet timemesh.dll run --config F</c> (ip and env exec, so the pid is the node's). Its output goes to
/// <c>node.log</c> in its directory, one header line per incarnation.
/// </summary>
internal sealed class NodeProcess
{
    public const int NtpPort = 123, ClusterPort = 4053, ControlPort = 8080;

    private readonly string _timemeshDll;
    private Process? _process;
    private StreamWriter? _log;
    private readonly object _logLock = new();

    public Host Host { get; }
    public Role Role { get; }
    public string Name => Host.Name;
    public string Label => $"{Host.Name}({(Role == Role.Master ? "master" : "member")})";
    public string Directory { get; }
    public string ConfigPath => Path.Combine(Directory, "node.hocon");
    public string LogPath => Path.Combine(Directory, "node.log");
    public string DataDir => Path.Combine(Directory, "data");
    public string ClusterAddress => ClusterAddressOf(Host);
    public int Pid => _process?.Id ?? 0;
    public int Incarnation { get; private set; }

    public static string ClusterAddressOf(Host h) => $"akka.tcp://timemesh@{h.Address}:{ClusterPort}";

    public NodeProcess(Host host, Role role, string directory, string timemeshDll)
    {
        Host = host;
        Role = role;
        Directory = directory;
        _timemeshDll = timemeshDll;
        System.IO.Directory.CreateDirectory(directory);
    }

    /// <summary>The node's config: every node has <c>local { stratum = 10 }</c>, the masters' NTP endpoints and both masters as seeds.</summary>
    public void WriteConfig(IReadOnlyList<Host> masters)
    {
        string mastersNtp = string.Join(", ", masters.Select(m => $"\"{m.Address}:{NtpPort}\""));
        string seeds = string.Join(", ", masters.Select(m => $"\"{ClusterAddressOf(m)}\""));
        string server = Role == Role.Master
            ? $"server = [ {{ address = \"{Topology.Upstream.Address}\", port = 123, iburst = on, minpoll = 0, maxpoll = 1 }} ]"
            : "";
        File.WriteAllText(ConfigPath, $$"""
            # written by the chaos suite (tests/TimeMesh.Chaos) for {{Label}}
            timemesh {
              role = {{(Role == Role.Master ? "master" : "member")}}
              listen = ["{{Host.Address}}:{{NtpPort}}"]
              allow = ["{{Topology.Subnet}}"]
              {{server}}
              local { stratum = 10 }
              data-dir = "{{DataDir}}"
              control.listen = "{{Host.Address}}:{{ControlPort}}"
              mesh {
                masters = [{{mastersNtp}}]
                # The test's own LAN, inside namespaces it made: nothing else reaches the cluster ports.
                insecure = on
              }
            }
            akka {
              remote.dot-netty.tcp { hostname = "{{Host.Address}}", port = {{ClusterPort}} }
              cluster.seed-nodes = [{{seeds}}]
            }
            """);
    }

    public void Start(string why)
    {
        var info = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Directory,
            UseShellExecute = false,
        };
        // A process started by a non-interactive shell may inherit SIGINT/SIGQUIT ignored, and an ignored
        // signal stays ignored across exec: give the node the default disposition (TimeMeshProcess.cs).
        foreach (var a in new[] { "netns", "exec", Host.Namespace, "env", "--default-signal=INT,QUIT", "dotnet", _timemeshDll, "run", "--config", ConfigPath })
            info.ArgumentList.Add(a);
        lock (_logLock)
        {
            _log ??= new StreamWriter(new FileStream(LogPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
            Incarnation++;
            _log.WriteLine($"===== chaos: {Label} incarnation {Incarnation} started {DateTime.UtcNow:O} ({why}) =====");
        }
        var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => WriteLog(e.Data);
        p.ErrorDataReceived += (_, e) => WriteLog(e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process?.Dispose();
        _process = p;
    }

    private void WriteLog(string? line)
    {
        if (line is null) return;
        lock (_logLock) _log?.WriteLine(line);
    }

    public bool Running => _process is { HasExited: false };

    public void Kill()
    {
        if (_process is not { } p) return;
        Sys.Signal(p.Id, Sys.SIGKILL);
        p.WaitForExit(10_000);
        WriteLog($"===== chaos: {Label} SIGKILL {DateTime.UtcNow:O} =====");
    }

    public void Stop()
    {
        if (_process is { } p) Sys.Signal(p.Id, Sys.SIGSTOP);
        WriteLog($"===== chaos: {Label} SIGSTOP {DateTime.UtcNow:O} =====");
    }

    public void Continue()
    {
        if (_process is { } p) Sys.Signal(p.Id, Sys.SIGCONT);
        WriteLog($"===== chaos: {Label} SIGCONT {DateTime.UtcNow:O} =====");
    }

    public void WipeData()
    {
        if (System.IO.Directory.Exists(DataDir)) System.IO.Directory.Delete(DataDir, recursive: true);
    }

    /// <summary>The last lines of the node's log (for a report).</summary>
    public string Tail(int lines)
    {
        lock (_logLock)
        {
            try
            {
                using var fs = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(fs);
                var all = reader.ReadToEnd().Split('\n');
                return string.Join('\n', all.TakeLast(lines));
            }
            catch (IOException) { return ""; }
        }
    }

    public void Close()
    {
        if (_process is { HasExited: false }) Kill();
        lock (_logLock)
        {
            _log?.Dispose();
            _log = null;
        }
    }
}

/// <summary>The upstream: Debian's chronyd, <c>-x</c> (never touches the clock), <c>local stratum 1</c>, in its own namespace.</summary>
internal sealed class UpstreamChrony
{
    public const string ChronydPath = "/usr/sbin/chronyd";
    private readonly string _dir;
    private Process? _process;

    public UpstreamChrony(string dir)
    {
        _dir = dir;
        System.IO.Directory.CreateDirectory(dir);
        // chronyd refuses a command socket in a directory others can reach.
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the chaos suite runs on Linux only");
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public int Pid => _process?.Id ?? 0;

    public void Start()
    {
        string conf = Path.Combine(_dir, "chrony.conf");
        File.WriteAllLines(conf, [
            "port 123",
            $"bindaddress {Topology.Upstream.Address}",
            "local stratum 1",
            "allow all",
            "cmdport 0",
            $"bindcmdaddress {Path.Combine(_dir, "chronyd.sock")}",
            $"pidfile {Path.Combine(_dir, "chronyd.pid")}",
            $"driftfile {Path.Combine(_dir, "chronyd.drift")}",
        ]);
        var info = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // -x: never adjust this machine's clock. -d: foreground. -u root: no privilege drop (the directory is root's).
        foreach (var a in new[] { "netns", "exec", Topology.Upstream.Namespace, ChronydPath, "-x", "-d", "-u", "root", "-f", conf })
            info.ArgumentList.Add(a);
        var log = new StreamWriter(Path.Combine(_dir, "chronyd.log"), append: true) { AutoFlush = true };
        var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
        Thread.Sleep(300);
        if (p.HasExited) throw new InvalidOperationException("chronyd exited at start: " + File.ReadAllText(Path.Combine(_dir, "chronyd.log")));
    }

    public void Stop() { if (_process is { } p) Sys.Signal(p.Id, Sys.SIGSTOP); }
    public void Continue() { if (_process is { } p) Sys.Signal(p.Id, Sys.SIGCONT); }

    public void Close()
    {
        if (_process is not { } p) return;
        Sys.Signal(p.Id, Sys.SIGCONT);
        Sys.Signal(p.Id, Sys.SIGKILL);
        p.WaitForExit(5000);
    }
}

/// <summary>
/// A process of the intruder host (<see cref="Topology.Intruder"/>): a stranger <c>timemesh run</c> or the forger
/// (<c>TimeMesh.Chaos forge</c>, <see cref="Forger"/>), started with <c>ip netns exec</c>, its output in a log file
/// and kept in memory (the forger's summary lines are read back). Stopped with SIGINT (a node leaves the cluster
/// gracefully), then SIGKILL.
/// </summary>
internal sealed class IntruderProcess
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly System.Text.StringBuilder _output = new();

    private bool _closed;

    public string What { get; }
    public bool Running => !_process.HasExited;
    public string Output { get { lock (_output) return _output.ToString(); } }

    private IntruderProcess(string what, Process process, StreamWriter log)
    {
        What = what;
        _process = process;
        _log = log;
    }

    public static IntruderProcess Start(string what, string logPath, IReadOnlyList<string> command)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", Topology.Intruder.Namespace, "env", "--default-signal=INT,QUIT" }.Concat(command)) info.ArgumentList.Add(a);
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        log.WriteLine($"===== chaos: {what} started {DateTime.UtcNow:O} =====");
        var p = new Process { StartInfo = info };
        var intruder = new IntruderProcess(what, p, log);
        p.OutputDataReceived += (_, e) => intruder.OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => intruder.OnLine(e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return intruder;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.AppendLine(line);
            _log.WriteLine(line);
        }
    }

    /// <summary>Waits until the output holds <paramref name="text"/> (true), the process ended or the timeout passed (false).</summary>
    public bool WaitFor(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Output.Contains(text, StringComparison.Ordinal)) return true;
            if (_process.HasExited) break;
            Thread.Sleep(100);
        }
        return Output.Contains(text, StringComparison.Ordinal);
    }

    /// <summary>Waits up to <paramref name="grace"/> for the process to end by itself, else SIGINT, then after 10 s SIGKILL.</summary>
    public void Close(TimeSpan? grace = null)
    {
        if (_closed) return;
        _closed = true;
        if (!_process.HasExited && !_process.WaitForExit(grace ?? TimeSpan.Zero))
        {
            Sys.Signal(_process.Id, Sys.SIGINT);
            if (!_process.WaitForExit(10_000))
            {
                Sys.Signal(_process.Id, Sys.SIGKILL);
                _process.WaitForExit(5_000);
            }
        }
        _process.WaitForExit();
        lock (_output) _log.WriteLine($"===== chaos: {What} ended {DateTime.UtcNow:O} =====");
        _log.Dispose();
        _process.Dispose();
    }
}
