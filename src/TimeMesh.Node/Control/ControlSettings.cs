using System.Net;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Control;

/// <summary>The monitoring endpoint (chrony's cmdport, over HTTP): where it listens, or off.</summary>
public sealed record ControlSettings(IPEndPoint? Listen)
{
    public static readonly ControlSettings Off = new((IPEndPoint?)null);

    public bool Enabled => Listen is not null;

    internal const string Key = "timemesh.control.listen";

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
        if (!r.Has(Key)) return Off;
        if (r.IsObject(Key)) throw new TimeMeshConfigException(Key, "{...}", Allowed);
        string raw = r.RawString(Key)!.Trim();
        if (raw.Length == 0 || raw.Equals("off", StringComparison.OrdinalIgnoreCase)) return Off;
        return new ControlSettings(ParseListen(raw));
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
