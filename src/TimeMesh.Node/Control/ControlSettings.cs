using System.Net;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Control;

/// <summary>
/// The monitoring endpoint (chrony's cmdport, over HTTP, plus chronyd's Unix command socket): where it listens,
/// and what one client may hold of it.
/// </summary>
public sealed record ControlSettings(IPEndPoint? Listen)
{
    public static readonly ControlSettings Off = new((IPEndPoint?)null);

    /// <summary>The TCP endpoint is on (the Unix socket may be on without it: <see cref="Socket"/>).</summary>
    public bool Enabled => Listen is not null;

    /// <summary>The Unix domain socket (chronyd's /run/chrony/chronyd.sock); null: none.</summary>
    public string? Socket { get; init; }

    /// <summary>TCP connections open at once, all clients together; more are closed at once.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>TCP connections open at once from one IP address; more are closed at once.</summary>
    public int MaxConnectionsPerClient { get; init; } = 8;

    /// <summary>How long a connection may sit between requests (and before its first) before it is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a client may take to send a request's headers once it started.</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Host names (beyond the listen address and localhost) a request over TCP may name in its Host header.</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>Whether /api/clients and /api/serverstats are served on TCP too (chronyc allows them only on its Unix socket).</summary>
    public bool PrivateReportsOverTcp { get; init; }

    internal const string Key = "timemesh.control.listen";
    internal const string SocketKey = "timemesh.control.socket";
    internal const string PrivateReportsKey = "timemesh.control.private-reports-over-tcp";

    private const string Allowed =
        "allowed: an IP address and port such as \"127.0.0.1:11130\" or \"[::1]:11130\" (port 0 picks a free port), or off";

    internal static ControlSettings FromConfig(ConfigReader r)
    {
        // `control = off` reads as naturally as `local = off`; anything else there is a mistake.
        const string block = "timemesh.control";
        if (r.Present(block) && !r.IsObject(block))
        {
            if (!r.Switch(block, true)) return Off;
            throw new TimeMeshConfigException(block, r.RawString(block), "allowed: off, or control { listen = \"127.0.0.1:11130\" }");
        }
        IPEndPoint? listen = null;
        if (r.Has(Key))
        {
            if (r.IsObject(Key)) throw new TimeMeshConfigException(Key, "{...}", Allowed);
            string raw = r.RawString(Key)!.Trim();
            if (raw.Length != 0 && !raw.Equals("off", StringComparison.OrdinalIgnoreCase)) listen = ParseListen(raw);
        }
        const string prefix = block + ".";
        return new ControlSettings(listen)
        {
            Socket = ParseSocket(r),
            MaxConnections = (int)r.Integer(prefix + "max-connections", 1, 100_000, 256),
            MaxConnectionsPerClient = (int)r.Integer(prefix + "max-connections-per-client", 1, 100_000, 8),
            IdleTimeout = r.Has(prefix + "idle-timeout") ? r.Duration(prefix + "idle-timeout", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)) : TimeSpan.FromSeconds(10),
            HeaderTimeout = r.Has(prefix + "header-timeout") ? r.Duration(prefix + "header-timeout", TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5)) : TimeSpan.FromSeconds(5),
            AllowedHosts = r.StringList(prefix + "allowed-hosts", "host names, e.g. [\"time.example.org\"]").Select(h =>
                Uri.CheckHostName(h) == UriHostNameType.Dns ? h.ToLowerInvariant()
                    : throw new TimeMeshConfigException(prefix + "allowed-hosts", h, "allowed: DNS names (addresses and localhost are always allowed)")).ToArray(),
            PrivateReportsOverTcp = r.Switch(PrivateReportsKey, false),
        };
    }

    private static string? ParseSocket(ConfigReader r)
    {
        if (!r.Has(SocketKey)) return null;
        string raw = r.RawString(SocketKey)!.Trim();
        if (raw.Length == 0 || raw.Equals("off", StringComparison.OrdinalIgnoreCase)) return null;
        const string allowed = "allowed: an absolute path of at most 107 bytes, e.g. \"/run/timemesh/timemesh.sock\", or off";
        if (!Path.IsPathRooted(raw) || System.Text.Encoding.UTF8.GetByteCount(raw) > 107 || raw.Contains('\0') || raw.EndsWith('/'))
            throw new TimeMeshConfigException(SocketKey, raw, allowed);
        return raw;
    }

    /// <summary>Parses "host:port" the way the listen keys do: IPv6 only in brackets, so "::1:11130" is refused, not misread.</summary>
    public static IPEndPoint ParseListen(string text)
    {
        // "127.0.0.1" and "[::1]" parse as endpoints with port 0: a port must be written, even when it is 0.
        if (!text.Contains(':') || text.EndsWith(']') || !IPEndPoint.TryParse(text, out var endpoint))
            throw new TimeMeshConfigException(Key, text, Allowed);
        if (endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !text.StartsWith('['))
            throw new TimeMeshConfigException(Key, text, "IPv6 addresses take brackets, e.g. \"[::1]:11130\"");
        return endpoint;
    }
}
