using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using Akka.Event;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using TimeMesh.Core.Mesh;
using TimeMesh.Node;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Persistence;

namespace TimeMesh.Hosting;

/// <summary>ActorRegistry key of the NTP server actor (registered only when the node serves NTP).</summary>
public sealed class TimeMeshNtpServerKey;

/// <summary>ActorRegistry key of the reference actor (what the node serves: stratum, root delay and dispersion).</summary>
public sealed class TimeMeshReferenceKey;

/// <summary>ActorRegistry key of the sync actor (sources, sourcestats, tracking).</summary>
public sealed class TimeMeshSyncKey;

/// <summary>ActorRegistry key of the mesh actor (members, statuses, the leader).</summary>
public sealed class TimeMeshMeshKey;

/// <summary>ActorRegistry key of the drift store (registered only when persistence is on).</summary>
public sealed class TimeMeshDriftStoreKey;

/// <summary>ActorRegistry key of the actor that keeps <see cref="IMeshClock"/> up to date.</summary>
public sealed class TimeMeshClockKey;

/// <summary>Adds TimeMesh to an Akka.Hosting application: <see cref="WithTimeMesh"/> on the Akka builder, <see cref="AddMeshClock"/> on the services.</summary>
public static class TimeMeshHostingExtensions
{
    /// <summary>Top-level actor names in the application's system start with this.</summary>
    public const string ActorNamePrefix = "timemesh-";

    /// <summary>
    /// Registers <see cref="IMeshClock"/> (and the <see cref="MeshClock"/> behind it) as a singleton, and the
    /// health check service (<c>AddHealthChecks</c>) that reports <see cref="WithTimeMesh"/>'s check. The
    /// time actors that <see cref="WithTimeMesh"/> starts publish into this same instance.
    /// </summary>
    public static IServiceCollection AddMeshClock(this IServiceCollection services)
    {
        services.TryAddSingleton<MeshClock>();
        services.TryAddSingleton<IMeshClock>(sp => sp.GetRequiredService<MeshClock>());
        // The health service that reports WithTimeMesh's check (AddHealthChecks adds it once, however often called).
        services.AddHealthChecks();
        return services;
    }

    /// <summary>
    /// Adds TimeMesh to the application's actor system: it joins the cluster the application configures
    /// (Akka.Cluster.Hosting's <c>WithClustering</c>; TimeMesh creates no actor system of its own) and starts
    /// the time actors there. The options are validated here, before the host starts; a bad value throws
    /// <see cref="TimeMeshConfigException"/>. Call <see cref="AddMeshClock"/> on the services to get
    /// <see cref="IMeshClock"/> from dependency injection. Registers the health check <see cref="MeshClockHealthCheck"/>
    /// ("timemesh": healthy while the mesh clock is synchronised).
    /// </summary>
    public static AkkaConfigurationBuilder WithTimeMesh(this AkkaConfigurationBuilder builder, TimeMeshOptions options)
    {
        var user = ConfigurationFactory.ParseString(options.ToHocon());
        var settings = TimeMeshSettings.FromConfig(user);
        if (settings.Upstream.Clock != ClockMode.Virtual)
            throw new TimeMeshConfigException("timemesh.clock", "system", "allowed in an embedded node: virtual (an application does not steer the machine's clock)");
        if (settings.Mesh?.Role == MeshRole.Master && !options.ServesNtp)
            throw new TimeMeshConfigException("timemesh.listen", "[]", "a master serves NTP to the members: give NtpListen at least one address:port");
        var persistence = options.Persistence is null ? null : PersistenceSettings.FromConfig(user).Embedded();

        // The user's keys in front, TimeMesh's needs and defaults behind whatever the application says.
        builder.AddHocon(user, HoconAddMode.Prepend);
        if (settings.Mesh is not null) builder.AddHocon(ConfigurationFactory.ParseString(TimeMeshNode.EmbeddedMeshHocon), HoconAddMode.Append);
        if (persistence is not null) builder.AddHocon(persistence.ToAkkaConfig(), HoconAddMode.Append);
        builder.AddHocon(TimeMeshDefaults, HoconAddMode.Append);

        // The mesh clock the actors publish into, known once they have started; the health check reads it.
        var started = new StrongBox<MeshClock?>();
        builder.WithHealthCheck(MeshClockHealthCheck.Name, new MeshClockHealthCheck(() => Volatile.Read(ref started.Value)), tags: [MeshClockHealthCheck.Tag]);

        builder.WithActors((system, registry, resolver) =>
        {
            foreach (string warning in settings.InsecureFileWarnings) system.Log.Warning("{0}", warning);
            var meshClock = resolver.GetService<MeshClock>() ?? new MeshClock();
            // hwtimestamp: the NICs stamp in hardware before the sockets that ask for their stamps are bound.
            var hardware = HardwareTimestamps.Enable(settings.HardwareTimestampInterfaces);
            IReadOnlyList<TimeMesh.Net.BatchedUdpSocket>? sockets = null;
            TimeMeshActors actors;
            try
            {
                sockets = options.ServesNtp ? NtpSockets.Bind(settings.Listen, settings.NtpServer, hardware.AnyHardware) : null;
                // Embedded, the node is the application's cluster member: its system and remoting config say who it is.
                var identity = NodeIdentity.FromConfig(system.Settings.Config, system.Name, settings.Mesh is not null);
                actors = TimeMeshActors.Start(system, settings, identity, persistence, sockets, meshClock, namePrefix: ActorNamePrefix, hardware: hardware);
            }
            catch
            {
                foreach (var s in sockets ?? []) s.Dispose();
                hardware.Dispose();
                throw;
            }
            system.WhenTerminated.ContinueWith(_ => hardware.Dispose());
            Volatile.Write(ref started.Value, actors.MeshClock);
            registry.Register<TimeMeshReferenceKey>(actors.Reference);
            registry.Register<TimeMeshClockKey>(actors.MeshClockPublisher);
            if (actors.NtpServer is { } server) registry.Register<TimeMeshNtpServerKey>(server);
            if (actors.Sync is { } sync) registry.Register<TimeMeshSyncKey>(sync);
            if (actors.Mesh is { } mesh) registry.Register<TimeMeshMeshKey>(mesh);
            if (actors.DriftStore is { } drift) registry.Register<TimeMeshDriftStoreKey>(drift);
            system.Log.Info("TimeMesh started in actor system {0}: role {1}, NTP {2}, upstream [{3}], drift state {4}",
                system.Name, settings.Mesh?.Role.ToString().ToLowerInvariant() ?? "none (no mesh)",
                actors.Endpoints.Count > 0 ? string.Join(", ", actors.Endpoints) : "off",
                string.Join(", ", settings.Upstream.Servers.Select(s => s.Name)),
                persistence is null ? "not kept" : $"{persistence.Provider} ({PersistenceSettings.Mask(persistence.ConnectionString)})");
        });
        return builder;
    }

    /// <summary>The <c>timemesh</c> section of reference.conf (its <c>akka</c> section is the application's business).</summary>
    internal static Config TimeMeshDefaults { get; } = OnlyTimeMeshSection(TimeMeshSettings.Reference);

    private static Config OnlyTimeMeshSection(Config reference)
    {
        // Config has no "keep this key only"; rendering to text and back loses values, so rebuild the tree.
        var root = new HoconObject();
        root.Items["timemesh"] = reference.Root.GetObject().Items["timemesh"];
        var value = new HoconValue();
        value.AppendValue(root);
        return new Config(new HoconRoot(value));
    }
}
