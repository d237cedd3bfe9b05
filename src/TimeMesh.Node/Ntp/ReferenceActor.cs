using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Server;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Ntp;

/// <summary>The reference actor's protocol (<see cref="ReferenceActor"/>).</summary>
public static class ReferenceProtocol
{
    /// <summary>A source's synchronisation changed; null means it was lost.</summary>
    public sealed record Synchronised(ReferenceState? Reference);

    public sealed record GetReference
    {
        public static readonly GetReference Instance = new();
    }

    /// <summary>Published on the local event stream whenever the reference changes (and once at start).</summary>
    public sealed record Published(ReferenceState Reference);

    /// <summary>The node's clock is known good enough to serve in holdover: it was synchronised, or its drift was recovered.</summary>
    public sealed record Activated
    {
        public static readonly Activated Instance = new();
    }
}

/// <summary>
/// Owns the node's reference state (chrony's reference module) and tells the NTP server whenever it
/// changes. With no synchronised source the state is <c>local stratum N</c> when configured, else
/// unsynchronised (leap 3). Sources and the mesh report synchronisation here.
/// </summary>
public sealed class ReferenceActor : ReceiveActor
{
    private readonly IActorRef? _server;
    private readonly ReferenceState _configuredFallback;
    private bool _activated;
    private ReferenceState _current;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    /// <param name="server">The NTP server to keep informed; null when the node serves no NTP (an embedded mesh clock).</param>
    public static Props Props(TimeMeshSettings settings, IActorRef? server) =>
        Akka.Actor.Props.Create(() => new ReferenceActor(settings, server));

    public ReferenceActor(TimeMeshSettings settings, IActorRef? server)
    {
        _server = server;
        _configuredFallback = settings.Local is { } local ? ReferenceState.Local(local.Stratum) : ReferenceState.Unsynchronised;
        // The activate guard: in a mesh, a node that was never synchronised and has no persisted drift
        // does not serve its boot clock as good time, whatever `local` says.
        _activated = settings.Mesh is null;
        _current = Fallback;

        Receive<ReferenceProtocol.Synchronised>(m =>
        {
            if (m.Reference is not null) _activated = true;
            Publish(m.Reference ?? Fallback);
        });
        Receive<ReferenceProtocol.Activated>(_ =>
        {
            _activated = true;
            if (_current.Kind != ReferenceKind.Synchronised) Publish(Fallback);
        });
        Receive<ReferenceProtocol.GetReference>(_ => Sender.Tell(_current));
    }

    private ReferenceState Fallback => _activated ? _configuredFallback : ReferenceState.Unsynchronised;

    protected override void PreStart()
    {
        _server?.Tell(new NtpServerProtocol.ReferenceChanged(_current));
        Context.System.EventStream.Publish(new ReferenceProtocol.Published(_current));
        if (_server is not null) _log.Info(_current.Kind == ReferenceKind.Local
            ? $"serving the local clock at stratum {_current.Stratum} until a source is synchronised"
            : "unsynchronised and no local stratum: answering with leap 3 (alarm) so that no client selects this node");
    }

    private void Publish(ReferenceState next)
    {
        if (next == _current) return;
        if (next.Kind != _current.Kind)
            _log.Info("reference: {0} -> {1} (stratum {2})", _current.Kind, next.Kind, next.Stratum);
        _current = next;
        _server?.Tell(new NtpServerProtocol.ReferenceChanged(next));
        Context.System.EventStream.Publish(new ReferenceProtocol.Published(next));
    }
}
