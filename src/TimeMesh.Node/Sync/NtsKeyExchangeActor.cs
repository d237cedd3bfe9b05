using System.Net;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Nts;
using TimeMesh.Node.Nts;

namespace TimeMesh.Node.Sync;

/// <summary>The messages of <see cref="NtsKeyExchangeActor"/>.</summary>
internal static class NtsKeyExchangeProtocol
{
    /// <summary>Where a source's keys are exchanged and what its certificate must show.</summary>
    /// <param name="Host">The name the certificate must carry (a pool's server: the pool's name).</param>
    /// <param name="Address">Where to connect.</param>
    /// <param name="KePort">The key exchange port.</param>
    internal sealed record Target(string Host, IPAddress Address, int KePort)
    {
        /// <summary>A mesh master: checked against the mesh CA (master role, one of <see cref="MeshNames"/>), this node's cluster certificate shown.</summary>
        public bool Mesh { get; init; }

        /// <summary>The names and addresses this node knows a mesh master by; its certificate must carry one.</summary>
        public IReadOnlyList<string> MeshNames { get; init; } = [];

        /// <summary>Where a mesh master is polled (for the log).</summary>
        public IPEndPoint? MeshEndpoint { get; init; }
    }

    /// <summary>
    /// Exchange keys for this source now, unless an exchange for it is running or a failed one waits out its backoff.
    /// The answer, when the exchange ends, is <see cref="Done"/>.
    /// </summary>
    internal sealed record Exchange(int SourceId, Target Target);

    /// <summary>The source is gone: no more retries, and a running exchange's result is dropped.</summary>
    internal sealed record Forget(int SourceId);

    /// <summary>A key exchange finished (<paramref name="Result"/>) or failed (<paramref name="Error"/>).</summary>
    internal sealed record Done(int SourceId, int Attempt, NtsKeResult? Result, string? Error);

    /// <summary>The backoff after a failed exchange is over.</summary>
    internal sealed record Retry(int SourceId);
}

/// <summary>
/// NTS key exchanges for the sync actor's sources (RFC 8915 section 4): runs one at a time per source, off the actor's
/// thread and within a deadline, and after a failure tries again with a backoff (short for mesh masters, so a master
/// back from a restart is polled again within seconds). Results go to the parent, whose <see cref="NtsSessions"/>
/// holds the keys and cookies.
/// </summary>
internal sealed class NtsKeyExchangeActor : ReceiveActor, IWithTimers
{
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

    private sealed class Source(NtsKeyExchangeProtocol.Target target)
    {
        public NtsKeyExchangeProtocol.Target Target { get; } = target;
        public bool Exchanging;
        public int Attempt;
        public int Failures;
        public string? LoggedError;
    }

    private readonly Dictionary<int, Source> _sources = new();
    private readonly string _trustedPath;
    private readonly IMeshNtsCredentials? _meshCredentials;
    private X509Certificate2Collection? _trusted;
    private bool _trustedLoaded;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="trustedPath">The CAs upstream NTS servers are checked against (empty: the system's).</param>
    /// <param name="meshCredentials">This node's mesh credentials (null: no authenticated mesh NTP).</param>
    public static Props Props(string trustedPath, IMeshNtsCredentials? meshCredentials) =>
        Akka.Actor.Props.Create(() => new NtsKeyExchangeActor(trustedPath, meshCredentials));

    public NtsKeyExchangeActor(string trustedPath, IMeshNtsCredentials? meshCredentials)
    {
        _trustedPath = trustedPath;
        _meshCredentials = meshCredentials;
        Receive<NtsKeyExchangeProtocol.Exchange>(m =>
        {
            if (!_sources.TryGetValue(m.SourceId, out var source)) _sources[m.SourceId] = source = new Source(m.Target);
            Start(m.SourceId, source);
        });
        Receive<NtsKeyExchangeProtocol.Retry>(m =>
        {
            Timers.Cancel(m.SourceId);
            if (_sources.TryGetValue(m.SourceId, out var source)) Start(m.SourceId, source);
        });
        Receive<NtsKeyExchangeProtocol.Forget>(m =>
        {
            _sources.Remove(m.SourceId);
            Timers.Cancel(m.SourceId);
        });
        Receive<NtsKeyExchangeProtocol.Done>(OnDone);
    }

    private void Start(int id, Source source)
    {
        // A failed exchange waits out its backoff; polls meanwhile do not bring the retry forward.
        if (source.Exchanging || Timers.IsTimerActive(id)) return;
        var target = source.Target;
        if (!target.Mesh && !_trustedLoaded)
        {
            _trustedLoaded = true;
            _trusted = NtsPart.LoadTrusted(_trustedPath);
        }
        source.Exchanging = true;
        int attempt = ++source.Attempt;
        var timeout = target.Mesh ? MeshKeTimeout : KeTimeout;
        // The settings refused NTS without TimeMesh.Nts (NtsPart.RequireFor, NodePlan); should a source still get here,
        // its exchange fails with the reason instead of the actor.
        var exchange = NtsPart.KeyExchange is { } part
            ? part.ExchangeAsync(target.Host, target.Address, target.KePort, _trusted, timeout,
                target.Mesh ? _meshCredentials : null, target.Mesh ? target.MeshNames : null)
            : Task.FromException<NtsKeResult>(new InvalidOperationException($"NTS needs the package {NtsPart.PackageId}, which this application does not carry"));
        exchange.ContinueWith(t =>
                t.IsCompletedSuccessfully
                    ? new NtsKeyExchangeProtocol.Done(id, attempt, t.Result, null)
                    : new NtsKeyExchangeProtocol.Done(id, attempt, null, t.Exception?.GetBaseException().Message ?? "cancelled"))
            .PipeTo(Self);
    }

    private void OnDone(NtsKeyExchangeProtocol.Done m)
    {
        if (!_sources.TryGetValue(m.SourceId, out var source) || m.Attempt != source.Attempt) return;
        source.Exchanging = false;
        var target = source.Target;
        if (m.Result is not { } result)
        {
            source.Failures++;
            if (target.Mesh)
            {
                // 1, 2, 4, 4 … s: short, so a master back from a restart is polled again within seconds. Logged when the
                // reason changes or every 10th failure: a master down for an hour is not 900 warnings.
                var meshBackoff = TimeSpan.FromSeconds(Math.Min(MaxMeshKeBackoff.TotalSeconds, Math.Pow(2, Math.Min(source.Failures - 1, 10))));
                if (source.Failures == 1 || source.Failures % 10 == 0 || m.Error != source.LoggedError)
                    _log.Warning("mesh: NTS key exchange with master {0} ({1}:{2}) failed: {3}; not polled until one succeeds (no plain NTP inside an authenticated mesh); trying again in {4:0} s ({5} failure(s) in a row)",
                        target.MeshEndpoint, target.Address, target.KePort, m.Error, meshBackoff.TotalSeconds, source.Failures);
                source.LoggedError = m.Error;
                Timers.StartSingleTimer(m.SourceId, new NtsKeyExchangeProtocol.Retry(m.SourceId), meshBackoff);
            }
            else
            {
                var backoff = TimeSpan.FromSeconds(Math.Min(MaxKeBackoff.TotalSeconds, Math.Pow(2, Math.Min(source.Failures, 10))));
                _log.Warning("NTS-KE with {0}:{1} failed: {2}; trying again in {3}", target.Host, target.KePort, m.Error, backoff);
                Timers.StartSingleTimer(m.SourceId, new NtsKeyExchangeProtocol.Retry(m.SourceId), backoff);
            }
            Context.Parent.Tell(m);
            return;
        }
        source.Failures = 0;
        source.LoggedError = null;
        if (target.Mesh)
            _log.Info("mesh: NTS key exchange with master {0} ({1}:{2}) done: certificate from the mesh CA, role master; {3} cookies",
                target.MeshEndpoint, target.Address, target.KePort, result.Cookies.Count);
        else
            _log.Info("NTS-KE with {0}:{1} done: {2} cookies, NTP at {3}", target.Host, target.KePort, result.Cookies.Count, result.NtpEndpoint);
        Context.Parent.Tell(m);
    }
}
