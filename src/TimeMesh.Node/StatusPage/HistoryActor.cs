using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.History;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Sync;

namespace TimeMesh.Node.StatusPage;

/// <summary>The history actor's protocol.</summary>
public static class HistoryProtocol
{
    /// <summary>
    /// Asks for the samples of the last <paramref name="Window"/> (all when null), merged down to at most
    /// <paramref name="MaxPoints"/>; the answer is a <see cref="History"/>.
    /// </summary>
    public sealed record GetHistory(TimeSpan? Window, int MaxPoints);

    /// <param name="Samples">Oldest first.</param>
    /// <param name="Held">Samples in the ring before the window and merging.</param>
    public sealed record History(IReadOnlyList<HistorySample> Samples, TimeSpan Interval, int Capacity, int Held, long NowUnixNs);

    internal sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    internal sealed record Recorded(HistorySample Sample);
}

/// <summary>
/// Keeps the node's own history for the status page: every interval it asks the sync actor for tracking
/// (and the mesh actor for the leader) and adds one sample to a fixed-size ring. It only asks, so the sync
/// actor's logic is untouched; a slow answer costs a sample, never a stall. History lives in memory only.
/// </summary>
public sealed class HistoryActor : ReceiveActor, IWithTimers
{
    private readonly HistorySettings _settings;
    private readonly IActorRef _sync;
    private readonly Func<IActorRef?> _mesh;
    private readonly Func<long> _nowUnixNs;
    private readonly TrackingHistory _history;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private bool _warned;
    private bool _asking;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="nowUnixNs">The node's served clock (sample times are on it).</param>
    /// <param name="mesh">The node's mesh actor now (a standalone node's changes when its cluster part rejoins); null when it runs alone.</param>
    public static Props Props(HistorySettings settings, IActorRef sync, Func<IActorRef?> mesh, Func<long> nowUnixNs) =>
        Akka.Actor.Props.Create(() => new HistoryActor(settings, sync, mesh, nowUnixNs));

    public HistoryActor(HistorySettings settings, IActorRef sync, Func<IActorRef?> mesh, Func<long> nowUnixNs)
    {
        _settings = settings;
        _sync = sync;
        _mesh = mesh;
        _nowUnixNs = nowUnixNs;
        _history = new TrackingHistory(settings.Capacity);

        Receive<HistoryProtocol.Tick>(_ =>
        {
            // One question at a time: a sync actor slower than the interval costs samples, not a pile of asks.
            if (_asking) return;
            _asking = true;
            Sample().PipeTo(Self);
        });
        Receive<HistoryProtocol.Recorded>(m =>
        {
            _asking = false;
            _history.Add(m.Sample);
        });
        Receive<Akka.Actor.Status.Failure>(f =>
        {
            _asking = false;
            // Once is enough in the log: a sync actor that cannot answer is reported by its own supervisor.
            if (!_warned) _log.Warning("history: no tracking sample ({0}); retrying every {1}", f.Cause.GetBaseException().Message, _settings.Interval);
            _warned = true;
        });
        Receive<HistoryProtocol.GetHistory>(OnGetHistory);
    }

    protected override void PreStart() =>
        Timers.StartPeriodicTimer("sample", HistoryProtocol.Tick.Instance, TimeSpan.Zero, _settings.Interval);

    private async Task<object> Sample()
    {
        var timeout = _settings.Interval < TimeSpan.FromSeconds(2) ? TimeSpan.FromSeconds(2) : _settings.Interval;
        var trackingTask = _sync.Ask<SyncProtocol.Tracking>(SyncProtocol.GetTracking.Instance, timeout);
        var meshTask = _mesh()?.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, timeout);
        try
        {
            var t = (await trackingTask).Report;
            string? leader = meshTask is null ? null : (await meshTask).Leader;
            return new HistoryProtocol.Recorded(new HistorySample
            {
                TimeUnixNs = _nowUnixNs(),
                // Before the first clock update there is no measured offset to show.
                LastOffsetSeconds = t.ReferenceTimeUnixNs == 0 ? double.NaN : t.LastOffsetSeconds,
                LastUpdateUnixNs = t.ReferenceTimeUnixNs,
                FrequencyPpm = t.FrequencyPpm,
                SkewPpm = t.SkewPpm,
                RootDistanceSeconds = t.Synchronised ? t.RootDelaySeconds / 2 + t.RootDispersionSeconds : double.NaN,
                Stratum = (byte)Math.Clamp(t.Stratum, 0, 16),
                Synchronised = t.Synchronised,
                Source = string.IsNullOrEmpty(t.ReferenceName) ? null : t.ReferenceName,
                Leader = leader,
            });
        }
        catch (Exception e)
        {
            return new Akka.Actor.Status.Failure(e);
        }
    }

    private void OnGetHistory(HistoryProtocol.GetHistory m)
    {
        long now = _nowUnixNs();
        var window = m.Window is { } w ? _history.Since(now - (long)(w.TotalMilliseconds * 1e6)) : _history.Since(long.MinValue);
        var samples = TrackingHistory.Downsample(window, Math.Max(1, m.MaxPoints));
        Sender.Tell(new HistoryProtocol.History(samples, _settings.Interval, _history.Capacity, _history.Count, now));
    }
}
