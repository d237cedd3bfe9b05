using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Doctor;

/// <summary>The capabilities the config needs: CAP_SYS_TIME for clock = system, CAP_NET_BIND_SERVICE for ports below 1024.</summary>
public sealed class PrivilegeCheck(DoctorEnvironment env)
{
    public const string Name = "privileges";
    public const int CapNetBindService = 10;
    public const int CapSysTime = 25;

    public IEnumerable<DoctorFinding> Run(TimeMeshSettings settings)
    {
        ulong? caps = env.EffectiveCapabilities ?? env.Proc.EffectiveCapabilities();
        // Doctor judges its own process; a service gets its capabilities from the unit or container instead.
        const string whose = "this process";
        bool Has(int cap) => caps is { } c && (c & (1UL << cap)) != 0;
        string capsText = caps is { } v ? $"CapEff {v:x16}" : "CapEff unreadable";

        if (settings.Upstream.Clock == ClockMode.System)
        {
            if (Has(CapSysTime))
                yield return DoctorFinding.Ok(Name, $"clock = system: {whose} has CAP_SYS_TIME");
            else
                yield return DoctorFinding.Fail(Name, $"clock = system needs CAP_SYS_TIME, which {whose} lacks ({capsText})",
                    "AmbientCapabilities=CAP_SYS_TIME in the unit (deploy/systemd/timemesh.service), docker run --cap-add SYS_TIME, or clock = virtual");
        }
        else
        {
            yield return DoctorFinding.Ok(Name, "clock = virtual: no CAP_SYS_TIME needed (the OS clock is never touched)");
        }

        var low = settings.Listen.Where(e => e.Port is > 0 and < 1024).Select(e => e.Port).Distinct().Order().ToList();
        if (low.Count == 0) yield break;
        string ports = string.Join(", ", low);
        int? unprivilegedStart = env.Proc.UnprivilegedPortStart();
        if (unprivilegedStart is { } start && low.All(p => p >= start))
            yield return DoctorFinding.Ok(Name, $"port {ports}: any user may bind it here (net.ipv4.ip_unprivileged_port_start = {start})");
        else if (Has(CapNetBindService))
            yield return DoctorFinding.Ok(Name, $"port {ports}: {whose} has CAP_NET_BIND_SERVICE");
        else
            yield return DoctorFinding.Fail(Name, $"port {ports} is below 1024 and {whose} lacks CAP_NET_BIND_SERVICE ({capsText}, net.ipv4.ip_unprivileged_port_start = {unprivilegedStart?.ToString() ?? "unknown"})",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit, setcap cap_net_bind_service=+ep on the executable, docker --sysctl net.ipv4.ip_unprivileged_port_start=123, or a port >= 1024");
    }
}
