using System.Text.RegularExpressions;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Doctor;

/// <summary>A time daemon that would fight TimeMesh for the clock or the NTP port.</summary>
public sealed record TimeDaemon(string Name, IReadOnlyList<string> ProcessNames, IReadOnlyList<string> Units, string Disable)
{
    /// <summary>ntp, ntpsec and Debian's openntpd all run a binary named ntpd; their units tell them apart.</summary>
    public static IReadOnlyList<TimeDaemon> Known { get; } =
    [
        new("chronyd", ["chronyd"], ["chrony.service", "chronyd.service"], "systemctl disable --now chrony"),
        new("ntpd", ["ntpd"], ["ntp.service", "ntpd.service"], "systemctl disable --now ntp"),
        new("ntpsec", [], ["ntpsec.service"], "systemctl disable --now ntpsec"),
        new("openntpd", ["openntpd"], ["openntpd.service"], "systemctl disable --now openntpd"),
        // The kernel truncates comm to 15 characters.
        new("systemd-timesyncd", ["systemd-timesyn", "systemd-timesyncd"], ["systemd-timesyncd.service"], "systemctl disable --now systemd-timesyncd"),
    ];
}

/// <summary>Time daemons running (from /proc) or enabled (unit links, systemctl).</summary>
public sealed partial class TimeDaemonCheck(DoctorEnvironment env)
{
    public const string Name = "time-daemon";

    public IEnumerable<DoctorFinding> Run(TimeMeshSettings? settings)
    {
        bool systemClock = settings?.Upstream.Clock == ClockMode.System;
        var processes = env.Proc.Processes();
        var findings = new List<DoctorFinding>();
        foreach (var daemon in TimeDaemon.Known)
        {
            var running = processes.Where(p => p.Pid != env.SelfPid && daemon.ProcessNames.Contains(p.Name)).ToList();
            foreach (var p in running)
            {
                string what = $"{daemon.Name} runs (pid {p.Pid}: {p.CommandText})";
                if (daemon.Name == "chronyd" && p.CommandLine.Skip(1).Any(a => NoClockOption().IsMatch(a)))
                    findings.Add(DoctorFinding.Warn(Name, what + " with -x/-Q: it never touches the clock, but may serve NTP beside TimeMesh",
                        $"stop it when done (kill {p.Pid}) unless it is meant to be an upstream of TimeMesh"));
                else if (systemClock)
                    findings.Add(DoctorFinding.Fail(Name, what + " and steers the clock that clock = system steers too", daemon.Disable));
                else
                    findings.Add(DoctorFinding.Warn(Name, what + " and steers the OS clock under TimeMesh's virtual clock (two disciplines on one clock)", daemon.Disable));
            }

            var (enabled, dangling) = EnabledUnits(daemon);
            foreach (string unit in enabled)
            {
                string fix = running.Count > 0 ? daemon.Disable : $"systemctl disable {unit}";
                findings.Add(DoctorFinding.Warn(Name, $"{unit} is enabled: {daemon.Name} starts at boot{(running.Count == 0 ? " (not running now)" : "")}", fix));
            }
            foreach (string link in dangling)
                findings.Add(DoctorFinding.Ok(Name, $"{link} links to a unit file that is gone (package removed): {daemon.Name} cannot start"));
        }
        if (findings.Count == 0)
            findings.Add(DoctorFinding.Ok(Name, "no chronyd, ntpd, ntpsec, openntpd or systemd-timesyncd running or enabled"));
        return findings;
    }

    /// <summary>chronyd -x never adjusts the clock; -Q only prints the offset.</summary>
    [GeneratedRegex("^-[a-zA-Z]*[xQ]")]
    private static partial Regex NoClockOption();

    private (IReadOnlyList<string> Enabled, IReadOnlyList<string> Dangling) EnabledUnits(TimeDaemon daemon)
    {
        var enabled = new SortedSet<string>(StringComparer.Ordinal);
        var dangling = new SortedSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(env.SystemdUnitDirectory))
        {
            foreach (string dir in Directory.EnumerateDirectories(env.SystemdUnitDirectory)
                         .Where(d => d.EndsWith(".wants", StringComparison.Ordinal) || d.EndsWith(".requires", StringComparison.Ordinal)))
            {
                foreach (string unit in daemon.Units)
                {
                    string link = Path.Combine(dir, unit);
                    var info = new FileInfo(link);
                    if (info.LinkTarget is { } target)
                    {
                        string resolved = Path.IsPathRooted(target) ? target : Path.Combine(dir, target);
                        if (File.Exists(resolved)) enabled.Add(unit);
                        else dangling.Add(link);
                    }
                    else if (info.Exists)
                    {
                        enabled.Add(unit);
                    }
                }
            }
        }
        if (env.SystemctlIsEnabled is { } isEnabled)
        {
            foreach (string unit in daemon.Units)
            {
                // "alias" names another unit of the same daemon, which is asked on its own.
                if (isEnabled(unit) is "enabled" or "enabled-runtime") enabled.Add(unit);
            }
        }
        // An alias link (chronyd.service -> chrony.service) is the same daemon: report the unit once.
        if (enabled.Count > 1) enabled = new SortedSet<string>([enabled.Min!], StringComparer.Ordinal);
        if (enabled.Count > 0) dangling.Clear();
        return (enabled.ToList(), dangling.ToList());
    }
}
