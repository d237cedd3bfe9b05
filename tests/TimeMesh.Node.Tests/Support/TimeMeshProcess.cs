using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// The real <c>timemesh</c> executable (built with this test project) run as a child process on a
/// config the test writes; killed when disposed.
/// </summary>
public sealed partial class TimeMeshProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<IReadOnlyList<IPEndPoint>> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Directory { get; }
    public IReadOnlyList<IPEndPoint> Endpoints { get; private set; } = [];
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public string Output { get { lock (_output) return _output.ToString(); } }

    private TimeMeshProcess(string directory, Process process)
    {
        Directory = directory;
        _process = process;
    }

    /// <summary>Where the built executable is: next to the test assembly.</summary>
    public static string ExecutablePath
    {
        get
        {
            string dll = Path.Combine(AppContext.BaseDirectory, "timemesh.dll");
            if (!File.Exists(dll)) throw new FileNotFoundException("timemesh.dll is not next to the tests; the project reference to src/TimeMesh is missing", dll);
            return dll;
        }
    }

    /// <summary>Starts <c>timemesh run --config</c> on the given timemesh { } body (inside a network namespace when one is named).</summary>
    public static TimeMeshProcess Start(string timemeshBlock, string? akkaBlock = null, IReadOnlyDictionary<string, string>? environment = null, string? netns = null)
    {
        string dir = Path.Combine(Path.GetTempPath(), "timemesh-test-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        string config = Path.Combine(dir, "node.hocon");
        File.WriteAllText(config, $"timemesh {{\n{timemeshBlock}\n  data-dir = \"{Path.Combine(dir, "data")}\"\n}}\n{akkaBlock}");
        // A test host started in the background by a non-interactive shell (as CI may start it) ignores SIGINT,
        // and an ignored signal stays ignored across exec; give the node the default disposition so the signal
        // tests test the node, not how the suite was started.
        var info = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
            UseShellExecute = false,
        };
        // env and `ip netns exec` exec the command, so the child's pid stays the node's.
        info.ArgumentList.Add("--default-signal=INT,QUIT");
        if (netns is not null) foreach (var a in new[] { "ip", "netns", "exec", netns }) info.ArgumentList.Add(a);
        info.ArgumentList.Add("dotnet");
        foreach (var a in new[] { ExecutablePath, "run", "--config", config }) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var node = new TimeMeshProcess(dir, process);
        process.OutputDataReceived += (_, e) => node.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => node.OnLine(e.Data);
        process.Exited += (_, _) => node._started.TrySetException(new InvalidOperationException("timemesh exited early:\n" + node.Output));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    [GeneratedRegex(@"NTP on (?<endpoints>.*?), data in")]
    private static partial Regex StartedLine();

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
        var match = StartedLine().Match(line);
        if (match.Success)
        {
            Endpoints = match.Groups["endpoints"].Value.Split(", ").Select(IPEndPoint.Parse).ToArray();
            _started.TrySetResult(Endpoints);
        }
    }

    /// <summary>Waits for the start-up line that names the bound endpoints.</summary>
    public IReadOnlyList<IPEndPoint> WaitStarted(TimeSpan timeout)
    {
        if (!_started.Task.Wait(timeout)) throw new TimeoutException("timemesh did not start in time:\n" + Output);
        return _started.Task.Result;
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) throw new TimeoutException("timemesh did not exit in time:\n" + Output);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Signal(int signal) => Process.Start("kill", $"-{signal} {_process.Id}")!.WaitForExit();

    public long ResidentBytes()
    {
        foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        return 0;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        try { System.IO.Directory.Delete(Directory, true); } catch (IOException) { }
    }
}
