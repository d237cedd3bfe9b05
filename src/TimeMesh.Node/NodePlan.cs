using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Persistence;

namespace TimeMesh.Node;

/// <summary>
/// What a standalone node is made of, decided from its config before anything runs: the settings, the node's
/// identity, the time system's config, the cluster part's config and protection, where the drift state is kept.
/// Reading it binds no socket and starts no actor; a config the node cannot run with fails here, naming the key.
/// </summary>
internal sealed record NodePlan(
    TimeMeshSettings Settings,
    NodeIdentity Identity,
    Akka.Configuration.Config TimeConfig,
    MeshPlan? Mesh,
    PersistenceSettings? Persistence,
    StatusPage.HistorySettings History)
{
    public static NodePlan FromConfig(Akka.Configuration.Config config)
    {
        var full = TimeMeshSettings.WithReference(config);
        var settings = TimeMeshSettings.FromConfig(full);
        full = SchedulerTick.Apply(full, settings.Upstream.Clock);
        var identity = NodeIdentity.FromConfig(full, settings.SystemName, settings.Mesh is not null);
        // The HTTP endpoints are TimeMesh.Control's: a config that asks for one without it fails here, naming the key.
        Control.HttpPart.RequireFor(settings.Control);
        if (settings.Mesh is { Discovery: { Enabled: true } discovery })
            Control.HttpPart.Require(TimeMesh.Node.Mesh.DiscoverySettings.MethodKey, discovery.Method.ToString().ToLowerInvariant(),
                "Cluster Bootstrap (Akka.Management, its discovery and the management endpoint on Kestrel)", "or form the mesh from seed nodes (method = seeds)");
        MeshPlan? mesh = null;
        if (settings.Mesh is not null)
        {
            (mesh, settings) = MeshPlan.FromConfig(full, settings, identity);
            // The time system beside the cluster part is never a cluster member.
            full = Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(full);
        }
        // Only a node with a sync actor keeps drift state; a plain local server loads no persistence code at all.
        bool keepsDrift = settings.Upstream.HasSources || settings.Mesh is not null;
        var persistence = keepsDrift ? PersistenceSettings.FromConfig(full) : null;
        var history = StatusPage.HistorySettings.FromConfig(full);
        if (persistence is not null) full = persistence.ToAkkaConfig().WithFallback(full);
        return new NodePlan(settings, identity, full, mesh, persistence, history);
    }
}

/// <summary>
/// The cluster part of a mesh node: its actor system's config (replaced by <see cref="Mesh.MeshHost"/> when the node
/// rejoins), cluster TLS and the roles its certificates give, how its transport is protected and how mesh NTP is
/// authenticated.
/// </summary>
internal sealed record MeshPlan(
    Akka.Configuration.Config Config,
    ClusterTlsSettings? Tls,
    CertifiedRoleRegistry? CertifiedRoles,
    ClusterTransport Transport,
    Core.Mesh.MeshNtpDecision Ntp)
{
    /// <summary>The plan and the settings completed with what it decides (certified roles, status signing, seeds, mesh NTS).</summary>
    public static (MeshPlan Plan, TimeMeshSettings Settings) FromConfig(Akka.Configuration.Config full, TimeMeshSettings settings, NodeIdentity identity)
    {
        var mesh = settings.Mesh!;
        var meshConfig = Akka.Configuration.ConfigurationFactory.ParseString(TimeMeshNode.MeshHocon).WithFallback(full);
        // Cluster Bootstrap's keys (timemesh.mesh.discovery) go under the user's own akka.* keys.
        if (mesh.Discovery.Enabled) meshConfig = meshConfig.WithFallback(mesh.Discovery.ToAkkaConfig());
        var tls = ClusterTlsSettings.FromConfig(full);
        CertifiedRoleRegistry? certifiedRoles = null;
        if (tls is not null)
        {
            meshConfig = Akka.Configuration.ConfigurationFactory.ParseString(ClusterTlsSettings.Hocon).WithFallback(meshConfig);
            // With cluster TLS, roles come from the certificates the mesh CA signed, not from what statuses say.
            certifiedRoles = new CertifiedRoleRegistry(tls.OwnRole());
            // And every status is signed with the node's cluster-TLS key and checked against the mesh CA: the
            // sender of a remote message is whatever the message says it is.
            mesh = mesh with { CertifiedRoles = certifiedRoles, Signing = StatusSigning.FromSettings(tls) };
        }
        // A mesh node states its cluster address, and runs without TLS only on loopback or when told to.
        var transport = ClusterTransport.From(identity, tls is not null, mesh.Insecure);
        mesh = mesh with { Security = transport.Security, Seeds = meshConfig.GetStringList("akka.cluster.seed-nodes", []).ToList() };
        // Seeds in another actor system can never let this node in; Akka would retry them silently forever.
        var foreignSeeds = ClusterSystemName.Mismatches(identity.SystemName, mesh.Seeds,
            $"set {ClusterSystemName.Key} to the seeds' name on this node, or give the seeds this node's name");
        if (foreignSeeds.Count > 0)
            throw new TimeMeshConfigException("akka.cluster.seed-nodes", "[" + string.Join(", ", mesh.Seeds) + "]", string.Join("; and ", foreignSeeds));
        var ntp = Core.Mesh.MeshNtpAuthentication.Decide(mesh.Authenticate, tls is not null);
        if (ntp == Core.Mesh.MeshNtpDecision.Refused)
            throw new TimeMeshConfigException("timemesh.mesh.authenticate", "on",
                "authenticated mesh NTP uses the cluster's TLS certificates: set up timemesh.cluster-tls (`timemesh cert init`, docs/security.md), or say auto");
        if (ntp == Core.Mesh.MeshNtpDecision.Authenticated)
            mesh = mesh with
            {
                Nts = Nts.NtsPart.Require("timemesh.mesh.authenticate", mesh.Authenticate.ToString().ToLowerInvariant(),
                    "authenticated mesh NTP (NTS with the cluster's certificates)", "or set timemesh.mesh.authenticate = off")
                    .MeshCredentials(tls!, mesh.NtsPort),
            };
        return (new MeshPlan(meshConfig, tls, certifiedRoles, transport, ntp), settings with { Mesh = mesh });
    }
}
