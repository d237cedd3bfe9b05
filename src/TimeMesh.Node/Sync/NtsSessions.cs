using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Node.Sync;

/// <summary>
/// NTS for the sync actor's sources that use it (chrony's <c>server … nts</c>, and the masters of an authenticated
/// mesh): each source's session (keys and cookies), NTS fields on every request, only authenticated replies passed
/// to the engine, a new key exchange whenever the cookies run out or the server answers NTSN, and the counters of
/// the reports. The exchanges themselves run in <see cref="NtsKeyExchangeActor"/>. Called on the sync actor's
/// thread, in the same turn as the poll or the reply: the hot path takes no extra hop.
/// </summary>
internal sealed class NtsSessions(IActorRef keyExchange, IReadOnlyDictionary<int, IPEndPoint> endpoints, ILoggingAdapter log)
{
    private sealed class Source(NtsKeyExchangeProtocol.Target target)
    {
        public NtsKeyExchangeProtocol.Target Target { get; } = target;
        public NtsClientSession? Session;
        public long KeyExchanges;
        public long KeyExchangeFailures;
        public string? LastError;
        public long Naks;
        /// <summary>Counts of sessions replaced by a new key exchange.</summary>
        public long AuthenticBefore, RejectedBefore;
        /// <summary>Datagrams from the source's address that were not the authenticated reply to the request waiting for one.</summary>
        public long Forged;
    }

    private readonly Dictionary<int, Source> _sources = new();

    /// <summary>The source <paramref name="id"/> is polled over NTS: its keys are exchanged now.</summary>
    public void Add(int id, NtsKeyExchangeProtocol.Target target)
    {
        _sources[id] = new Source(target);
        StartKeyExchange(id);
    }

    public void Forget(int id)
    {
        if (!_sources.Remove(id, out var source)) return;
        source.Session?.Dispose();
        keyExchange.Tell(new NtsKeyExchangeProtocol.Forget(id));
    }

    private void StartKeyExchange(int id) => keyExchange.Tell(new NtsKeyExchangeProtocol.Exchange(id, _sources[id].Target));

    /// <summary>A key exchange ended: a fresh session (its cookies) for the source, or one more failure counted.</summary>
    /// <returns>The NTP endpoint the server's key exchange named for an upstream source, to be polled from now on (null: unchanged).</returns>
    public IPEndPoint? OnKeyExchanged(NtsKeyExchangeProtocol.Done m)
    {
        if (!_sources.TryGetValue(m.SourceId, out var source)) return null;
        if (m.Result is not { } result)
        {
            source.KeyExchangeFailures++;
            source.LastError = m.Error;
            return null;
        }
        source.KeyExchanges++;
        if (source.Session is { } old)
        {
            source.AuthenticBefore += old.AuthenticReplies;
            source.RejectedBefore += old.RejectedReplies;
            old.Dispose();
        }
        source.Session = new NtsClientSession(result.C2S, result.S2C, result.Cookies);
        // A mesh master is polled where the member knows it (its masters entry or its status), whatever the key exchange advertises.
        return source.Target.Mesh ? null : result.NtpEndpoint;
    }

    /// <summary>
    /// The datagram to send for a poll: the request itself, the request with NTS fields (and the check its reply must pass
    /// at the socket), or null (nothing to send yet).
    /// </summary>
    public (byte[]? Datagram, NtsReplyFilter? Filter) Request(int id, byte[] request)
    {
        if (!_sources.TryGetValue(id, out var source)) return (request, null);
        if (source.Session is not { } session || session.CookieCount == 0)
        {
            StartKeyExchange(id);
            return (null, null);
        }
        var packet = new byte[NtpPacket.MaxLength];
        request.AsSpan(0, NtpHeader.Length).CopyTo(packet);
        if (!session.TryAppendRequestFields(packet, out int length)) return (null, null);
        // Out of cookies after this one: exchange keys now, so the next poll has some.
        if (session.CookieCount == 0) StartKeyExchange(id);
        return (packet[..length], session.PendingReplyFilter());
    }

    /// <summary>Whether a reply may go to the engine: always for plain sources, only authenticated ones for NTS sources.</summary>
    public bool Accepts(SyncProtocol.ReplyReceived m)
    {
        if (!_sources.TryGetValue(m.SourceId, out var source)) return true;
        if (source.Session is not { } session) return false;
        switch (session.CheckReply(m.Reply))
        {
            case NtsReplyCheck.Authentic:
                return true;
            case NtsReplyCheck.CookieNotRecognised:
                source.Naks++;
                log.Info("source {0} sent NTSN (cookies no longer valid): new NTS key exchange", endpoints.GetValueOrDefault(m.SourceId));
                session.Dispose();
                source.Session = null;
                StartKeyExchange(m.SourceId);
                return false;
            default:
                return false;
        }
    }

    /// <summary>Datagrams refused at a request's socket: counted, and told the first time and then every 100 (a flood must not flood the log).</summary>
    public void OnForged(SyncProtocol.ForgedReplies m)
    {
        if (!_sources.TryGetValue(m.SourceId, out var source)) return;
        long before = source.Forged;
        source.Forged += m.Count;
        if (before == 0 || before / 100 != source.Forged / 100)
            log.Warning("{0}source {1}: {2} datagram(s) from its address that were not its authenticated NTS reply ignored so far (forged or damaged)",
                source.Target.Mesh ? "mesh: " : "", endpoints.GetValueOrDefault(m.SourceId), source.Forged);
    }

    /// <summary>Every NTS source's state: key exchanges, cookies held, NTSN received, authenticated and rejected replies.</summary>
    public List<SyncProtocol.NtsSourceReport> Reports() => _sources.Select(p => new SyncProtocol.NtsSourceReport(p.Key, p.Value.KeyExchanges,
        p.Value.Session?.CookieCount ?? 0, p.Value.Naks, p.Value.AuthenticBefore + (p.Value.Session?.AuthenticReplies ?? 0),
        p.Value.RejectedBefore + (p.Value.Session?.RejectedReplies ?? 0))
    {
        Mesh = p.Value.Target.Mesh,
        Endpoint = endpoints.GetValueOrDefault(p.Key)?.ToString() ?? p.Value.Target.Address.ToString(),
        Forged = p.Value.Forged,
        KeyExchangeFailures = p.Value.KeyExchangeFailures,
        LastError = p.Value.LastError,
    }).ToList();
}
