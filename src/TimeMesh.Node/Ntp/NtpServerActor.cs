using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Net;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Ntp;

/// <summary>
/// Owns the NTP sockets and their receive loops: publishes the server snapshot the loops answer from,
/// restarts a loop that fails (rebinding its socket if the socket died), and reports counters. The
/// actor is never on the packet path.
/// </summary>
public sealed class NtpServerActor : ReceiveActor, IWithTimers
{
    private readonly TimeMeshSettings _settings;
    private readonly IClock _clock;
    private readonly UdpServerLoop?[] _loops;
    private readonly BatchedUdpSocket[] _sockets;
    private readonly LoopCounters[] _counters;
    private readonly SnapshotHolder _snapshot;
    private readonly NtpServerHandler _handler;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HardwareTimestamps _hardware;
    private int _restarts;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="sockets">Bound sockets, one per loop; the actor owns and closes them.</param>
    /// <param name="nts">NTS on the NTP port (null: off).</param>
    /// <param name="hardware">The node's hwtimestamp interfaces (null: off); their NIC stamps become the receive and transmit times.</param>
    public static Props Props(TimeMeshSettings settings, IReadOnlyList<BatchedUdpSocket> sockets, IClock clock, sbyte precisionLog2,
        Core.Nts.NtsServerExtension? nts = null, HardwareTimestamps? hardware = null) =>
        Akka.Actor.Props.Create(() => new NtpServerActor(settings, sockets, clock, precisionLog2, nts, hardware));

    public NtpServerActor(TimeMeshSettings settings, IReadOnlyList<BatchedUdpSocket> sockets, IClock clock, sbyte precisionLog2,
        Core.Nts.NtsServerExtension? nts = null, HardwareTimestamps? hardware = null)
    {
        _settings = settings;
        _hardware = hardware ?? HardwareTimestamps.Off;
        _clock = clock;
        _sockets = sockets.ToArray();
        _loops = new UdpServerLoop?[_sockets.Length];
        _counters = _sockets.Select(_ => new LoopCounters()).ToArray();
        _handler = new NtpServerHandler(new ClientLog(settings.ClientLogLimitBytes, settings.RateLimit, (ulong)Random.Shared.NextInt64()))
        {
            Keys = settings.Keys,
            Nts = nts,
            // Replies are answered in basic mode where no socket gives transmit timestamps: nothing to interleave with.
            Interleaving = settings.NtpServer.Interleaved && _sockets.Any(s => s.TransmitTimestampsEnabled)
                ? new InterleavedTimestamps(settings.NtpServer.InterleavedExchanges)
                : null,
        };
        if (settings.Keys.Count > 0)
            _log.Info("keyfile {0}: {1}", settings.Keys.Source, string.Join(", ", settings.Keys.Keys));
        foreach (string warning in settings.Keys.Warnings) _log.Warning(warning);
        _snapshot = new SnapshotHolder(new ServerSnapshot
        {
            // Replaced by the reference actor's first word, before any loop runs.
            Reference = ReferenceState.Unsynchronised,
            Access = settings.Access,
            PrecisionLog2 = precisionLog2,
        });

        Receive<NtpServerProtocol.ReferenceChanged>(m =>
        {
            _snapshot.Current = _snapshot.Current with { Reference = m.Reference };
            // The loops start with the first reference, so that requests already queued on the sockets
            // are answered from what the node really is, never from a placeholder.
            if (!_loopsStarted) StartLoops();
        });
        Receive<NtpServerProtocol.GetStats>(_ => Sender.Tell(Stats()));
        Receive<NtpServerProtocol.GetClients>(_ => Sender.Tell(new NtpServerProtocol.Clients(_handler.ClientLog.Snapshot(), _clock.NowUnixNs())));
        Receive<NtpServerProtocol.GetSnapshot>(_ => Sender.Tell(_snapshot.Current));
        Receive<NtpServerProtocol.GetListening>(_ => Sender.Tell(new NtpServerProtocol.Listening(
            _sockets.Select(s => s.LocalEndPoint).Distinct().ToArray(),
            _loops.Length,
            _sockets.Length > 0 ? _sockets.Min(s => s.EffectiveReceiveBufferBytes) : 0,
            _sockets.All(s => s.KernelTimestampsEnabled))));
        Receive<NtpServerProtocol.LoopFailed>(OnLoopFailed);
        Receive<NtpServerProtocol.RestartLoop>(m => StartLoop(m.Index));
    }

    /// <summary>The sockets the loops use now (tests break one to see the loop come back).</summary>
    internal IReadOnlyList<BatchedUdpSocket> Sockets => _sockets;

    private bool _loopsStarted;

    private void StartLoops()
    {
        _loopsStarted = true;
        for (int i = 0; i < _sockets.Length; i++) StartLoop(i);
        _log.Info("NTP server listening on {0} ({1} loop(s), SO_RCVBUF {2} bytes, kernel timestamps {3}, hardware timestamps {4}, interleaved mode {5})",
            string.Join(", ", _sockets.Select(s => s.LocalEndPoint).Distinct()), _sockets.Length,
            _sockets.Min(s => s.EffectiveReceiveBufferBytes), _sockets.All(s => s.KernelTimestampsEnabled) ? "on" : "off",
            _hardware.Mode == "hardware" && _sockets.All(s => s.HardwareTimestampsEnabled) ? "on" : _hardware.Configured ? "off (fallback, see hwtimestamp)" : "off",
            _handler.Interleaving is not null ? "on" : _settings.NtpServer.Interleaved ? "off (no kernel transmit timestamps)" : "off");
    }

    protected override void PostStop()
    {
        foreach (var loop in _loops) loop?.Stop();
        foreach (var socket in _sockets) socket.Dispose();
        foreach (var loop in _loops) loop?.Join(TimeSpan.FromSeconds(2));
    }

    private void StartLoop(int index)
    {
        if (_loops[index] is not null) return;
        var socket = _sockets[index];
        if (socket.IsDisposed)
        {
            try
            {
                socket = BatchedUdpSocket.Bind(socket.LocalEndPoint, NtpSockets.Options(_settings.NtpServer, _hardware.AnyHardware));
                _sockets[index] = socket;
            }
            catch (Exception e)
            {
                _log.Error(e, "cannot rebind NTP socket {0}; retrying in {1}", socket.LocalEndPoint, _settings.NtpServer.LoopRestartDelay);
                Timers.StartSingleTimer(("restart", index), new NtpServerProtocol.RestartLoop(index), _settings.NtpServer.LoopRestartDelay);
                return;
            }
        }
        var self = Self;
        var loop = new UdpServerLoop(index, socket, _handler, _snapshot, _clock, _settings.NtpServer.BatchSize, _counters[index],
            (failed, cause) => self.Tell(new NtpServerProtocol.LoopFailed(failed, cause)), _hardware);
        _loops[index] = loop;
        loop.Start();
    }

    private void OnLoopFailed(NtpServerProtocol.LoopFailed m)
    {
        if (!ReferenceEquals(_loops[m.Loop.Index], m.Loop)) return;
        _loops[m.Loop.Index] = null;
        _restarts++;
        _log.Error(m.Cause, "NTP receive loop {0} on {1} failed; restarting it in {2}",
            m.Loop.Index, m.Loop.Socket.LocalEndPoint, _settings.NtpServer.LoopRestartDelay);
        Timers.StartSingleTimer(("restart", m.Loop.Index), new NtpServerProtocol.RestartLoop(m.Loop.Index), _settings.NtpServer.LoopRestartDelay);
    }

    private ServerStats Stats()
    {
        var (held, span) = _handler.Interleaving?.Usage() ?? (0, 0);
        return _counters.Aggregate(ServerStats.Zero, (sum, c) => sum + c.Read())
            with
            {
                ClientLogEvictions = _handler.ClientLog.Evictions,
                LoopRestarts = _restarts,
                InterleavedExchangesHeld = held,
                InterleavedSpanSeconds = span,
            };
    }
}
