using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using TimeMesh.Cli.Doctor;

namespace TimeMesh.Node.Tests.Doctor;

/// <summary>doctor's checks on fake /proc trees and unit directories.</summary>
public class DoctorChecksTests : IDisposable
{
    private readonly FakeMachine _machine = new();
    private const string Serving = "allow = [\"127.0.0.0/8\"]\nlocal { stratum = 10 }";

    public void Dispose() => _machine.Dispose();

    private string Config(string extra = "", string listen = "127.0.0.1:11123", string? akka = null) =>
        _machine.Config($"listen = [\"{listen}\"]\n{Serving}\ndata-dir = \"{_machine.Root}/data\"\n{extra}", akka);

    private DoctorReport Run(string? config, Func<IPEndPoint, SocketError>? bind = null, Node.Clock.LinuxKernelClock.KernelClockState? clock = null) =>
        DoctorRunner.Run(_machine.Environment(bind, clock), config);

    private static IEnumerable<DoctorFinding> Of(DoctorReport report, string check) => report.Findings.Where(f => f.Check == check);

    /// <summary>The NTP port findings (the monitoring endpoint's TCP port is judged too).</summary>
    private static IEnumerable<DoctorFinding> Udp(DoctorReport report) => Of(report, PortCheck.Name).Where(f => f.Message.StartsWith("UDP"));

    [Fact]
    public void ACleanMachineAndAGoodConfigHaveNoWarningOrFailure()
    {
        var report = Run(Config());
        Assert.True(report.Findings.All(f => f.Level == DoctorLevel.Ok), report.ToText());
        Assert.Equal(0, report.ExitCode);
        Assert.Contains(report.Findings, f => f.Check == PortCheck.Name && f.Message == "UDP 127.0.0.1:11123 is free");
    }

    [Fact]
    public void ARunningChronydIsAWarningWithTheVirtualClockAndAFailureWithTheSystemClock()
    {
        _machine.Process(812, "chronyd", "/usr/sbin/chronyd", "-F", "1").Process(900, "bash", "-bash");

        var virtualClock = Of(Run(Config()), TimeDaemonCheck.Name).Single();
        Assert.Equal(DoctorLevel.Warn, virtualClock.Level);
        Assert.Contains("chronyd runs (pid 812: /usr/sbin/chronyd -F 1)", virtualClock.Message);
        Assert.Equal("systemctl disable --now chrony", virtualClock.Fix);

        var report = Run(Config("clock = system"));
        var systemClock = Of(report, TimeDaemonCheck.Name).Single();
        Assert.Equal(DoctorLevel.Fail, systemClock.Level);
        Assert.Contains("pid 812", systemClock.Message);
        Assert.Equal(1, report.ExitCode);
    }

    [Theory]
    [InlineData("-x")]
    [InlineData("-dx")]
    [InlineData("-Q")]
    public void AChronydThatNeverTouchesTheClockIsOnlyAWarning(string option)
    {
        _machine.Process(4711, "chronyd", "/usr/sbin/chronyd", option, "-f", "/tmp/c.conf");
        var finding = Of(Run(Config("clock = system")), TimeDaemonCheck.Name).Single();
        Assert.Equal(DoctorLevel.Warn, finding.Level);
        Assert.Contains("never touches the clock", finding.Message);
        Assert.Contains("kill 4711", finding.Fix);
    }

    [Fact]
    public void EveryKnownDaemonIsFoundByItsProcessName()
    {
        _machine.Process(10, "ntpd", "/usr/sbin/ntpd", "-p", "/run/ntpd.pid")
            .Process(11, "systemd-timesyn", "/lib/systemd/systemd-timesyncd")
            .Process(12, "openntpd", "/usr/sbin/openntpd");
        var findings = Of(Run(Config()), TimeDaemonCheck.Name).ToList();
        Assert.Equal(3, findings.Count);
        Assert.Contains(findings, f => f.Message.StartsWith("ntpd runs (pid 10") && f.Fix == "systemctl disable --now ntp");
        Assert.Contains(findings, f => f.Message.StartsWith("systemd-timesyncd runs (pid 11") && f.Fix == "systemctl disable --now systemd-timesyncd");
        Assert.Contains(findings, f => f.Message.StartsWith("openntpd runs (pid 12"));
    }

    [Fact]
    public void AnEnabledTimesyncdIsReportedWithTheCommandThatDisablesIt()
    {
        _machine.EnableUnit("systemd-timesyncd.service", "sysinit.target");
        var finding = Of(Run(Config()), TimeDaemonCheck.Name).Single();
        Assert.Equal(DoctorLevel.Warn, finding.Level);
        Assert.Equal("systemd-timesyncd.service is enabled: systemd-timesyncd starts at boot (not running now)", finding.Message);
        Assert.Equal("systemctl disable systemd-timesyncd.service", finding.Fix);
    }

    [Fact]
    public void ALinkToARemovedUnitFileIsNotAnEnabledDaemon()
    {
        _machine.EnableUnit("systemd-timesyncd.service", "sysinit.target", unitFileGone: true);
        var finding = Of(Run(Config()), TimeDaemonCheck.Name).Single();
        Assert.Equal(DoctorLevel.Ok, finding.Level);
        Assert.Contains("unit file that is gone", finding.Message);
    }

    [Fact]
    public void SystemctlIsAskedToo()
    {
        var env = _machine.Environment() with { SystemctlIsEnabled = unit => unit == "ntpsec.service" ? "enabled" : "disabled" };
        var finding = Of(DoctorRunner.Run(env, Config()), TimeDaemonCheck.Name).Single();
        Assert.Equal("ntpsec.service is enabled: ntpsec starts at boot (not running now)", finding.Message);
    }

    [Fact]
    public void ATakenPortNamesTheProcessThatHoldsIt()
    {
        // ntpd on the wildcard address holds 123 for every IPv4 address, 127.0.0.1 included.
        _machine.Process(77, "ntpd", "/usr/sbin/ntpd").UdpSocket("00000000:007B", 4242, pid: 77);
        var report = Run(Config(listen: "127.0.0.1:123"));
        var port = Udp(report).Single();
        Assert.Equal(DoctorLevel.Fail, port.Level);
        Assert.Equal("UDP 127.0.0.1:123 is taken by ntpd (pid 77) (bound as 0.0.0.0:123)", port.Message);
        Assert.Contains("timemesh.listen", port.Fix);
        Assert.Equal(1, report.ExitCode);
    }

    [Fact]
    public void AnIpv6SocketIsMatchedOnlyAgainstIpv6Addresses()
    {
        // ::1 as the kernel prints it: four 32-bit words in host order.
        _machine.Process(78, "chronyd", "/usr/sbin/chronyd", "-x").UdpSocket("00000000000000000000000001000000:2B93", 99, pid: 78, ipv6: true);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 11155), ProcFs.ParseHexEndpoint("00000000000000000000000001000000:2B93"));
        Assert.Equal(DoctorLevel.Ok, Udp(Run(Config(listen: "127.0.0.1:11155"))).Single().Level);
        var v6 = Udp(Run(Config(listen: "[::1]:11155"))).Single();
        Assert.Equal("UDP [::1]:11155 is taken by chronyd (pid 78)", v6.Message);
    }

    [Fact]
    public void APortTheBindProbeFindsTakenButNoVisibleSocketHoldsIsStillAFailure()
    {
        var port = Udp(Run(Config(listen: "127.0.0.1:11123"), bind: _ => SocketError.AddressAlreadyInUse)).Single();
        Assert.Equal(DoctorLevel.Fail, port.Level);
        Assert.Contains("a process this user cannot see", port.Message);
    }

    [Fact]
    public void APortHeldByTimeMeshItselfIsAWarning()
    {
        _machine.Process(500, "dotnet", "dotnet", "/opt/timemesh/timemesh.dll", "run", "--config", "/etc/timemesh/timemesh.hocon")
            .UdpSocket("0100007F:2B93", 7, pid: 500);
        var port = Udp(Run(Config(listen: "127.0.0.1:11155"))).Single();
        Assert.Equal(DoctorLevel.Warn, port.Level);
        Assert.Equal("UDP 127.0.0.1:11155 is taken by TimeMesh: dotnet (pid 500)", port.Message);
    }

    [Fact]
    public void ATakenMonitoringPortIsAWarningAndATakenClusterPortAFailure()
    {
        // 127.0.0.1:11130 (2B7A) and :4053 (0FD5) held by a web server.
        _machine.Process(300, "nginx", "nginx: master process").TcpListener("0100007F:2B7A", 8000, 300).TcpListener("0100007F:0FD5", 8100, 300);
        var report = Run(Config("role = master\ncontrol.listen = \"127.0.0.1:11130\"",
            akka: "akka {\nremote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 4053 }\ncluster.seed-nodes = [\"akka.tcp://timemesh@127.0.0.1:4053\"]\n}"));
        var tcp = Of(report, PortCheck.Name).Where(f => f.Message.StartsWith("TCP")).ToList();
        Assert.Equal(2, tcp.Count);
        Assert.Equal(DoctorLevel.Warn, tcp[0].Level);
        Assert.Equal("TCP 127.0.0.1:11130 (monitoring endpoint (timemesh.control.listen)) is taken by nginx (pid 300): the node serves NTP without its monitoring endpoint", tcp[0].Message);
        Assert.Equal(DoctorLevel.Fail, tcp[1].Level);
        Assert.StartsWith("TCP 127.0.0.1:4053 (cluster port (akka.remote.dot-netty.tcp)) is taken by nginx (pid 300)", tcp[1].Message);

        var free = Of(Run(Config("control.listen = \"127.0.0.1:11140\"")), PortCheck.Name).Single(f => f.Message.StartsWith("TCP"));
        Assert.Equal("TCP 127.0.0.1:11140 (monitoring endpoint (timemesh.control.listen)) is free", free.Message);
    }

    [Fact]
    public void AnAddressThisMachineDoesNotHaveIsAFailure()
    {
        // The real bind probe: 192.0.2.1 (TEST-NET-1) is on no interface here; nothing is sent.
        var port = Udp(Run(Config(listen: "192.0.2.1:11123"), bind: DoctorEnvironment.ProbeBind)).Single();
        Assert.Equal(DoctorLevel.Fail, port.Level);
        Assert.Contains("192.0.2.1 is not an address of this machine", port.Message);
    }

    [Fact]
    public void TheSystemClockNeedsCapSysTime()
    {
        var without = Of(Run(Config("clock = system")), PrivilegeCheck.Name).Single();
        Assert.Equal(DoctorLevel.Fail, without.Level);
        Assert.Contains("CAP_SYS_TIME", without.Message);
        Assert.Contains("AmbientCapabilities=CAP_SYS_TIME", without.Fix);

        _machine.SetCapabilities(1UL << PrivilegeCheck.CapSysTime);
        Assert.Equal(DoctorLevel.Ok, Of(Run(Config("clock = system")), PrivilegeCheck.Name).Single().Level);
    }

    [Fact]
    public void APortBelow1024NeedsCapNetBindServiceUnlessTheSysctlAllowsIt()
    {
        _machine.UnprivilegedPortStart(1024);
        var without = Of(Run(Config(listen: "0.0.0.0:123")), PrivilegeCheck.Name).Last();
        Assert.Equal(DoctorLevel.Fail, without.Level);
        Assert.Contains("port 123 is below 1024", without.Message);
        Assert.Contains("ip_unprivileged_port_start=123", without.Fix);

        _machine.SetCapabilities(1UL << PrivilegeCheck.CapNetBindService);
        Assert.Contains("has CAP_NET_BIND_SERVICE", Of(Run(Config(listen: "0.0.0.0:123")), PrivilegeCheck.Name).Last().Message);

        _machine.SetCapabilities(0).UnprivilegedPortStart(0);
        var sysctl = Of(Run(Config(listen: "0.0.0.0:123")), PrivilegeCheck.Name).Last();
        Assert.Equal(DoctorLevel.Ok, sysctl.Level);
        Assert.Contains("ip_unprivileged_port_start = 0", sysctl.Message);
    }

    [Fact]
    public void EveryProblemTheFileCheckFindsIsAFailureWithItsLine()
    {
        var report = Run(Config("local { stratum = 20 }\nlcoal = on"));
        var config = Of(report, ConfigCheck.Name).ToList();
        Assert.Equal(2, config.Count);
        Assert.All(config, f => Assert.Equal(DoctorLevel.Fail, f.Level));
        Assert.Contains(":6:9: timemesh.local.stratum: set twice (line 4 and line 6)", config[0].Message);
        Assert.Contains(":7:1: timemesh.lcoal: unknown key; did you mean `local`?", config[1].Message);
        Assert.Equal(1, report.ExitCode);
    }

    [Fact]
    public void ABadConfigValueIsAFailureWithTheExceptionMessage()
    {
        // (Not local.stratum: Config() sets it already, and a key set twice is refused by the file check, see below.)
        var report = Run(Config("clientloglimit = 5"));
        var config = Of(report, ConfigCheck.Name).Single();
        Assert.Equal(DoctorLevel.Fail, config.Level);
        Assert.Contains("timemesh.clientloglimit = 5", config.Message);
        Assert.Contains("from 128 to", config.Message);
        Assert.Contains(report.Findings, f => f.Check == PortCheck.Name && f.Message.StartsWith("skipped"));
        Assert.Equal(1, report.ExitCode);
    }

    [Fact]
    public void SecretFilesOthersCanReadAreFailuresWithTheFixOrWarningsWhenOverridden()
    {
        string keys = Path.Combine(_machine.Root, "chrony.keys");
        File.WriteAllText(keys, "1 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7\n");
        File.SetUnixFileMode(keys, (UnixFileMode)0b110_100_100); // 0644
        const string password = "persistence { provider = postgresql, connection-string = \"Host=127.0.0.1;Password=hunter2\" }";
        string path = Config($"keyfile = \"{keys}\"\n{password}");
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        var report = Run(path);
        var failures = Of(report, ConfigCheck.Name).Where(f => f.Level == DoctorLevel.Fail).ToList();
        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, f => f.Message.StartsWith($"timemesh.keyfile: {keys} (mode 0644) is readable by every user") && f.Fix == $"chmod 600 {keys}");
        Assert.Contains(failures, f => f.Message.StartsWith($"--config: {path} (mode 0644)") && f.Fix == $"chmod 640 {path}");
        Assert.Equal(1, report.ExitCode);
        // The rest of the config is still judged.
        Assert.Contains(Of(report, ConfigCheck.Name), f => f.Level == DoctorLevel.Ok && f.Message.Contains("loaded"));

        File.SetUnixFileMode(keys, (UnixFileMode)0b110_000_000);
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_000);
        Assert.DoesNotContain(Of(Run(path), ConfigCheck.Name), f => f.Level == DoctorLevel.Fail);

        File.SetUnixFileMode(keys, (UnixFileMode)0b110_100_100);
        var overridden = Of(Run(Config($"keyfile = \"{keys}\"\ninsecure-file-permissions = on")), ConfigCheck.Name).ToList();
        Assert.DoesNotContain(overridden, f => f.Level == DoctorLevel.Fail);
        Assert.Contains(overridden, f => f.Level == DoctorLevel.Warn && f.Message.StartsWith($"timemesh.keyfile: {keys} (mode 0644)") && f.Fix == $"chmod 600 {keys}");
    }

    [Fact]
    public void AMissingConfigFileIsAFailure()
    {
        var config = Of(Run(Path.Combine(_machine.Root, "absent.hocon")), ConfigCheck.Name).Single();
        Assert.Equal(DoctorLevel.Fail, config.Level);
        Assert.Contains("does not exist", config.Message);
    }

    [Fact]
    public void ADataDirThatCannotBeCreatedIsAFailure()
    {
        // A file where a parent directory should be stops even root.
        File.WriteAllText(Path.Combine(_machine.Root, "blocker"), "");
        string path = _machine.Config($"listen = [\"127.0.0.1:11123\"]\n{Serving}\ndata-dir = \"{_machine.Root}/blocker/data\"");
        var dataDir = Of(Run(path), ConfigCheck.Name).Single(f => f.Message.StartsWith("data-dir"));
        Assert.Equal(DoctorLevel.Fail, dataDir.Level);
        Assert.Contains("blocker is a file", dataDir.Message);
    }

    [Fact]
    public void ARelativeDataDirIsAWarning()
    {
        string path = _machine.Config($"listen = [\"127.0.0.1:11123\"]\n{Serving}\ndata-dir = \"data\"");
        Assert.Contains(Of(Run(path), ConfigCheck.Name), f => f.Level == DoctorLevel.Warn && f.Message.StartsWith("data-dir \"data\" is relative"));
    }

    [Fact]
    public void AMasterThatIsNotASeedAndAMeshWithoutSeedsAreWarnings()
    {
        const string remote = "remote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 4055 }\n";
        var report = Run(Config("role = master", akka: "akka {\n" + remote + "cluster.seed-nodes = [\"akka.tcp://timemesh@127.0.0.1:4053\"]\n}"));
        var notSeed = Of(report, ConfigCheck.Name).Last();
        Assert.True(notSeed.Level == DoctorLevel.Warn, report.ToText());
        Assert.Contains("this master (akka.tcp://timemesh@127.0.0.1:4055) is not among the seed nodes", notSeed.Message);

        var seed = Of(Run(Config("role = master", akka: "akka {\n" + remote + "cluster.seed-nodes = [\"akka.tcp://timemesh@127.0.0.1:4055\"]\n}")), ConfigCheck.Name).Last();
        Assert.Equal(DoctorLevel.Ok, seed.Level);

        var none = Of(Run(Config("role = member", akka: "akka {\n" + remote + "}")), ConfigCheck.Name).Last();
        Assert.Equal(DoctorLevel.Warn, none.Level);
        Assert.Contains("seed-nodes is empty", none.Message);
    }

    [Fact]
    public void TheMeshIsJudgedOnTheNodesIdentityThePublicAddressForSeedsAndAkkasDefaultPortWhenNoneIsSet()
    {
        // Behind NAT the seeds list the public address, which is what Akka advertises; the port check probes what the transport binds.
        const string nat = "akka {\nremote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 4055, public-hostname = \"127.0.0.2\", public-port = 14055 }\n"
            + "cluster.seed-nodes = [\"akka.tcp://timemesh@127.0.0.2:14055\"]\n}";
        var report = Run(Config("role = master", akka: nat));
        var mesh = Of(report, ConfigCheck.Name).Last();
        Assert.True(mesh.Level == DoctorLevel.Ok, report.ToText());
        Assert.Equal("mesh: master akka.tcp://timemesh@127.0.0.2:14055, seeds [akka.tcp://timemesh@127.0.0.2:14055]", mesh.Message);
        Assert.Contains(report.Findings, f => f.Check == PortCheck.Name && f.Message.StartsWith("TCP 127.0.0.1:4055 (cluster port"));

        // No port: Akka's 2552, which is neither random nor unchecked.
        var unset = Run(Config("role = master", akka: "akka {\nremote.dot-netty.tcp { hostname = \"127.0.0.1\" }\ncluster.seed-nodes = [\"akka.tcp://timemesh@127.0.0.1:2552\"]\n}"));
        Assert.DoesNotContain(unset.Findings, f => f.Message.Contains("port is 0"));
        Assert.Equal(DoctorLevel.Ok, Of(unset, ConfigCheck.Name).Last().Level);
        Assert.Contains(unset.Findings, f => f.Check == PortCheck.Name && f.Message.StartsWith("TCP 127.0.0.1:2552 (cluster port"));
    }

    [Fact]
    public void AClusterAddressOffLoopbackNeedsTlsOrTheInsecureOverride()
    {
        const string lan = "akka {\nremote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }\ncluster.seed-nodes = [\"akka.tcp://timemesh@10.0.0.11:4053\"]\n}";
        var refused = Of(Run(Config("role = master", akka: lan)), ConfigCheck.Name).Single(f => f.Message.Contains("cluster-tls"));
        Assert.Equal(DoctorLevel.Fail, refused.Level);
        Assert.Contains("refuses to start", refused.Message);

        var insecure = Of(Run(Config("role = master\nmesh.insecure = on", akka: lan)), ConfigCheck.Name).Single(f => f.Message.StartsWith("cluster "));
        Assert.Equal(DoctorLevel.Warn, insecure.Level);
        Assert.Contains("INSECURE", insecure.Message);

        const string loopback = "akka {\nremote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 4053 }\ncluster.seed-nodes = [\"akka.tcp://timemesh@127.0.0.1:4053\"]\n}";
        var local = Of(Run(Config("role = master", akka: loopback)), ConfigCheck.Name).Single(f => f.Message.StartsWith("cluster "));
        Assert.Equal(DoctorLevel.Ok, local.Level);
        Assert.Equal("cluster 127.0.0.1:4053, loopback without TLS", local.Message);
    }

    [Fact]
    public void AClosedServerAndANodeWithNothingToServeAreWarnings()
    {
        string path = _machine.Config($"listen = [\"127.0.0.1:11123\"]\ndata-dir = \"{_machine.Root}/data\"");
        var config = Of(Run(path), ConfigCheck.Name).ToList();
        Assert.Contains(config, f => f.Level == DoctorLevel.Warn && f.Message.StartsWith("allow = []"));
        Assert.Contains(config, f => f.Level == DoctorLevel.Warn && f.Message.StartsWith("no server, pool, local or role"));
    }

    [Fact]
    public void WithoutAConfigTheDefaultsAreJudged()
    {
        var report = Run(null);
        Assert.Contains(report.Findings, f => f.Check == ConfigCheck.Name && f.Level == DoctorLevel.Warn && f.Message.StartsWith("no --config"));
        Assert.Contains(report.Findings, f => f.Check == PortCheck.Name && f.Message == "UDP 0.0.0.0:123 is free");
        Assert.Contains(report.Findings, f => f.Check == PortCheck.Name && f.Message == "UDP [::]:123 is free");
    }

    [Fact]
    public void AKernelClockKeptByAnotherDisciplineIsAWarningOnlyForTheSystemClock()
    {
        var system = Of(Run(Config("clock = system"), clock: FakeMachine.SynchronisedByOther), KernelClockCheck.Name).Single();
        Assert.Equal(DoctorLevel.Warn, system.Level);
        Assert.Contains("frequency 12.500 ppm", system.Message);
        Assert.Equal(DoctorLevel.Ok, Of(Run(Config(), clock: FakeMachine.SynchronisedByOther), KernelClockCheck.Name).Single().Level);
        var unsynced = Of(Run(Config("clock = system"), clock: FakeMachine.Unsynchronised), KernelClockCheck.Name).Single();
        Assert.Equal(DoctorLevel.Ok, unsynced.Level);
        Assert.Contains("unsynchronised", unsynced.Message);
    }

    [Fact]
    public void TextHasOneLinePerFindingAndJsonTheSameFindings()
    {
        _machine.Process(812, "chronyd", "/usr/sbin/chronyd").EnableUnit("chrony.service");
        var report = Run(Config("clock = system"));
        var lines = report.ToText().TrimEnd('\n').Split('\n');
        Assert.Equal(report.Findings.Count + 1, lines.Length);
        Assert.StartsWith("fail  time-daemon: chronyd runs (pid 812", lines.Single(l => l.Contains("pid 812")));
        Assert.Contains("; fix: systemctl disable --now chrony", lines.Single(l => l.Contains("pid 812")));
        Assert.Equal($"{report.Failures} failed, {report.Warnings} warnings, {report.Findings.Count - report.Failures - report.Warnings} ok", lines[^1]);

        using var json = JsonDocument.Parse(report.ToJson());
        Assert.Equal(report.Failures, json.RootElement.GetProperty("failures").GetInt32());
        var items = json.RootElement.GetProperty("findings").EnumerateArray().ToList();
        Assert.Equal(report.Findings.Count, items.Count);
        Assert.Contains(items, i => i.GetProperty("level").GetString() == "fail" && i.GetProperty("check").GetString() == "time-daemon");
        Assert.All(items.Where(i => i.GetProperty("level").GetString() == "ok"), i => Assert.Equal(JsonValueKind.Null, i.GetProperty("fix").ValueKind));
    }
}
