using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Sync;

namespace TimeMesh.Node;

/// <summary>One TimeMesh node: an actor system with the NTP server and the actors that drive it.</summary>
public sealed class TimeMeshNode : IAsyncDisposable
{
    private TimeMeshNode(ActorSystem system, TimeMeshSettings settings, IActorRef ntpServer, IActorRef reference,
        IActorRef? sync, IReadOnlyList<IPEndPoint> endpoints, DisciplinedClock clock)
    {
        Sync = sync;
        System = system;
        Settings = settings;
        NtpServer = ntpServer;
        Reference = reference;
        Endpoints = endpoints;
        Clock = clock;
    }

    public ActorSystem System { get; }
    public TimeMeshSettings Settings { get; }
    public IActorRef NtpServer { get; }
    public IActorRef Reference { get; }
    /// <summary>The upstream client (null when no server or pool is configured).</summary>
    public IActorRef? Sync { get; }
    /// <summary>Where the NTP server listens (ports resolved when the config said 0).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints { get; }
    public DisciplinedClock Clock { get; }

    public Task WhenTerminated => System.WhenTerminated;

    /// <summary>
    /// Validates the config, binds the NTP sockets (so a taken port fails here, loudly) and starts the actors.
    /// </summary>
    public static TimeMeshNode Start(Akka.Configuration.Config config, DisciplinedClock? clock = null)
    {
        var full = TimeMeshSettings.WithReference(config);
        var settings = TimeMeshSettings.FromConfig(full);
        IClockSteering? steering = null;
        if (clock is null && settings.Upstream.Clock == ClockMode.System)
        {
            // Opt-in: the kernel clock itself is steered (needs CAP_SYS_TIME).
            clock = new DisciplinedClock(RealtimeClock.ReadUnixNanoseconds, kernelSteered: true);
            steering = new KernelClockSteering(new LinuxKernelClock.Controls());
        }
        clock ??= DisciplinedClock.System();
        Directory.CreateDirectory(settings.DataDir);

        var sockets = NtpSockets.Bind(settings.Listen, settings.NtpServer);
        ActorSystem system;
        try
        {
            system = ActorSystem.Create("timemesh", full);
        }
        catch
        {
            foreach (var s in sockets) s.Dispose();
            throw;
        }
        sbyte precision = RealtimeClock.MeasurePrecisionLog2(clock.ReadRawUnixNs);
        var server = system.ActorOf(NtpServerActor.Props(settings, sockets, clock, precision), "ntp-server");
        var reference = system.ActorOf(ReferenceActor.Props(settings, server), "reference");
        var sync = settings.Upstream.HasSources
            ? system.ActorOf(SyncActor.Props(settings.Upstream, clock, reference, precision, steering), "sync")
            : null;
        var endpoints = sockets.Select(s => s.LocalEndPoint).Distinct().ToArray();
        system.Log.Info("TimeMesh node started: NTP on {0}, data in {1}, allow [{2}], deny [{3}], upstream [{4}], clock {5}",
            string.Join(", ", endpoints), Path.GetFullPath(settings.DataDir),
            string.Join(", ", settings.Access.Allowed), string.Join(", ", settings.Access.Denied),
            string.Join(", ", settings.Upstream.Servers.Select(s => s.Name).Concat(settings.Upstream.Pools.Select(p => "pool " + p.Address))),
            settings.Upstream.Clock.ToString().ToLowerInvariant());
        return new TimeMeshNode(system, settings, server, reference, sync, endpoints, clock);
    }

    /// <summary>Runs coordinated shutdown and waits for the actor system to terminate.</summary>
    public async Task StopAsync()
    {
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        await System.WhenTerminated;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
