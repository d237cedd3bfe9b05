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
        public NtsClientSession? Session;
        public bool Exchanging;
        public int Attempt;
        public int Failures;
        public long KeyExchanges;
        public long Naks;
    }

    private readonly Dictionary<int, NtsSource> _nts = new();
    private X509Certificate2Collection? _ntsTrusted;
    private bool _ntsTrustedLoaded;

    /// <summary>Longest wait between failed key exchanges.</summary>
    private static readonly TimeSpan MaxKeBackoff = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan KeTimeout = TimeSpan.FromSeconds(10);

    private void ReceiveNts()
    {
        Receive<NtsKeDone>(OnNtsKeDone);
        Receive<NtsKeRetry>(m =>
        {
            Timers.Cancel(("nts-ke", m.SourceId));
            StartKeyExchange(m.SourceId);
        });
        Receive<GetNtsReports>(_ => Sender.Tell(_nts.Select(p => new NtsSourceReport(p.Key, p.Value.KeyExchanges, p.Value.Session?.CookieCount ?? 0,
            p.Value.Naks, p.Value.Session?.AuthenticReplies ?? 0, p.Value.Session?.RejectedReplies ?? 0)).ToList()));
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
        NtsKeClient.ExchangeAsync(source.Host, source.Address, source.KePort, _ntsTrusted, KeTimeout).ContinueWith(t =>
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
            var backoff = TimeSpan.FromSeconds(Math.Min(MaxKeBackoff.TotalSeconds, Math.Pow(2, Math.Min(source.Failures, 10))));
            _log.Warning("NTS-KE with {0}:{1} failed: {2}; trying again in {3}", source.Host, source.KePort, m.Error, backoff);
            Timers.StartSingleTimer(("nts-ke", m.SourceId), new NtsKeRetry(m.SourceId), backoff);
            return;
        }
        source.Failures = 0;
        source.KeyExchanges++;
        source.Session?.Dispose();
        source.Session = new NtsClientSession(result.C2S, result.S2C, result.Cookies);
        if (_endpoints.ContainsKey(m.SourceId)) _endpoints[m.SourceId] = result.NtpEndpoint;
        _log.Info("NTS-KE with {0}:{1} done: {2} cookies, NTP at {3}", source.Host, source.KePort, result.Cookies.Count, result.NtpEndpoint);
    }

    /// <summary>The datagram to send for a poll: the request itself, the request with NTS fields, or null (nothing to send yet).</summary>
    private byte[]? NtsRequest(int id, byte[] request)
    {
        if (!_nts.TryGetValue(id, out var source)) return request;
        if (source.Session is not { } session || session.CookieCount == 0)
        {
            StartKeyExchange(id);
            return null;
        }
        var packet = new byte[NtpPacket.MaxLength];
        request.AsSpan(0, NtpHeader.Length).CopyTo(packet);
        if (!session.TryAppendRequestFields(packet, out int length)) return null;
        // Out of cookies after this one: exchange keys now, so the next poll has some.
        if (session.CookieCount == 0) StartKeyExchange(id);
        return packet[..length];
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
    internal sealed record NtsSourceReport(int SourceId, long KeyExchanges, int Cookies, long Naks, long AuthenticReplies, long RejectedReplies);

    internal sealed record GetNtsReports
    {
        public static readonly GetNtsReports Instance = new();
    }
}
