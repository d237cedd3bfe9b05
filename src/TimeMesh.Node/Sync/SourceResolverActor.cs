using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Sync;

/// <summary>The messages of <see cref="SourceResolverActor"/>.</summary>
internal static class SourceResolverProtocol
{
    /// <summary>Look up a server's or a pool's name (<paramref name="PoolIndex"/> −1: a server); the answer is <see cref="Resolved"/>.</summary>
    internal sealed record Resolve(string Name, int PoolIndex);

    /// <summary>What a server's or a pool's name stands for: its addresses, or none and the reason.</summary>
    internal sealed record Resolved(string Name, int PoolIndex, IReadOnlyList<IPAddress> Addresses, string? Error);

    /// <summary>
    /// The addresses one entry of <c>timemesh.mesh.masters</c> stands for. Sent to the parent after every lookup that
    /// gave addresses; a failed lookup is logged here and sends nothing (an error and no endpoints on its way back from
    /// the lookup).
    /// </summary>
    internal sealed record MastersResolved(MasterAddress Master, IReadOnlyList<IPEndPoint> Endpoints, string? Error);

    /// <summary>The timer of the masters' lookups.</summary>
    internal sealed record ResolveMasters
    {
        public static readonly ResolveMasters Instance = new();
    }
}

/// <summary>
/// Name resolution for the sync actor (chrony's asynchronous name service): looks up the names of servers and pools
/// when asked, off the actor's thread, and the names in <c>timemesh.mesh.masters</c> at start and every minute after
/// (a Kubernetes service's pods move). An IP address needs no lookup. Decides nothing about sources: what the answers
/// become is the parent's business (<see cref="UpstreamSources"/>, <see cref="MeshSources"/>).
/// </summary>
internal sealed class SourceResolverActor : ReceiveActor, IWithTimers
{
    /// <summary>How often the names in <c>timemesh.mesh.masters</c> are looked up again.</summary>
    public static readonly TimeSpan MastersRefreshInterval = TimeSpan.FromSeconds(60);

    private readonly Func<string, Task<IPAddress[]>> _lookup;
    private readonly IReadOnlyList<MasterAddress> _masters;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="lookup">Name resolution (DNS by default; tests give their own).</param>
    /// <param name="masters">The masters named in the config (none: no mesh, or follow what the cluster advertises).</param>
    public static Props Props(Func<string, Task<IPAddress[]>>? lookup, IReadOnlyList<MasterAddress> masters) =>
        Akka.Actor.Props.Create(() => new SourceResolverActor(lookup ?? (name => Dns.GetHostAddressesAsync(name)), masters));

    public SourceResolverActor(Func<string, Task<IPAddress[]>> lookup, IReadOnlyList<MasterAddress> masters)
    {
        _lookup = lookup;
        _masters = masters;
        Receive<SourceResolverProtocol.Resolve>(m => Resolve(m.Name, m.PoolIndex, Sender));
        Receive<SourceResolverProtocol.ResolveMasters>(_ => ResolveMasters());
        Receive<SourceResolverProtocol.MastersResolved>(OnMastersResolved);
    }

    protected override void PreStart()
    {
        if (_masters.Count == 0) return;
        // The masters named in the config are polled from the start, before (and whether or not) this node is in a cluster.
        ResolveMasters();
        Timers.StartPeriodicTimer("masters", SourceResolverProtocol.ResolveMasters.Instance, MastersRefreshInterval);
    }

    private void Resolve(string name, int poolIndex, IActorRef replyTo)
    {
        if (poolIndex < 0 && IPAddress.TryParse(name, out var literal))
        {
            replyTo.Tell(new SourceResolverProtocol.Resolved(name, -1, [literal], null));
            return;
        }
        _lookup(name).ContinueWith(t => t.IsCompletedSuccessfully
            ? new SourceResolverProtocol.Resolved(name, poolIndex, t.Result, null)
            : new SourceResolverProtocol.Resolved(name, poolIndex, [], t.Exception?.GetBaseException().Message ?? "cancelled"))
            .PipeTo(replyTo);
    }

    private void ResolveMasters()
    {
        var self = Self;
        foreach (var master in _masters)
        {
            if (master.Endpoint is { } literal)
            {
                Context.Parent.Tell(new SourceResolverProtocol.MastersResolved(master, [literal], null));
                continue;
            }
            _lookup(master.Host).ContinueWith(t => t.IsCompletedSuccessfully
                ? new SourceResolverProtocol.MastersResolved(master, t.Result.Select(a => new IPEndPoint(a, master.Port)).ToList(), null)
                : new SourceResolverProtocol.MastersResolved(master, [], t.Exception?.GetBaseException().Message ?? "cancelled")).PipeTo(self);
        }
    }

    private void OnMastersResolved(SourceResolverProtocol.MastersResolved m)
    {
        if (m.Error is not null || m.Endpoints.Count == 0)
        {
            // A lookup that fails keeps what the name gave before: losing a name server is no reason to lose time.
            _log.Warning("mesh: cannot resolve master {0}: {1}; trying again in {2:0} s", m.Master, m.Error ?? "no addresses", MastersRefreshInterval.TotalSeconds);
            return;
        }
        Context.Parent.Tell(m);
    }
}
