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

    /// <summary>
    /// Starts chronyd -x -d as an upstream server on a loopback address: <c>local stratum 1</c>, allowing
    /// loopback, serving <paramref name="port"/> (0: a free one is picked).
    /// </summary>
    public static Chrony StartServer(string bindAddress, int port, int stratum = 1, params string[] extraLines) =>
        Start([$"port {port}", $"bindaddress {bindAddress}", $"local stratum {stratum}", "allow 127.0.0.0/8", "allow ::1", .. extraLines], serverPort: port);

    /// <summary>
    /// A free UDP port on loopback, bound and released, never one this process was handed before: the kernel may
    /// give a released port out again at once, and two nodes of one test then shared a port (CI, wave 2).
    /// </summary>
    public static int FreeUdpPort() => Unused(() =>
    {
        using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return ((System.Net.IPEndPoint)s.LocalEndPoint!).Port;
    });

    /// <summary>A free TCP port on loopback (for cluster addresses in tests), never one this process was handed before.</summary>
    public static int FreeTcpPort() => Unused(() =>
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    });

    private static readonly HashSet<int> HandedOut = new();

    private static int Unused(Func<int> pick)
    {
        for (int attempt = 0; ; attempt++)
        {
            int port = pick();
            lock (HandedOut)
            {
                if (HandedOut.Add(port) || attempt >= 100) return port;
            }
        }
    }

    /// <summary>Starts chronyd -x -d serving <paramref name="port"/> on 127.0.0.1 with the given extra lines (allow, deny...).</summary>
    public static Chrony StartServerWith(int port, params string[] lines) =>
        Start([$"port {port}", "bindaddress 127.0.0.1", .. lines], serverPort: port);

    /// <summary>Starts chronyd -x -d as a client of the given server lines.</summary>
    public static Chrony StartClient(params string[] serverLines) => Start([.. serverLines, "port 0"], serverPort: 0);

    /// <summary>
    /// chronyd -x -d inside the network namespace <paramref name="netns"/> (one the test made): <c>ip netns exec</c> execs
    /// chronyd, so the process killed on dispose is chronyd itself. Its command socket is a file and reachable from here.
    /// </summary>
    public static Chrony StartInNamespace(string netns, int serverPort, params string[] lines) => Start(lines, serverPort, netns);

    private static Chrony Start(string[] lines, int serverPort, string? netns = null)
    {
        RequireInstalled();
        string dir = Path.Combine(Path.GetTempPath(), "chrony-test-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        // chronyd refuses a command socket in a directory others can reach.
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string conf = Path.Combine(dir, "chrony.conf");
        File.WriteAllLines(conf, lines.Concat([
            $"bindcmdaddress {Path.Combine(dir, "chronyd.sock")}",
            "cmdport 0",
            $"pidfile {Path.Combine(dir, "chronyd.pid")}",
        ]));
        var info = new ProcessStartInfo(netns is null ? ChronydPath : "ip")
        {
            // -x: never adjust this machine's clock. -d: stay in the foreground. -u root: no privilege drop.
            ArgumentList = { "-x", "-d", "-u", "root", "-f", conf },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (netns is not null)
        {
            foreach (string word in new[] { "netns", "exec", netns, ChronydPath }.Reverse()) info.ArgumentList.Insert(0, word);
        }
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var chrony = new Chrony(dir, process);
        if (serverPort != 0) chrony.WaitListening(serverPort);
        return chrony;
    }

    private void WaitListening(int port)
    {
        // chronyd binds its port right after start; wait until its command socket exists as a sign of life.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !File.Exists(Socket)) Thread.Sleep(50);
        if (_process.HasExited) throw new InvalidOperationException($"chronyd exited at start (port {port})");
    }

    public void Kill()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit(5000);
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

    /// <summary>Debian's chronyc against a command port over UDP (<c>chronyc -h HOST -p PORT ARGS</c>); stdout and stderr.</summary>
    public static string ChronycAt(string host, int port, params string[] args)
    {
        RequireInstalled();
        var info = new ProcessStartInfo(ChronycPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-h", host, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(args)) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd() + stderr.Result;
        p.WaitForExit(20_000);
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
