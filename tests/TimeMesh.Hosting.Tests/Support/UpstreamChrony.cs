using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TimeMesh.Hosting.Tests.Support;

/// <summary>
/// Debian's chronyd as the mesh's upstream server on loopback (the pattern of TimeMesh.Node.Tests):
/// <c>-x</c> so it never touches this machine's clock, <c>local stratum 1</c>, every file in a private
/// temp directory. A missing chronyd fails the test loudly (tests/run-all.sh installs it).
/// </summary>
public sealed class UpstreamChrony : IDisposable
{
    public const string ChronydPath = "/usr/sbin/chronyd";

    private readonly Process _process;
    private readonly string _directory;
    public int Port { get; }

    private UpstreamChrony(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public static UpstreamChrony Start()
    {
        if (!File.Exists(ChronydPath))
            throw new InvalidOperationException($"{ChronydPath} is missing: install Debian's chrony (tests/run-all.sh does)");
        int port = FreePorts.Udp();
        string dir = Path.Combine(Path.GetTempPath(), "tm-hosting-chrony-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string conf = Path.Combine(dir, "chrony.conf");
        File.WriteAllLines(conf, [
            $"port {port}",
            "bindaddress 127.0.0.1",
            "local stratum 1",
            "allow 127.0.0.1",
            "cmdport 0",
            $"pidfile {Path.Combine(dir, "chronyd.pid")}",
            $"driftfile {Path.Combine(dir, "chronyd.drift")}",
        ]);
        var info = new ProcessStartInfo(ChronydPath)
        {
            // -x: never adjust this machine's clock. -d: foreground. -u root: no privilege drop.
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
        var chrony = new UpstreamChrony(process, dir, port);
        // chronyd writes its pid file once it runs; its server socket is bound by then.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !File.Exists(Path.Combine(dir, "chronyd.pid")) && !process.HasExited) Thread.Sleep(50);
        if (process.HasExited)
        {
            chrony.Dispose();
            throw new InvalidOperationException($"chronyd exited at start (port {port})");
        }
        return chrony;
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
        try { Directory.Delete(_directory, true); } catch (IOException) { }
    }
}

/// <summary>Free loopback ports (bound and released: good enough for a test).</summary>
public static class FreePorts
{
    public static int Udp()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    public static int Tcp()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
