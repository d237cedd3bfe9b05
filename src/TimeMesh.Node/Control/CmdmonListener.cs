using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Event;
using TimeMesh.Core.Access;
using TimeMesh.Core.Cmdmon;
using TimeMesh.Core.RateLimit;

namespace TimeMesh.Node.Control;

/// <summary>
/// chrony's command port on the node: one UDP socket per bind address, each with a receive loop that checks
/// access (127.0.0.1, ::1 and cmdallow/cmddeny), lets the core judge the datagram, logs the client (rate limit
/// for everyone but localhost, the "Cmd" columns of chronyc clients), fetches the report the request needs
/// through <see cref="NodeQueries"/> and sends the core's reply. Replies go back from the socket the request came in on.
/// </summary>
public sealed class CmdmonListener : IAsyncDisposable
{
    private static readonly IpAddress128 Loopback4 = IpAddress128.FromIPAddress(IPAddress.Loopback);
    private static readonly IpAddress128 Loopback6 = IpAddress128.FromIPAddress(IPAddress.IPv6Loopback);

    private readonly CmdmonSettings _settings;
    private readonly CmdmonDataSource _data;
    private readonly List<Socket> _sockets;
    private readonly List<Task> _loops = [];
    private readonly CancellationTokenSource _stop = new();
    private long _received, _dropped, _refusedAccess, _malformed, _answered;

    private CmdmonListener(CmdmonSettings settings, CmdmonDataSource data, List<Socket> sockets)
    {
        _settings = settings;
        _data = data;
        _sockets = sockets;
        Log = new ClientLog(64 * ClientLog.RecordBytes * ClientLog.SlotsPerBucket, settings.RateLimit, (ulong)Random.Shared.NextInt64());
    }

    /// <summary>Where it listens (ports resolved).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _sockets.Select(s => (IPEndPoint)s.LocalEndPoint!).ToList();

    /// <summary>Command requests logged (chronyc serverstats' "Command packets received").</summary>
    public long Received => Interlocked.Read(ref _received);
    /// <summary>Requests dropped by the rate limit (chronyc serverstats' "Command packets dropped").</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    /// <summary>Datagrams from hosts outside cmdallow (never answered).</summary>
    public long RefusedAccess => Interlocked.Read(ref _refusedAccess);
    /// <summary>Datagrams that were not command requests (never answered).</summary>
    public long Malformed => Interlocked.Read(ref _malformed);
    public long Answered => Interlocked.Read(ref _answered);

    /// <summary>The command port's client log (for the Cmd columns of chronyc clients).</summary>
    internal ClientLog Log { get; }

    /// <summary>Monotonic ns for the client log (its ages need no wall clock).</summary>
    internal static long NowNs() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    /// <summary>
    /// Opens the command port, or returns null when it is off or no address could be bound (logged: the node
    /// serves NTP without it, as chronyd does).
    /// </summary>
    public static CmdmonListener? Start(CmdmonSettings settings, NodeQueries queries, Func<long> controlRequests, ILoggingAdapter log)
    {
        if (!settings.Enabled) return null;
        var sockets = new List<Socket>();
        foreach (var address in settings.Bind)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                if (address.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
                socket.Bind(new IPEndPoint(address, settings.Port));
                sockets.Add(socket);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                log.Warning("chrony command port not opened on {0}: {1} ({2} = 0 turns it off)", new IPEndPoint(address, settings.Port), e.Message, CmdmonSettings.PortKey);
            }
        }
        if (sockets.Count == 0) return null;
        CmdmonListener? listener = null;
        listener = new CmdmonListener(settings, new CmdmonDataSource(queries, () => listener!, controlRequests), sockets);
        foreach (var socket in sockets) listener._loops.Add(Task.Run(() => listener.RunAsync(socket)));
        log.Info("chrony command port on {0} (read-only; try: chronyc -h {1} -p {2} tracking)",
            string.Join(", ", listener.Endpoints), listener.Endpoints[0].Address, listener.Endpoints[0].Port);
        return listener;
    }

    private async Task RunAsync(Socket socket)
    {
        var buffer = new byte[CmdmonWire.MaxRequestLength + 1];
        var reply = new byte[CmdmonWire.MaxRequestLength];
        EndPoint any = socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; } // e.g. ICMP port unreachable from an earlier reply
            try
            {
                var from = (IPEndPoint)received.RemoteEndPoint;
                int length = await HandleAsync(buffer.AsMemory(0, received.ReceivedBytes), from, reply);
                if (length > 0)
                {
                    await socket.SendToAsync(reply.AsMemory(0, length), SocketFlags.None, from, _stop.Token);
                    Interlocked.Increment(ref _answered);
                }
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { }
            catch (Exception e) when (e is Akka.Actor.AskTimeoutException or TimeoutException)
            {
                // The node did not answer in time: no reply, as chronyd gives none when it cannot.
            }
        }
    }

    /// <summary>Judges one datagram; returns the reply's length in <paramref name="reply"/> (0: none).</summary>
    internal async ValueTask<int> HandleAsync(ReadOnlyMemory<byte> datagram, IPEndPoint from, byte[] reply)
    {
        var address = IpAddress128.FromIPAddress(from.Address);
        // chronyd: only the loopback address itself counts as localhost (not the rest of 127/8).
        bool localhost = address == Loopback4 || address == Loopback6;
        if (!localhost && !_settings.Access.IsAllowed(address))
        {
            Interlocked.Increment(ref _refusedAccess);
            return 0;
        }
        var verdict = CmdmonServer.Inspect(datagram.Span, localhost, reply, out int length, out var request);
        if (verdict == CmdmonVerdict.Drop)
        {
            Interlocked.Increment(ref _malformed);
            return 0;
        }
        Interlocked.Increment(ref _received);
        // chronyd never limits localhost's command requests.
        if (Log.Hit(address, NowNs(), exempt: localhost) == RateDecision.Drop)
        {
            Interlocked.Increment(ref _dropped);
            return 0;
        }
        if (verdict == CmdmonVerdict.Answered) return length;
        var data = await _data.FetchAsync(request.Need);
        return CmdmonServer.Answer(request, data, reply);
    }

    /// <summary>Closes the sockets at once (the loops end on their own); safe to call more than once.</summary>
    public void Close()
    {
        lock (_sockets)
        {
            if (_stop.IsCancellationRequested) return;
            _stop.Cancel();
            foreach (var s in _sockets) s.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Close();
        try { await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(3)); } catch { }
    }
}
