using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Sync;

/// <summary>
/// The config's servers and pools as sources of the engine (chrony's ntp_sources): has their names looked up
/// (<see cref="SourceResolverActor"/>), adds what they resolve to, and keeps each pool at its <c>maxsources</c>:
/// its upkeep replaces sources that stopped answering or were voted falsetickers (a replaced address is not taken
/// from the pool again for six upkeep intervals) and looks up again the pools short of sources and the servers whose
/// names did not resolve. Called on the sync actor's thread (it adds and removes the engine's sources).
/// </summary>
internal sealed class UpstreamSources(UpstreamSettings settings, SyncEngine engine, Dictionary<int, IPEndPoint> endpoints, NtsSessions nts,
    IActorRef resolver, IActorRef self, ITimerScheduler timers, ILoggingAdapter log, TimeSpan upkeepInterval)
{
    /// <summary>How often pools are checked for dead or false sources by default.</summary>
    public static readonly TimeSpan DefaultUpkeepInterval = TimeSpan.FromMinutes(10);

    /// <summary>How long after a failed lookup the names are looked up again.</summary>
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(60);

    private readonly Dictionary<int, int> _poolOf = new();
    private readonly HashSet<string> _pendingServers = new();
    private readonly Dictionary<IPAddress, DateTime> _rejected = new();
    private TimeSpan RejectionTime => upkeepInterval * 6;

    /// <summary>Looks up every server and pool, and starts the pools' upkeep timer (<see cref="SyncProtocol.RefreshPools"/>).</summary>
    public void Start()
    {
        foreach (var server in settings.Servers) Resolve(server.Address, -1);
        for (int i = 0; i < settings.Pools.Count; i++) Resolve(settings.Pools[i].Address, i);
        if (settings.Pools.Count > 0) timers.StartPeriodicTimer("pools", SyncProtocol.RefreshPools.Instance, upkeepInterval);
    }

    private void Resolve(string name, int poolIndex) => resolver.Tell(new SourceResolverProtocol.Resolve(name, poolIndex), self);

    /// <returns>Whether the name resolved (its sources are added; a name that did not is looked up again in a minute).</returns>
    public bool OnResolved(SourceResolverProtocol.Resolved m, long nowRawNs)
    {
        if (m.Error is not null || m.Addresses.Count == 0)
        {
            log.Warning("cannot resolve {0}: {1}; trying again in 60 s", m.Name, m.Error ?? "no addresses");
            // The pool upkeep re-resolves pending servers and pools that are short of sources.
            timers.StartSingleTimer("resolve-retry", SyncProtocol.RefreshPools.Instance, RetryInterval);
            if (m.PoolIndex < 0) _pendingServers.Add(m.Name);
            return false;
        }
        if (m.PoolIndex < 0)
        {
            _pendingServers.Remove(m.Name);
            var server = settings.Servers.First(s => s.Address == m.Name);
            Add(server, m.Addresses[0], -1, nowRawNs);
        }
        else
        {
            var pool = settings.Pools[m.PoolIndex];
            var used = _poolOf.Where(p => p.Value == m.PoolIndex).Select(p => endpoints[p.Key].Address).ToHashSet();
            var nowUtc = DateTime.UtcNow;
            foreach (var address in m.Addresses.Where(a => !used.Contains(a) && !(_rejected.TryGetValue(a, out var until) && until > nowUtc)))
            {
                if (_poolOf.Count(p => p.Value == m.PoolIndex) >= pool.MaxSources) break;
                Add(pool.Template with { Address = address.ToString() }, address, m.PoolIndex, nowRawNs);
            }
        }
        return true;
    }

    private void Add(SourceSettings source, IPAddress address, int poolIndex, long nowRawNs)
    {
        int id = engine.AddSource(source, ReferenceIds.FromAddress(address), nowRawNs);
        endpoints[id] = new IPEndPoint(address, source.Port);
        if (poolIndex >= 0) _poolOf[id] = poolIndex;
        log.Info("source {0} ({1}) added{2}", source.Name, endpoints[id], poolIndex >= 0 ? $" from pool {settings.Pools[poolIndex].Address}" : "");
        if (!source.Nts) return;
        // A pool's servers are checked against the pool's name, the name the operator trusts (as chrony does).
        string certificateName = poolIndex >= 0 ? settings.Pools[poolIndex].Address : source.Address;
        nts.Add(id, new NtsKeyExchangeProtocol.Target(certificateName, address, source.NtsKePort));
    }

    /// <summary>chrony's pool upkeep: drop pool sources that stopped answering or were voted falsetickers, then top up.</summary>
    public void Refresh(long nowRawNs)
    {
        var states = engine.LastSelection?.States;
        foreach (var (id, poolIndex) in _poolOf.ToList())
        {
            var poller = engine.Poller(id);
            bool dead = poller.RequestsSent >= 8 && !poller.IsReachable;
            bool falseticker = states is not null && states.TryGetValue(id, out var state) && state == SourceState.Falseticker;
            if (!dead && !falseticker && !poller.Demobilised) continue;
            log.Info("pool {0}: replacing {1} ({2})", settings.Pools[poolIndex].Address, endpoints[id], falseticker ? "falseticker" : "unreachable");
            engine.RemoveSource(id, nowRawNs);
            nts.Forget(id);
            // Not to be taken again from the pool for a while: a fresh name lookup likely returns it.
            _rejected[endpoints[id].Address] = DateTime.UtcNow + RejectionTime;
            endpoints.Remove(id);
            _poolOf.Remove(id);
        }
        for (int i = 0; i < settings.Pools.Count; i++)
        {
            if (_poolOf.Count(p => p.Value == i) < settings.Pools[i].MaxSources) Resolve(settings.Pools[i].Address, i);
        }
        foreach (var name in _pendingServers.ToList()) Resolve(name, -1);
    }
}
