using System.Net;
using System.Net.Sockets;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Doctor;

/// <summary>Whether each listen address:port is free, and which process holds it when it is not.</summary>
public sealed class PortCheck(DoctorEnvironment env)
{
    public const string Name = "port";

    public IEnumerable<DoctorFinding> Run(TimeMeshSettings settings)
    {
        var sockets = env.Proc.UdpSockets();
        foreach (var endpoint in settings.Listen)
        {
            if (endpoint.Port == 0)
            {
                yield return DoctorFinding.Ok(Name, $"UDP {endpoint}: the port is picked when the node starts");
                continue;
            }
            var holders = sockets.Where(s => Overlaps(s.Local, endpoint)).ToList();
            var probe = env.BindProbe(endpoint);
            if (holders.Count > 0 || probe == SocketError.AddressAlreadyInUse)
            {
                var owners = holders.SelectMany(h => env.Proc.SocketOwners(h.Inode))
                    .Where(p => p.Pid != env.SelfPid)
                    .DistinctBy(p => p.Pid)
                    .ToList();
                string by = owners.Count == 0
                    ? "a process this user cannot see (run doctor as root to name it)"
                    : string.Join(", ", owners.Select(p => $"{p.Name} (pid {p.Pid})"));
                string bound = string.Join(", ", holders.Select(h => h.Local).Distinct());
                string at = bound.Length == 0 || bound == endpoint.ToString() ? "" : $" (bound as {bound})";
                if (owners.Count > 0 && owners.All(IsTimeMesh))
                    yield return DoctorFinding.Warn(Name, $"UDP {endpoint} is taken by TimeMesh: {by}{at}",
                        "fine if that is this node; otherwise stop it or give this node another timemesh.listen");
                else
                    yield return DoctorFinding.Fail(Name, $"UDP {endpoint} is taken by {by}{at}",
                        $"stop it (a time daemon: see time-daemon) or listen elsewhere (timemesh.listen)");
            }
            else if (probe == SocketError.AddressNotAvailable)
            {
                yield return DoctorFinding.Fail(Name, $"UDP {endpoint}: {endpoint.Address} is not an address of this machine",
                    "listen on an address this host has (ip addr), or on 0.0.0.0 / [::]");
            }
            else if (probe == SocketError.AccessDenied)
            {
                yield return DoctorFinding.Warn(Name, $"UDP {endpoint}: this user may not bind port {endpoint.Port}, so doctor cannot tell whether it is free (nothing else holds it in {env.Proc.Root}/net)",
                    "see the privileges finding");
            }
            else if (probe != SocketError.Success)
            {
                yield return DoctorFinding.Warn(Name, $"UDP {endpoint}: test bind failed ({probe})", "check the address and this host's network setup");
            }
            else
            {
                yield return DoctorFinding.Ok(Name, $"UDP {endpoint} is free");
            }
        }
    }

    /// <summary>
    /// The TCP ports the node listens on besides NTP: the monitoring endpoint (a taken port only loses the
    /// endpoint, the CLI and the healthcheck: a warning) and the mesh's cluster port (the node cannot start: a failure).
    /// </summary>
    public IEnumerable<DoctorFinding> RunTcp(TimeMeshSettings settings, IPEndPoint? clusterEndpoint)
    {
        var listeners = env.Proc.TcpListeners();
        var wanted = new List<(string What, IPEndPoint Endpoint, bool Fatal)>();
        if (settings.Control.Listen is { Port: > 0 } control) wanted.Add(("monitoring endpoint (timemesh.control.listen)", control, false));
        if (clusterEndpoint is { Port: > 0 }) wanted.Add(("cluster port (akka.remote.dot-netty.tcp)", clusterEndpoint, true));
        foreach (var (what, endpoint, fatal) in wanted)
        {
            var holders = listeners.Where(s => Overlaps(s.Local, endpoint)).ToList();
            var probe = env.TcpBindProbe(endpoint);
            if (holders.Count == 0 && probe != SocketError.AddressAlreadyInUse)
            {
                yield return DoctorFinding.Ok(Name, $"TCP {endpoint} ({what}) is free");
                continue;
            }
            var owners = holders.SelectMany(h => env.Proc.SocketOwners(h.Inode)).Where(p => p.Pid != env.SelfPid).DistinctBy(p => p.Pid).ToList();
            string by = owners.Count == 0 ? "a process this user cannot see" : string.Join(", ", owners.Select(p => $"{p.Name} (pid {p.Pid})"));
            if (owners.Count > 0 && owners.All(IsTimeMesh))
                yield return DoctorFinding.Warn(Name, $"TCP {endpoint} ({what}) is taken by TimeMesh: {by}",
                    "fine if that is this node; otherwise stop it or give this node another port");
            else if (fatal)
                yield return DoctorFinding.Fail(Name, $"TCP {endpoint} ({what}) is taken by {by}: the node cannot join the mesh",
                    "stop it or choose another akka.remote.dot-netty.tcp.port (and update every node's seed-nodes)");
            else
                yield return DoctorFinding.Warn(Name, $"TCP {endpoint} ({what}) is taken by {by}: the node serves NTP without its monitoring endpoint",
                    "stop it or set another timemesh.control.listen (the CLI's --node and the healthcheck follow it)");
        }
    }

    /// <summary>Whether a bound socket would make binding the listen endpoint fail (same family, same port, same or wildcard address).</summary>
    public static bool Overlaps(IPEndPoint bound, IPEndPoint listen)
    {
        if (bound.Port != listen.Port || bound.AddressFamily != listen.AddressFamily) return false;
        return bound.Address.Equals(listen.Address) || IsWildcard(bound.Address) || IsWildcard(listen.Address);
    }

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>The timemesh executable, directly or as <c>dotnet timemesh.dll</c>.</summary>
    public static bool IsTimeMesh(ProcProcess p) =>
        p.Name == "timemesh" || p.CommandLine.Take(2).Any(a => Path.GetFileName(a) is "timemesh" or "timemesh.dll");
}
