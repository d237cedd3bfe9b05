using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using TimeMesh.Core.Nts;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Nts;

namespace TimeMesh.Nts;

/// <summary>
/// What TimeMesh.Node runs when the config asks for NTS; found by name (TimeMesh.Node does not reference BouncyCastle),
/// so its name and its parameterless constructor are a contract with <c>TimeMesh.Node.Nts.NtsPart</c>.
/// </summary>
public sealed class NtsKeyExchange : INtsKeyExchange
{
    /// <inheritdoc />
    public INtsKeServer Start(NtsSettings settings, string dataDir, int advertisedNtpPort, ILoggingAdapter log) =>
        NtsKeServer.Start(settings, dataDir, advertisedNtpPort, log);

    /// <inheritdoc />
    public INtsKeServer StartMesh(NtsSettings settings, IMeshNtsCredentials mesh, NtsServerExtension? shared, string dataDir, int advertisedNtpPort, ILoggingAdapter log) =>
        NtsKeServer.StartMesh(settings, Own(mesh), shared, dataDir, advertisedNtpPort, log);

    /// <inheritdoc />
    public IMeshNtsCredentials MeshCredentials(ClusterTlsSettings tls, int kePort) => MeshNtsCredentials.FromClusterTls(tls, kePort);

    /// <inheritdoc />
    public Task<NtsKeResult> ExchangeAsync(string host, IPAddress address, int port, X509Certificate2Collection? trusted, TimeSpan timeout,
        IMeshNtsCredentials? mesh = null, IReadOnlyList<string>? meshNames = null) =>
        NtsKeClient.ExchangeAsync(host, address, port, trusted, timeout, mesh is null ? null : Own(mesh), meshNames);

    private static MeshNtsCredentials Own(IMeshNtsCredentials mesh) => mesh as MeshNtsCredentials
        ?? throw new ArgumentException($"mesh NTS credentials of type {mesh.GetType().Name}, not made by {nameof(MeshCredentials)}", nameof(mesh));
}
