using System.Diagnostics;

namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// Debian's chronyd as a real NTP client of the node under test. It runs with -x (never touches the
/// clock) and its command socket in a private directory. A missing chronyd fails the test, loudly:
/// the test command installs it.
/// </summary>
public sealed class Chrony : IDisposable
{
    public const string ChronydPath = "/usr/sbin/chronyd";
    public const string ChronycPath = "/usr/bin/chronyc";

    private readonly Process _process;
    public string Directory { get; }
    private string Socket => Path.Combine(Directory, "chronyd.sock");

    private Chrony(string directory, Process process)
    {
        Directory = directory;
        _process = process;
    }

    public static void RequireInstalled()
    {
        if (!File.Exists(ChronydPath) || !File.Exists(ChronycPath))
            throw new InvalidOperationException($"{ChronydPath} or {ChronycPath} is missing: install Debian's chrony (the test command .ci/run does)");
    }

    /// <summary>Starts chronyd -x -d as a client of the given server lines.</summary>
    public static Chrony StartClient(params string[] serverLines)
    {
        RequireInstalled();
        string dir = Path.Combine(Path.GetTempPath(), "chrony-test-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        // chronyd refuses a command socket in a directory others can reach.
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string conf = Path.Combine(dir, "chrony.conf");
        File.WriteAllLines(conf, serverLines.Concat([
            $"bindcmdaddress {Path.Combine(dir, "chronyd.sock")}",
            "cmdport 0",
            "port 0",
            $"pidfile {Path.Combine(dir, "chronyd.pid")}",
        ]));
        var info = new ProcessStartInfo(ChronydPath)
        {
            // -x: never adjust this machine's clock. -d: stay in the foreground. -u root: no privilege drop.
            ArgumentList = { "-x", "-d", "-u", "root", "-f", conf },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Chrony(dir, process);
    }

    public string Chronyc(params string[] args)
    {
        var info = new ProcessStartInfo(ChronycPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-h");
        info.ArgumentList.Add(Socket);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit(10_000);
        return output;
    }

    /// <summary>
    /// chronyd -Q: measures the offset against the server once and prints it, never touching the clock.
    /// Returns the offset in seconds.
    /// </summary>
    public static double MeasureOffsetSeconds(string serverLine)
    {
        RequireInstalled();
        var info = new ProcessStartInfo(ChronydPath)
        {
            ArgumentList = { "-Q", "-t", "20", "-u", "root", serverLine },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit(30_000);
        string all = stdout.Result + stderr;
        var match = System.Text.RegularExpressions.Regex.Match(all, @"System clock wrong by (?<offset>[-+0-9.e]+) seconds");
        if (!match.Success) throw new InvalidOperationException("chronyd -Q printed no offset:\n" + all);
        return double.Parse(match.Groups["offset"].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        try { System.IO.Directory.Delete(Directory, true); } catch (IOException) { }
    }
}
