using TimeMesh.Core.Access;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Server;
using TimeMesh.Net;
using TimeMesh.Node.Clock;

namespace TimeMesh.Node.Ntp;

/// <summary>
/// One dedicated thread answering NTP requests on one socket: recvmmsg a batch, decide every datagram
/// with the core handler against the current snapshot, stamp the transmit time, sendmmsg the replies.
/// Nothing here allocates per packet, and no packet passes through an actor mailbox.
/// With the interleaved mode on, the kernel's transmit timestamps of the replies are read back from the socket's
/// error queue and recorded in the handler's exchange table, where the clients' next requests find them.
/// </summary>
internal sealed class UdpServerLoop
{
    private readonly BatchedUdpSocket _socket;
    private readonly NtpServerHandler _handler;
    private readonly SnapshotHolder _snapshot;
    private readonly IClock _clock;
    private readonly int _batchSize;
    private readonly Action<UdpServerLoop, Exception> _onFailure;
    /// <summary>Converts the NIC's stamps (null: the socket has none, only the kernel's software stamps are used).</summary>
    private readonly HardwareTimestamps? _hardware;
    private readonly Thread _thread;
    private volatile bool _stopping;

    // Interleaved mode: the kernel numbers the timestamped datagrams of a socket 0, 1, 2…; the exchange of the reply
    // sent as number n waits in slot n % PendingSlots until its transmit timestamp comes back.
    private const int PendingSlots = 4096;
    private readonly InterleavedTimestamps? _exchanges;
    private long[] _pendingExchange = [];
    private uint[] _pendingId = [];
    private long[] _pendingSentOsNs = [];
    private TransmitTimestamp[] _stamps = [];
    private uint _nextTransmitId;
    // Transmit timestamps cost the kernel a clone of every reply and the loop a read of the error queue (about 10 % of
    // the loopback throughput, measured): they are turned on with the first request that asks for the interleaved mode.
    private bool _transmitStampsOn;

    public UdpServerLoop(
        int index,
        BatchedUdpSocket socket,
        NtpServerHandler handler,
        SnapshotHolder snapshot,
        IClock clock,
        int batchSize,
        LoopCounters counters,
        Action<UdpServerLoop, Exception> onFailure,
        HardwareTimestamps? hardware = null)
    {
        _hardware = hardware is { AnyHardware: true } && socket.HardwareTimestampsEnabled ? hardware : null;
        Index = index;
        _socket = socket;
        _handler = handler;
        _snapshot = snapshot;
        _clock = clock;
        _batchSize = batchSize;
        Counters = counters;
        _onFailure = onFailure;
        _exchanges = socket.TransmitTimestampsEnabled ? handler.Interleaving : null;
        _thread = new Thread(Run)
        {
            IsBackground = true,
            Name = $"ntp-loop-{index} {socket.LocalEndPoint}",
            Priority = ThreadPriority.AboveNormal,
        };
    }

    public int Index { get; }
    public BatchedUdpSocket Socket => _socket;
    public LoopCounters Counters { get; }

    public void Start() => _thread.Start();

    /// <summary>
    /// Asks the loop to stop. The loop blocks in recvmmsg without a timeout, so it notices when the socket is
    /// disposed next (its shutdown wakes the receive), or at the next datagram.
    /// </summary>
    public void Stop() => _stopping = true;

    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    private void Run()
    {
        try
        {
            // The buffer is larger than the largest valid packet, so oversized datagrams show as truncated.
            using var batch = new DatagramBatch(_batchSize, 2048);
            var verdicts = new ServerVerdict[_batchSize];
            var exchanges = new long[_batchSize];
            if (_exchanges is not null)
            {
                _pendingExchange = new long[PendingSlots];
                _pendingId = new uint[PendingSlots];
                _pendingSentOsNs = new long[PendingSlots];
                _stamps = new TransmitTimestamp[BatchedUdpSocket.MaxTransmitTimestampsPerRead];
                Array.Fill(_pendingExchange, -1);
                _socket.SetTransmitTimestamps(false);
            }
            while (!_stopping)
            {
                int received = _socket.Receive(batch);
                if (received == 0)
                {
                    if (_socket.IsDisposed && !_stopping) throw new ObjectDisposedException(_thread.Name, "the socket was closed under a running loop");
                    continue;
                }
                // Before answering: a client's previous reply may have left after the last batch was sent.
                if (_exchanges is not null && _transmitStampsOn) CollectTransmitTimestamps(_exchanges);
                long osNow = _clock.ReadOsUnixNs();
                ServerSnapshot snapshot = _snapshot.Current;
                int replies = 0;
                for (int i = 0; i < received; i++)
                {
                    long kernelReceive = batch.KernelTimestampUnixNanoseconds(i);
                    if (_hardware is not null) kernelReceive = _hardware.ReceiveTime(batch, i, kernelReceive);
                    long receiveUnixNs = _clock.ServedFromOs(kernelReceive != 0 ? kernelReceive : osNow);
                    ServerVerdict verdict;
                    int replyLength = 0;
                    long exchange = -1;
                    if (batch.IsTruncated(i))
                    {
                        verdict = ServerVerdict.DroppedMalformed;
                    }
                    else
                    {
                        PeerAddress source = batch.Source(i);
                        if (_exchanges is not null && !_transmitStampsOn && NtpServerHandler.AsksForInterleaved(batch.Received(i))) StartTransmitTimestamps();
                        verdict = _handler.Handle(
                            batch.Received(i),
                            new IpAddress128(source.High, source.Low),
                            receiveUnixNs,
                            snapshot,
                            batch.Outgoing(i),
                            out replyLength,
                            out exchange);
                    }
                    verdicts[i] = verdict;
                    exchanges[i] = exchange;
                    Counters.Count(verdict);
                    batch.SetOutgoing(i, replyLength);
                    if (replyLength > 0) replies++;
                }
                Counters.Received += received;
                if (replies == 0) continue;

                long transmitUnixNs = _clock.NowUnixNs();
                for (int i = 0; i < received; i++)
                {
                    _handler.FinishReply(verdicts[i], batch.Outgoing(i), batch.OutgoingLength(i), transmitUnixNs);
                }
                long sentOsNs = _exchanges is null ? 0 : _clock.ReadOsUnixNs();
                int sent = _socket.Send(batch, received);
                if (sent < replies) Counters.SendFailures += replies - sent;
                if (_exchanges is not null && _transmitStampsOn)
                {
                    if (sent == replies) ExpectTransmitTimestamps(exchanges, batch, received, sentOsNs);
                    else ResynchroniseTransmitIds();
                    CollectTransmitTimestamps(_exchanges);
                }
                Counters.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread();
            }
        }
        catch (Exception e) when (!_stopping)
        {
            _onFailure(this, e);
        }
        catch (Exception)
        {
            // Stopping: the socket was closed under us.
        }
    }

    /// <summary>From now on every reply's transmit time is read back; the kernel numbers the next reply 0.</summary>
    private void StartTransmitTimestamps()
    {
        _transmitStampsOn = _socket.SetTransmitTimestamps(true);
        _nextTransmitId = 0;
        Array.Fill(_pendingExchange, -1);
    }

    /// <summary>Numbers the replies just sent as the kernel does (in slot order) and remembers their exchanges.</summary>
    private void ExpectTransmitTimestamps(long[] exchanges, DatagramBatch batch, int count, long sentOsNs)
    {
        for (int i = 0; i < count; i++)
        {
            if (batch.OutgoingLength(i) == 0) continue;
            uint id = _nextTransmitId++;
            int slot = (int)(id % PendingSlots);
            _pendingId[slot] = id;
            _pendingExchange[slot] = exchanges[i];
            _pendingSentOsNs[slot] = sentOsNs;
        }
    }

    /// <summary>
    /// A refused datagram may or may not have taken a number: start the numbering again (the socket resets the kernel's
    /// counter) and forget what was waiting, so no transmit time is ever recorded for the wrong reply.
    /// </summary>
    private void ResynchroniseTransmitIds()
    {
        while (_socket.ReadTransmitTimestamps(_stamps) > 0) { }
        Array.Fill(_pendingExchange, -1);
        _nextTransmitId = 0;
        if (!_socket.ResetTransmitTimestampIds()) Counters.TransmitTimestampResyncFailures++;
    }

    /// <summary>Records every transmit timestamp the kernel has queued against the exchange of its reply.</summary>
    private void CollectTransmitTimestamps(InterleavedTimestamps exchanges)
    {
        // Bounded: a batch's worth of stamps plus late ones, never an endless drain.
        for (int round = 0; round < 4; round++)
        {
            int n = _socket.ReadTransmitTimestamps(_stamps);
            for (int k = 0; k < n; k++)
            {
                TransmitTimestamp stamp = _stamps[k];
                int slot = (int)(stamp.Id % PendingSlots);
                long exchange = _pendingExchange[slot];
                if (exchange < 0 || _pendingId[slot] != stamp.Id) continue;
                _pendingExchange[slot] = -1;
                // A datagram leaves after the loop read the clock before sendmmsg, and within a second of it on any sane
                // machine; anything else is not this reply's stamp.
                long sentUnixNs = _hardware is null ? stamp.UnixNanoseconds : _hardware.TransmitTime(stamp, out _);
                if (sentUnixNs == 0) continue;
                long sinceSendNs = sentUnixNs - _pendingSentOsNs[slot];
                if (sinceSendNs < 0 || sinceSendNs > 1_000_000_000L) continue;
                exchanges.SetTransmit(exchange, NtpTimestamp.FromUnixNanoseconds(_clock.ServedFromOs(sentUnixNs)).Value);
                Counters.TransmitTimestamps++;
            }
            if (n < _stamps.Length) return;
        }
    }
}
