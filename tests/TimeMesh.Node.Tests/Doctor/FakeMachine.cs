using System.Net.Sockets;
using TimeMesh.Cli.Doctor;
using TimeMesh.Node.Clock;

namespace TimeMesh.Node.Tests.Doctor;

/// <summary>A fake /proc tree and unit directory in a temp directory, for doctor's checks.</summary>
public sealed class FakeMachine : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("timemesh-doctor-fake").FullName;
    public string Proc => Path.Combine(Root, "proc");
    public string UnitDirectory => Path.Combine(Root, "etc", "systemd", "system");
    private string UnitFiles => Path.Combine(Root, "lib", "systemd", "system");

    public static readonly LinuxKernelClock.KernelClockState Unsynchronised = new(5, 0, 16_000_000, 16_000_000, KernelClockCheck.StaUnsync, 10_000);
    public static readonly LinuxKernelClock.KernelClockState SynchronisedByOther = new(0, 12.5, 4_000, 50, KernelClockCheck.StaPll, 10_000);

    public FakeMachine()
    {
        Directory.CreateDirectory(Path.Combine(Proc, "net"));
        Directory.CreateDirectory(Path.Combine(Proc, "self"));
        Directory.CreateDirectory(UnitDirectory);
        Directory.CreateDirectory(UnitFiles);
        File.WriteAllText(Path.Combine(Proc, "net", "udp"), UdpHeader);
        File.WriteAllText(Path.Combine(Proc, "net", "udp6"), UdpHeader);
        File.WriteAllText(Path.Combine(Proc, "net", "tcp"), UdpHeader);
        File.WriteAllText(Path.Combine(Proc, "net", "tcp6"), UdpHeader);
        SetCapabilities(0);
    }

    private const string UdpHeader = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

    public FakeMachine Process(int pid, string comm, params string[] commandLine)
    {
        string dir = Path.Combine(Proc, pid.ToString());
        Directory.CreateDirectory(Path.Combine(dir, "fd"));
        File.WriteAllText(Path.Combine(dir, "comm"), comm + "\n");
        File.WriteAllText(Path.Combine(dir, "cmdline"), string.Concat(commandLine.Select(a => a + "\0")));
        return this;
    }

    /// <summary>A UDP socket as the kernel lists it ("0100007F:007B" is 127.0.0.1:123), held by fd 5 of <paramref name="pid"/>.</summary>
    public FakeMachine UdpSocket(string hexLocal, long inode, int? pid, bool ipv6 = false)
    {
        int row = File.ReadAllLines(Path.Combine(Proc, "net", ipv6 ? "udp6" : "udp")).Length - 1;
        string remote = ipv6 ? "00000000000000000000000000000000:0000" : "00000000:0000";
        File.AppendAllText(Path.Combine(Proc, "net", ipv6 ? "udp6" : "udp"),
            $"  {row,3}: {hexLocal} {remote} 07 00000000:00000000 00:00000000 00000000     0        0 {inode} 2 0000000000000000 0\n");
        if (pid is { } p)
            File.CreateSymbolicLink(Path.Combine(Proc, p.ToString(), "fd", (5 + row).ToString()), $"socket:[{inode}]");
        return this;
    }

    /// <summary>A listening TCP socket (state 0A) held by an fd of <paramref name="pid"/>.</summary>
    public FakeMachine TcpListener(string hexLocal, long inode, int pid)
    {
        File.AppendAllText(Path.Combine(Proc, "net", "tcp"),
            $"   0: {hexLocal} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n");
        // An established connection on the same port is not a listener and must not count.
        File.AppendAllText(Path.Combine(Proc, "net", "tcp"),
            $"   1: {hexLocal} 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 {inode + 1} 1 0000000000000000 100 0 0 10 0\n");
        File.CreateSymbolicLink(Path.Combine(Proc, pid.ToString(), "fd", $"{100 + inode % 1000}"), $"socket:[{inode}]");
        return this;
    }

    public FakeMachine SetCapabilities(ulong capEff)
    {
        File.WriteAllText(Path.Combine(Proc, "self", "status"), $"Name:\ttimemesh\nCapInh:\t0000000000000000\nCapPrm:\t{capEff:x16}\nCapEff:\t{capEff:x16}\nCapBnd:\t000001ffffffffff\n");
        return this;
    }

    public FakeMachine UnprivilegedPortStart(int port)
    {
        Directory.CreateDirectory(Path.Combine(Proc, "sys", "net", "ipv4"));
        File.WriteAllText(Path.Combine(Proc, "sys", "net", "ipv4", "ip_unprivileged_port_start"), port + "\n");
        return this;
    }

    /// <summary>Links the unit into <c>TARGET.wants</c>, as systemctl enable does; a removed package leaves the link dangling.</summary>
    public FakeMachine EnableUnit(string unit, string target = "multi-user.target", bool unitFileGone = false)
    {
        string file = Path.Combine(UnitFiles, unit);
        if (!unitFileGone) File.WriteAllText(file, "[Service]\nExecStart=/bin/true\n");
        string wants = Path.Combine(UnitDirectory, target + ".wants");
        Directory.CreateDirectory(wants);
        File.CreateSymbolicLink(Path.Combine(wants, unit), file);
        return this;
    }

    public string Config(string timemeshBody, string? akka = null)
    {
        string path = Path.Combine(Root, $"node-{Guid.NewGuid():N}.hocon");
        File.WriteAllText(path, $"timemesh {{\n{timemeshBody}\n}}\n{akka}");
        return path;
    }

    public DoctorEnvironment Environment(Func<System.Net.IPEndPoint, SocketError>? bind = null, LinuxKernelClock.KernelClockState? clock = null) => new()
    {
        Proc = new ProcFs(Proc),
        SystemdUnitDirectory = UnitDirectory,
        SystemctlIsEnabled = null,
        BindProbe = bind ?? (_ => SocketError.Success),
        TcpBindProbe = _ => SocketError.Success,
        KernelClock = () => clock ?? Unsynchronised,
        SelfPid = -1,
        WorkingDirectory = Root,
        DefaultConfigPath = Path.Combine(Root, "no-such.hocon"),
    };

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
