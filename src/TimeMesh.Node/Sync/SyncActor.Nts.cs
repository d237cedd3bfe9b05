using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Nts;

namespace TimeMesh.Node.Sync;

/// <summary>
/// NTS for upstream sources (chrony's <c>server … nts</c>): a key exchange when the source is added and
/// whenever its cookies run out or the server answers NTSN, NTS fields on every request, and only
/// authenticated replies reach the engine.
/// </summary>
public sealed partial class SyncActor
{
    /// <summary>A key exchange finished (Result) or failed (Error).</summary>
    internal sealed record NtsKeDone(int SourceId, int Attempt, NtsKeResult? Result, string? Error);

    internal sealed record NtsKeRetry(int SourceId);

    private sealed class NtsSource(string host, IPAddress address, int kePort)
    {
        public string Host { get; } = host;
        public IPAddress Address { get; } = address;
        public int KePort { get; } = kePort;
        /// <summary>A mesh master: checked against the mesh CA (master role, one of <see cref="MeshNames"/>), this node's cluster certificate shown.</summary>
        public bool Mesh { get; init; }
        /// <summary>The names and addresses this node knows a mesh master by; its certificate must carry one.</summary>
        public IReadOnlyList<string> MeshNames { get; init; } = [];
        public NtsClientSession? Session;
        public bool Exchanging;
        public int Attempt;
        public int Failures;
        public long KeyExchanges;
        public long KeyExchangeFailures;
        public string? LastError;
        public long Naks;
        public string? LoggedError;
        /// <summary>Counts of sessions replaced by a new key exchange.</summary>
        public long AuthenticBefore, RejectedBefore;
        /// <summary>Datagrams from the source's address that were not the authenticated reply to the request waiting for one.</summary>
        public long Forged;
    }

    private readonly Dictionary<int, NtsSource> _nts = new();
    private X509Certificate2Collection? _ntsTrusted;
    private bool _ntsTrustedLoaded;

    /// <summary>Longest wait between failed key exchanges.</summary>
    private static readonly TimeSpan MaxKeBackoff = TimeSpan.FromMinutes(5);
    /// <summary>
    /// Longest wait between failed key exchanges with a mesh master: a master that restarts is polled again within
    /// seconds (its cookies usually survive the restart, the keys are on disk; this covers the others).
    /// </summary>
    public static readonly TimeSpan MaxMeshKeBackoff = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan KeTimeout = TimeSpan.FromSeconds(10);
    /// <summary>A mesh master is near: a key exchange that takes longer than this is a dead or stuck master.</summary>
    private static readonly TimeSpan MeshKeTimeout = TimeSpan.FromSeconds(3);

    private void ReceiveNts()
    {
        Receive<NtsKeDone>(OnNtsKeDone);
        Receive<SyncProtocol.ForgedReplies>(m =>
        {
            if (!_nts.TryGetValue(m.SourceId, out var source)) return;
            long before = source.Forged;
            source.Forged += m.Count;
            // Told the first time and then every 100: a flood must not flood the log.
            if (before == 0 || before / 100 != source.Forged / 100)
                _log.Warning("{0}source {1}: {2} datagram(s) from its address that were not its authenticated NTS reply ignored so far (forged or damaged)",
                    source.Mesh ? "mesh: " : "", _endpoints.GetValueOrDefault(m.SourceId), source.Forged);
        });
        Receive<NtsKeRetry>(m =>
        {
            Timers.Cancel(("nts-ke", m.SourceId));
            StartKeyExchange(m.SourceId);
        });
        Receive<GetNtsReports>(_ => Sender.Tell(_nts.Select(p => new NtsSourceReport(p.Key, p.Value.KeyExchanges, p.Value.Session?.CookieCount ?? 0,
            p.Value.Naks, p.Value.AuthenticBefore + (p.Value.Session?.AuthenticReplies ?? 0), p.Value.RejectedBefore + (p.Value.Session?.RejectedReplies ?? 0))
        {
            Mesh = p.Value.Mesh,
            Endpoint = _endpoints.GetValueOrDefault(p.Key)?.ToString() ?? p.Value.Address.ToString(),
            Forged = p.Value.Forged,
            KeyExchangeFailures = p.Value.KeyExchangeFailures,
            LastError = p.Value.LastError,
        }).ToList()));
    }

    /// <summary>Authenticated mesh NTP towards a master: key exchange on the mesh port, the master's certificate checked, NTS only.</summary>
    private void AddMeshNts(int id, IPEndPoint endpoint)
    {
        var credentials = _meshSettings!.Nts!;
        // The names the member knows the master by: the masters entries that gave this address, and the address itself.
        var names = _pinned.Where(p => p.Value.Contains(endpoint)).Select(p => p.Key.Host).Append(endpoint.Address.ToString()).Distinct().ToList();
        _nts[id] = new NtsSource(names[0], endpoint.Address, credentials.KePort) { Mesh = true, MeshNames = names };
        StartKeyExchange(id);
    }

    private void AddNts(int id, SourceSettings settings, IPAddress address, string certificateName)
    {
        if (!_ntsTrustedLoaded)
        {
            _ntsTrustedLoaded = true;
            _ntsTrusted = NtsKeClient.LoadTrusted(_settings.NtsTrustedCertificatesPath);
        }
        _nts[id] = new NtsSource(certificateName, address, settings.NtsKePort);
        StartKeyExchange(id);
    }

    private void ForgetNts(int id)
    {
        if (!_nts.Remove(id, out var source)) return;
        source.Session?.Dispose();
        Timers.Cancel(("nts-ke", id));
    }

    private void StartKeyExchange(int id)
    {
        // A failed exchange waits out its backoff; polls meanwhile do not bring the retry forward.
        if (!_nts.TryGetValue(id, out var source) || source.Exchanging || Timers.IsTimerActive(("nts-ke", id))) return;
        source.Exchanging = true;
        int attempt = ++source.Attempt;
        var timeout = source.Mesh ? MeshKeTimeout : KeTimeout;
        NtsKeClient.ExchangeAsync(source.Host, source.Address, source.KePort, _ntsTrusted, timeout,
                source.Mesh ? _meshSettings!.Nts : null, source.Mesh ? source.MeshNames : null).ContinueWith(t =>
                t.IsCompletedSuccessfully
                    ? new NtsKeDone(id, attempt, t.Result, null)
                    : new NtsKeDone(id, attempt, null, t.Exception?.GetBaseException().Message ?? "cancelled"))
            .PipeTo(Self);
    }

    private void OnNtsKeDone(NtsKeDone m)
    {
        if (!_nts.TryGetValue(m.SourceId, out var source) || m.Attempt != source.Attempt) return;
        source.Exchanging = false;
        if (m.Result is not { } result)
        {
            source.Failures++;
            source.KeyExchangeFailures++;
            source.LastError = m.Error;
            if (source.Mesh)
            {
                // 1, 2, 4, 4 … s: short, so a master back from a restart is polled again within seconds. Logged when the
                // reason changes or every 10th failure: a master down for an hour is not 900 warnings.
                var meshBackoff = TimeSpan.FromSeconds(Math.Min(MaxMeshKeBackoff.TotalSeconds, Math.Pow(2, Math.Min(source.Failures - 1, 10))));
                if (source.Failures == 1 || source.Failures % 10 == 0 || m.Error != source.LoggedError)
                    _log.Warning("mesh: NTS key exchange with master {0} ({1}:{2}) failed: {3}; not polled until one succeeds (no plain NTP inside an authenticated mesh); trying again in {4:0} s ({5} failure(s) in a row)",
                        _endpoints.GetValueOrDefault(m.SourceId), source.Address, source.KePort, m.Error, meshBackoff.TotalSeconds, source.Failures);
                source.LoggedError = m.Error;
                Timers.StartSingleTimer(("nts-ke", m.SourceId), new NtsKeRetry(m.SourceId), meshBackoff);
                return;
            }
            var backoff = TimeSpan.FromSeconds(Math.Min(MaxKeBackoff.TotalSeconds, Math.Pow(2, Math.Min(source.Failures, 10))));
            _log.Warning("NTS-KE with {0}:{1} failed: {2}; trying again in {3}", source.Host, source.KePort, m.Error, backoff);
            Timers.StartSingleTimer(("nts-ke", m.SourceId), new NtsKeRetry(m.SourceId), backoff);
            return;
        }
        source.Failures = 0;
        source.LoggedError = null;
        source.KeyExchanges++;
        if (source.Session is { } old)
        {
            source.AuthenticBefore += old.AuthenticReplies;
            source.RejectedBefore += old.RejectedReplies;
            old.Dispose();
        }
        source.Session = new NtsClientSession(result.C2S, result.S2C, result.Cookies);
        // A mesh master is polled where the member knows it (its masters entry or its status), whatever the key exchange advertises.
        if (!source.Mesh && _endpoints.ContainsKey(m.SourceId)) _endpoints[m.SourceId] = result.NtpEndpoint;
        if (source.Mesh)
            _log.Info("mesh: NTS key exchange with master {0} ({1}:{2}) done: certificate from the mesh CA, role master; {3} cookies",
                _endpoints.GetValueOrDefault(m.SourceId), source.Address, source.KePort, result.Cookies.Count);
        else
            _log.Info("NTS-KE with {0}:{1} done: {2} cookies, NTP at {3}", source.Host, source.KePort, result.Cookies.Count, result.NtpEndpoint);
    }

    /// <summary>
    /// The datagram to send for a poll: the request itself, the request with NTS fields (and the check its reply must pass
    /// at the socket), or null (nothing to send yet).
    /// </summary>
    private (byte[]? Datagram, NtsReplyFilter? Filter) NtsRequest(int id, byte[] request)
    {
        if (!_nts.TryGetValue(id, out var source)) return (request, null);
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
    private bool NtsReplyAccepted(SyncProtocol.ReplyReceived m)
    {
        if (!_nts.TryGetValue(m.SourceId, out var source)) return true;
        if (source.Session is not { } session) return false;
        switch (session.CheckReply(m.Reply))
        {
            case NtsReplyCheck.Authentic:
                return true;
            case NtsReplyCheck.CookieNotRecognised:
                source.Naks++;
                _log.Info("source {0} sent NTSN (cookies no longer valid): new NTS key exchange", _endpoints.GetValueOrDefault(m.SourceId));
                session.Dispose();
                source.Session = null;
                StartKeyExchange(m.SourceId);
                return false;
            default:
                return false;
        }
    }

    /// <summary>NTS state of a source for reports and tests: key exchanges done, cookies held, NTSN received, authenticated replies.</summary>
    internal sealed record NtsSourceReport(int SourceId, long KeyExchanges, int Cookies, long Naks, long AuthenticReplies, long RejectedReplies)
    {
        /// <summary>A mesh master (authenticated mesh NTP), not an upstream server.</summary>
        public bool Mesh { get; init; }
        public string Endpoint { get; init; } = "";
        /// <summary>Datagrams refused at the socket: from the source's address, not the authenticated reply.</summary>
        public long Forged { get; init; }
        public long KeyExchangeFailures { get; init; }
        public string? LastError { get; init; }
    }

    internal sealed record GetNtsReports
    {
        public static readonly GetNtsReports Instance = new();
    }
}
