using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Node.Clock;

namespace TimeMesh.Cli.Doctor;

/// <summary>
/// Everything doctor reads from the machine. The defaults read this machine; tests replace any of them
/// (a fake /proc tree, fake unit links, fixed capability bits, a fixed kernel clock state).
/// </summary>
public sealed record DoctorEnvironment
{
    public ProcFs Proc { get; init; } = new();

    /// <summary>Where enabled units are linked (<c>*.wants/</c>, <c>*.requires/</c>).</summary>
    public string SystemdUnitDirectory { get; init; } = "/etc/systemd/system";

    /// <summary><c>systemctl is-enabled UNIT</c>; null when there is no usable systemctl.</summary>
    public Func<string, string?>? SystemctlIsEnabled { get; init; } = Systemctl.IsEnabled;

    /// <summary>Effective capability bits; null: read CapEff from <see cref="Proc"/>'s <c>self/status</c>.</summary>
    public ulong? EffectiveCapabilities { get; init; }

    /// <summary>Tries to bind a UDP socket on the endpoint and closes it at once: nothing is sent or received.</summary>
    public Func<IPEndPoint, SocketError> BindProbe { get; init; } = ProbeBind;

    /// <summary>The same for a TCP listener (the monitoring endpoint, the cluster port); nothing is accepted.</summary>
    public Func<IPEndPoint, SocketError> TcpBindProbe { get; init; } = ProbeTcpBind;

    /// <summary>A read-only adjtimex (modes = 0) query; null when the platform has none.</summary>
    public Func<LinuxKernelClock.KernelClockState>? KernelClock { get; init; } = LinuxKernelClock.Query;

    /// <summary>The doctor's own process, never reported as a conflict.</summary>
    public int SelfPid { get; init; } = Environment.ProcessId;

    /// <summary>Where a relative data-dir is resolved (the node resolves it against its working directory).</summary>
    public string WorkingDirectory { get; init; } = Environment.CurrentDirectory;

    /// <summary>The wall clock, for certificate expiry.</summary>
    public Func<DateTimeOffset> Now { get; init; } = () => DateTimeOffset.UtcNow;

    /// <summary>The config doctor reads when none is given.</summary>
    public string DefaultConfigPath { get; init; } = "/etc/timemesh/timemesh.hocon";

    public static SocketError ProbeTcpBind(IPEndPoint endpoint)
    {
        try
        {
            using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
            socket.Bind(endpoint);
            return SocketError.Success;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }

    public static SocketError ProbeBind(IPEndPoint endpoint)
    {
        try
        {
            using var socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            // Bind as the node does: IPv6 sockets are v6-only, no address or port reuse.
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
            socket.Bind(endpoint);
            return SocketError.Success;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
    }
}

/// <summary>systemctl, when this machine has one that answers.</summary>
public static class Systemctl
{
    public static string? IsEnabled(string unit)
    {
        string? path = new[] { "/usr/bin/systemctl", "/bin/systemctl" }.FirstOrDefault(File.Exists);
        if (path is null) return null;
        try
        {
            var info = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add("is-enabled");
            info.ArgumentList.Add(unit);
            using var process = Process.Start(info);
            if (process is null) return null;
            var stderr = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd().Trim();
            if (!process.WaitForExit(5000))
            {
                process.Kill();
                return null;
            }
            _ = stderr.Result;
            // Prints the state ("enabled", "disabled", "masked", "alias", ...) or nothing for an unknown unit.
            return output.Length == 0 ? null : output.Split('\n')[0];
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }
}
