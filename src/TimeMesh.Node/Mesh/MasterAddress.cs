using System.Net;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// One entry of <c>timemesh.mesh.masters</c>: where a master serves NTP, as an IP endpoint or a host name and
/// port. A name may stand for several masters (all the addresses it resolves to).
/// </summary>
public sealed record MasterAddress(string Host, int Port)
{
    /// <summary>The endpoint when <see cref="Host"/> is an IP address; null for a name, which must be resolved.</summary>
    public IPEndPoint? Endpoint => IPAddress.TryParse(Host, out var address) ? new IPEndPoint(address, Port) : null;

    public static bool TryParse(string text, out MasterAddress master)
    {
        master = null!;
        text = text.Trim();
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > 65535)
            return false;
        string host = text[..colon];
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']') || !IPAddress.TryParse(host[1..^1], out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return false;
            host = v6.ToString();
        }
        else if (host.Contains(':'))
        {
            return false; // IPv6 without brackets: "::1:123" cannot tell the port from the address.
        }
        else if (!IPAddress.TryParse(host, out _) && Uri.CheckHostName(host) != UriHostNameType.Dns)
        {
            return false;
        }
        master = new MasterAddress(host, port);
        return true;
    }

    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
