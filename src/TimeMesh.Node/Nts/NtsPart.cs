using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using TimeMesh.Core.Nts;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Nts;

/// <summary>What a key exchange yields: the keys, the cookies, and where to send NTP.</summary>
public sealed record NtsKeResult(byte[] C2S, byte[] S2C, IReadOnlyList<byte[]> Cookies, IPEndPoint NtpEndpoint);

/// <summary>
/// The NTS key exchange (RFC 8915 section 4) runs TLS 1.3 through BouncyCastle (.NET's SslStream has no keying-material
/// exporter), which lives in the package TimeMesh.Nts, so that an application that uses no NTS does not carry it.
/// TimeMesh.Node finds the implementation by name (<see cref="NtsPart"/>); NTS on the NTP port itself (cookies,
/// AES-SIV) is TimeMesh.Core's and needs no TLS.
/// </summary>
public interface INtsKeyExchange
{
    /// <summary>Loads the certificate and the cookie keys, binds the listeners (a taken port fails here) and starts serving.</summary>
    INtsKeServer Start(NtsSettings settings, string dataDir, int advertisedNtpPort, ILoggingAdapter log);

    /// <summary>
    /// The mesh's NTS-KE on a master: its cluster certificate, a client certificate from the mesh CA required, and the
    /// cookie keys of <paramref name="shared"/> (the public NTS-KE's) or its own.
    /// </summary>
    INtsKeServer StartMesh(NtsSettings settings, IMeshNtsCredentials mesh, NtsServerExtension? shared, string dataDir, int advertisedNtpPort, ILoggingAdapter log);

    /// <summary>Loads the node's cluster certificate (with its key) and the mesh CA as the mesh's NTS identity.</summary>
    IMeshNtsCredentials MeshCredentials(Mesh.ClusterTlsSettings tls, int kePort);

    /// <summary>
    /// One key exchange with <paramref name="address"/>:<paramref name="port"/>, the certificate checked for
    /// <paramref name="host"/> against <paramref name="trusted"/> (null: the system's roots), or, with
    /// <paramref name="mesh"/>, against the mesh CA for the master role and one of <paramref name="meshNames"/>.
    /// </summary>
    Task<NtsKeResult> ExchangeAsync(string host, IPAddress address, int port, X509Certificate2Collection? trusted, TimeSpan timeout,
        IMeshNtsCredentials? mesh = null, IReadOnlyList<string>? meshNames = null);
}

/// <summary>A running NTS-KE server; disposing it closes its listeners.</summary>
public interface INtsKeServer : IDisposable
{
    /// <summary>Where the server listens (ports resolved when the config said 0).</summary>
    IReadOnlyList<IPEndPoint> Endpoints { get; }
    /// <summary>The cookie keys the NTP port opens cookies with.</summary>
    NtsServerExtension Extension { get; }
    long Accepted { get; }
    long Served { get; }
    long Failed { get; }
    /// <summary>Connections closed at once because max-connections or max-connections-per-client was reached.</summary>
    long Dropped { get; }
    /// <summary>Connections being served now.</summary>
    int Open { get; }
    long Rotations { get; }
}

/// <summary>The mesh's NTS identity: this node's cluster certificate and key, and the mesh CA as the only trust anchor.</summary>
public interface IMeshNtsCredentials
{
    /// <summary>The mesh CA: the one certificate a peer's chain must end in.</summary>
    X509Certificate2 Ca { get; }

    /// <summary>The port every master's mesh NTS-KE listens on (<c>timemesh.mesh.nts-port</c>).</summary>
    int KePort { get; }
}

/// <summary>
/// Finds TimeMesh.Nts's <see cref="INtsKeyExchange"/> by name, as <see cref="Control.HttpPart"/> finds the HTTP
/// endpoints: a config that asks for NTS without the package fails when it is read, naming the key and the package.
/// </summary>
public static class NtsPart
{
    public const string PackageId = "TimeMesh.Nts";
    private const string TypeName = "TimeMesh.Nts.NtsKeyExchange";

    private static readonly Lazy<INtsKeyExchange?> Loaded = new(() => Load(PackageId));

    /// <summary>The key exchange, or null when the application does not carry the package.</summary>
    public static INtsKeyExchange? KeyExchange => Loaded.Value;

    /// <summary>The key exchange; throws a <see cref="TimeMeshConfigException"/> on <paramref name="key"/> when the package is absent.</summary>
    public static INtsKeyExchange Require(string key, string value, string what, string otherwise) =>
        Loaded.Value ?? throw Missing(key, value, what, otherwise, PackageId);

    /// <summary>Every use of NTS in the settings checked: the NTS-KE server and each NTS source, server or pool.</summary>
    public static void RequireFor(TimeMeshSettings settings)
    {
        if (Loaded.Value is not null) return;
        if (settings.Nts.Enabled)
            Require("timemesh.nts.enabled", "on", "the NTS-KE server", "or turn it off (timemesh.nts.enabled = off)");
        for (int i = 0; i < settings.Upstream.Servers.Count; i++)
            if (settings.Upstream.Servers[i].Nts)
                Require($"timemesh.server[{i}].nts", "on", $"the NTS source {settings.Upstream.Servers[i].Address}", "or use it without NTS (nts = off)");
        for (int i = 0; i < settings.Upstream.Pools.Count; i++)
            if (settings.Upstream.Pools[i].Template.Nts)
                Require($"timemesh.pool[{i}].nts", "on", $"the NTS pool {settings.Upstream.Pools[i].Address}", "or use it without NTS (nts = off)");
    }

    internal static TimeMeshConfigException Missing(string key, string value, string what, string otherwise, string packageId) =>
        new(key, value, $"{what} needs the package {packageId} (NTS key exchange on BouncyCastle's TLS), which this application does not carry: "
            + $"add it (dotnet add package {packageId}; the timemesh tool and the .deb carry it), {otherwise}");

    /// <summary>The CA certificates in a PEM file (chrony's ntstrustedcerts); null path or empty: the system's roots.</summary>
    public static X509Certificate2Collection? LoadTrusted(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) return null;
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        if (collection.Count == 0) throw new InvalidDataException($"{path} holds no PEM certificate");
        return collection;
    }

    /// <summary>The named assembly's <see cref="INtsKeyExchange"/>; null when the application does not carry it.</summary>
    internal static INtsKeyExchange? Load(string assemblyName) => OptionalParts.Create<INtsKeyExchange>(assemblyName, TypeName);
}
