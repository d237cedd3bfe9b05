using System.Net;
using TimeMesh.Core.Access;
using TimeMesh.Core.Cmdmon;
using TimeMesh.Core.RateLimit;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Control;

/// <summary>
/// chrony's command port, read-only (chrony.conf: cmdport, bindcmdaddress, cmdallow, cmddeny, cmdratelimit):
/// where the real chronyc and the tools built on it read the node.
/// </summary>
/// <param name="Port">UDP port; 0 = off (chrony: cmdport 0).</param>
/// <param name="Bind">Addresses to listen on (chrony: bindcmdaddress; default 127.0.0.1 and ::1).</param>
/// <param name="Access">Who besides 127.0.0.1 and ::1 may ask (chrony: cmdallow / cmddeny; closed by default).</param>
/// <param name="RateLimit">Per-client response limit for hosts other than localhost (chrony: cmdratelimit); null = none.</param>
public sealed record CmdmonSettings(int Port, IReadOnlyList<IPAddress> Bind, AccessList Access, RateLimitSettings? RateLimit)
{
    public static readonly CmdmonSettings Off = new(0, [], AccessList.Closed, null);

    public bool Enabled => Port != 0 && Bind.Count > 0;

    /// <summary>chrony's cmdratelimit values: 16 requests a second, burst 8, leak 2.</summary>
    public static readonly RateLimitSettings ChronyCommandDefaults = new(-4, 8, 2, false);

    internal const string PortKey = "timemesh.cmdport";
    internal const string BindKey = "timemesh.bindcmdaddress";
    internal const string AllowKey = "timemesh.cmdallow";
    internal const string DenyKey = "timemesh.cmddeny";
    internal const string RateLimitKey = "timemesh.cmdratelimit";

    internal static CmdmonSettings FromConfig(ConfigReader r)
    {
        int port = (int)r.Integer(PortKey, 0, 65535, CmdmonWire.DefaultPort);
        const string bindAllowed = "allowed: IP addresses, e.g. [\"127.0.0.1\", \"::1\"] (a Unix socket path is timemesh.control.socket)";
        var bind = r.StringList(BindKey, bindAllowed)
            .Select(text => IPAddress.TryParse(text, out var a) && !text.Contains('/') ? a : throw new TimeMeshConfigException(BindKey, text, bindAllowed))
            .ToArray();
        if (bind.Distinct().Count() != bind.Length) throw new TimeMeshConfigException(BindKey, string.Join(", ", bind.Select(b => b.ToString())), "each address may appear once");
        return new CmdmonSettings(port, bind, new AccessList(Subnets(r, AllowKey), Subnets(r, DenyKey)), ParseRateLimit(r));
    }

    private static IEnumerable<Subnet> Subnets(ConfigReader r, string key)
    {
        foreach (string spec in r.StringList(key, "subnets such as \"192.168.1.0/24\", \"fd00::/8\" or \"all\""))
        {
            if (!Subnet.TryParseSpec(spec, out var subnets, out string? why))
                throw new TimeMeshConfigException(key, spec, why + "; allowed: an address, a subnet or \"all\"");
            foreach (var subnet in subnets) yield return subnet;
        }
    }

    private static RateLimitSettings? ParseRateLimit(ConfigReader r)
    {
        const string key = RateLimitKey;
        if (!r.Present(key)) return ChronyCommandDefaults;
        if (!r.IsObject(key)) return r.Switch(key, true) ? ChronyCommandDefaults : null;
        var d = ChronyCommandDefaults;
        return new RateLimitSettings(
            (int)r.Integer(key + ".interval", RateLimitSettings.MinIntervalLog2, RateLimitSettings.MaxIntervalLog2, d.IntervalLog2),
            (int)r.Integer(key + ".burst", RateLimitSettings.MinBurst, RateLimitSettings.MaxBurst, d.Burst),
            (int)r.Integer(key + ".leak", RateLimitSettings.MinLeakLog2, RateLimitSettings.MaxLeakLog2, d.LeakLog2),
            false);
    }
}
