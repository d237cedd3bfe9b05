using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;

namespace TimeMesh.Node;

/// <summary>One TimeMesh node: an actor system with the NTP server and the actors that drive it.</summary>
public sealed class TimeMeshNode : IAsyncDisposable
{
    private TimeMeshNode(ActorSystem system, TimeMeshSettings settings, IActorRef ntpServer, IActorRef reference,
        IReadOnlyList<IPEndPoint> endpoints, DisciplinedClock clock)
    {
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
        var endpoints = sockets.Select(s => s.LocalEndPoint).Distinct().ToArray();
        system.Log.Info("TimeMesh node started: NTP on {0}, data in {1}, allow [{2}], deny [{3}]",
            string.Join(", ", endpoints), Path.GetFullPath(settings.DataDir),
            string.Join(", ", settings.Access.Allowed), string.Join(", ", settings.Access.Denied));
        return new TimeMeshNode(system, settings, server, reference, endpoints, clock);
    }

    /// <summary>Runs coordinated shutdown and waits for the actor system to terminate.</summary>
    public async Task StopAsync()
    {
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        await System.WhenTerminated;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
