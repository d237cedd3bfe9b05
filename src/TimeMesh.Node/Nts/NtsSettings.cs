using System.Net;
using TimeMesh.Core.Nts;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Nts;

/// <summary>timemesh.nts: the NTS-KE server (chrony's ntsserverkey, ntsservercert, ntsport, ntsrotate) and the client's trust.</summary>
public sealed record NtsSettings
{
    /// <summary>Whether this node runs an NTS-KE server and accepts NTS on its NTP port.</summary>
    public bool Enabled { get; init; }
    public IReadOnlyList<IPEndPoint> Listen { get; init; } = [];
    public string CertificatePath { get; init; } = "";
    public string KeyPath { get; init; } = "";
    /// <summary>The NTP server name advertised in NTS-KE (empty: the client uses the KE server's address).</summary>
    public string NtpServer { get; init; } = "";
    /// <summary>The NTP port advertised (0: the node's first NTP listen port).</summary>
    public int NtpPort { get; init; }
    public TimeSpan CookieKeyRotation { get; init; } = TimeSpan.FromDays(1);
    /// <summary>PEM file of CAs trusted for upstream NTS-KE servers (chrony's ntstrustedcerts); empty: the system's roots.</summary>
    public string TrustedCertificatesPath { get; init; } = "";
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>NTS-KE connections served at once (chrony's maxntsconnections); more are closed at once.</summary>
    public int MaxConnections { get; init; } = 100;
    /// <summary>NTS-KE connections served at once from one client (an IPv4 address, an IPv6 /64); more are closed at once.</summary>
    public int MaxConnectionsPerClient { get; init; } = 8;

    private const string Prefix = "timemesh.nts.";

    internal static NtsSettings Parse(ConfigReader r)
    {
        bool enabled = r.Switch(Prefix + "enabled", false);
        var settings = new NtsSettings
        {
            Enabled = enabled,
            Listen = r.StringList(Prefix + "listen", "addresses with ports, e.g. [\"0.0.0.0:4460\"]").Select(text =>
                IPEndPoint.TryParse(text, out var e) && text.Contains(':') ? e
                    : throw new TimeMeshConfigException(Prefix + "listen", text, "allowed: an IP address and port, e.g. \"0.0.0.0:4460\" or \"[::]:4460\"")).ToArray(),
            CertificatePath = r.RawString(Prefix + "certificate") ?? "",
            KeyPath = r.RawString(Prefix + "key") ?? "",
            NtpServer = r.RawString(Prefix + "ntp-server") ?? "",
            NtpPort = (int)r.Integer(Prefix + "ntp-port", 0, 65535, 0),
            CookieKeyRotation = r.Has(Prefix + "cookie-key-rotation")
                ? r.Duration(Prefix + "cookie-key-rotation", TimeSpan.FromSeconds(1), TimeSpan.FromDays(365)) : TimeSpan.FromDays(1),
            TrustedCertificatesPath = r.RawString(Prefix + "trusted-certificates") ?? "",
            HandshakeTimeout = r.Has(Prefix + "handshake-timeout")
                ? r.Duration(Prefix + "handshake-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5)) : TimeSpan.FromSeconds(5),
            MaxConnections = (int)r.Integer(Prefix + "max-connections", 1, 10000, 100),
            MaxConnectionsPerClient = (int)r.Integer(Prefix + "max-connections-per-client", 1, 10000, 8),
        };
        if (!enabled) return settings;
        if (settings.Listen.Count == 0) throw new TimeMeshConfigException(Prefix + "listen", "[]", "allowed: at least one address:port when NTS is enabled");
        if (string.IsNullOrWhiteSpace(settings.CertificatePath))
            throw new TimeMeshConfigException(Prefix + "certificate", settings.CertificatePath, "required when NTS is enabled: a PEM file with the server certificate (and chain)");
        if (string.IsNullOrWhiteSpace(settings.KeyPath))
            throw new TimeMeshConfigException(Prefix + "key", settings.KeyPath, "required when NTS is enabled: a PEM file with the certificate's private key");
        if (!File.Exists(settings.CertificatePath)) throw new TimeMeshConfigException(Prefix + "certificate", settings.CertificatePath, "the file does not exist");
        if (!File.Exists(settings.KeyPath)) throw new TimeMeshConfigException(Prefix + "key", settings.KeyPath, "the file does not exist");
        if (settings.NtpServer.Length > 255) throw new TimeMeshConfigException(Prefix + "ntp-server", settings.NtpServer, "allowed: a host name or address of at most 255 characters");
        return settings;
    }

    /// <summary>The default key-exchange port of a source when its entry names none.</summary>
    public const int DefaultKePort = NtsIds.DefaultKePort;
}
