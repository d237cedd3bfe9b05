using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Net;

namespace TimeMesh.LoadGen;

/// <summary>Results of one load run.</summary>
internal sealed record LoadResult(
    long Sent, long Answered, long Invalid, long Late, long Lost, long SendFailures,
    double SentPerCall, double ReceivedPerCall,
    double MeasuredSeconds, double ResponsesPerSecond,
    double P50Us, double P99Us, double P999Us, double MaxUs)
{
    public double LossPercent => Sent == 0 ? 0 : 100.0 * Lost / Sent;
}

/// <summary>
/// Keeps a window of NTP requests in flight on one thread. Each window slot holds at most one outstanding
/// request, tagged (slot | sequence &lt;&lt; 16) in the transmit timestamp; the reply's origin names the slot.
/// </summary>
internal sealed class LoadRunner : IDisposable
{
    private const int SlotBits = 16;
    private const ulong SlotMask = (1UL << SlotBits) - 1;

    private readonly Options _o;
    private readonly BatchedUdpSocket[] _sockets;
    private readonly DatagramBatch _tx;
    private readonly DatagramBatch _rx;
    private readonly PeerAddress _target;
    private readonly long _timeoutTicks;
    /// <summary>48, or 48 plus the MAC when requests are signed; a valid reply has the same length.</summary>
    private readonly int _requestLength;
    /// <summary>NTS load: the keys and cookie of one key exchange (null: plain or symmetric-key requests).</summary>
    private readonly NtsLoad? _nts;

    // per window slot
    private readonly ulong[] _tag;          // 0 = free
    private readonly long[] _sentAt;
    private readonly bool[] _measured;
    private readonly int[] _free;
    private int _freeCount;
    private ulong _nextSequence = 1;

    private readonly LatencyHistogram _latency;
    private bool _measuring;
    private long _sent, _answered, _invalid, _late, _lost, _totalSent;
    private long _lastAnswerAt;
    private long _sendCalls, _sendDatagrams, _receiveCalls, _receiveDatagrams;

    public LoadRunner(Options o)
    {
        _o = o;
        var local = new IPEndPoint(o.Target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0);
        if (!IPAddress.IsLoopback(o.Target.Address))
            throw new ArgumentException($"the load generator only targets loopback addresses, not {o.Target.Address}");
        // A blocked Receive wakes at least this often so timeouts and the deadline are checked.
        var wake = TimeSpan.FromMilliseconds(Math.Clamp(o.TimeoutMs / 4, 1, 20));
        _sockets = new BatchedUdpSocket[o.Sockets];
        for (int i = 0; i < o.Sockets; i++)
            _sockets[i] = BatchedUdpSocket.Bind(local, new UdpSocketOptions { KernelTimestamps = false, ReceiveTimeout = wake });
        _nts = o.NtsKe is null ? null : NtsLoad.Exchange(o);
        _tx = new DatagramBatch(o.Batch, _nts is null ? Ntp.PacketBytes + TimeMesh.Core.Auth.NtpMac.KeyIdLength + TimeMesh.Core.Auth.NtpMac.MaxDigestLength : 1024);
        _requestLength = _nts?.RequestLength ?? (o.Key is null ? Ntp.PacketBytes : Ntp.PacketBytes + TimeMesh.Core.Auth.NtpMac.TrailerLength(o.Key, 4));
        _rx = new DatagramBatch(o.Batch, 1024);
        _target = PeerAddress.FromEndPoint(o.Target);
        for (int i = 0; i < o.Batch; i++)
            _tx.SetDestination(i, _target);
        _timeoutTicks = o.TimeoutMs * Stopwatch.Frequency / 1000;

        _tag = new ulong[o.Window];
        _sentAt = new long[o.Window];
        _measured = new bool[o.Window];
        _free = new int[o.Window];
        for (int i = o.Window - 1; i >= 0; i--)
            _free[_freeCount++] = i;
        _latency = new LatencyHistogram((long)o.TimeoutMs * 1_000_000);
    }

    public LoadResult Run()
    {
        long start = Stopwatch.GetTimestamp();
        long measureStart = start + _o.WarmupMs * Stopwatch.Frequency / 1000;
        long end = measureStart + (long)(_o.DurationSeconds * Stopwatch.Frequency);
        long lastScan = start;
        long scanEvery = Math.Max(Stopwatch.Frequency / 1000, _timeoutTicks / 8);
        _measuring = _o.WarmupMs == 0;
        if (_measuring)
            measureStart = start;

        // Load phase: bounded by the deadline and by the request cap.
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (!_measuring && now >= measureStart)
                _measuring = true;
            if (now >= end || _totalSent >= _o.MaxRequests)
                break;
            FillWindow();
            ReceiveOnce();
            now = Stopwatch.GetTimestamp();
            if (now - lastScan >= scanEvery)
            {
                ExpireOlderThan(now - _timeoutTicks);
                lastScan = now;
            }
        }
        long loadEnd = Stopwatch.GetTimestamp();

        // Drain: no new requests; wait for the outstanding ones up to the timeout, then count the rest lost.
        long drainDeadline = loadEnd + _timeoutTicks;
        while (_freeCount < _o.Window && Stopwatch.GetTimestamp() < drainDeadline)
        {
            ReceiveOnce();
            ExpireOlderThan(Stopwatch.GetTimestamp() - _timeoutTicks);
        }
        ExpireOlderThan(long.MaxValue);

        long lastUseful = Math.Max(loadEnd, _lastAnswerAt);
        double seconds = Math.Max(1e-9, (double)(lastUseful - measureStart) / Stopwatch.Frequency);
        long sendFailures = 0;
        foreach (var s in _sockets)
            sendFailures += s.SendFailures;
        return new LoadResult(_sent, _answered, _invalid, _late, _lost, sendFailures,
            _sendCalls == 0 ? 0 : (double)_sendDatagrams / _sendCalls,
            _receiveCalls == 0 ? 0 : (double)_receiveDatagrams / _receiveCalls,
            seconds, _answered / seconds,
            _latency.PercentileMicroseconds(0.50), _latency.PercentileMicroseconds(0.99),
            _latency.PercentileMicroseconds(0.999), _latency.MaxMicroseconds);
    }

    /// <summary>Sends a request for every free slot, one sendmmsg per batch, spreading batches over the sockets.</summary>
    private void FillWindow()
    {
        int socketIndex = 0;
        while (_freeCount > 0 && _totalSent < _o.MaxRequests)
        {
            int count = (int)Math.Min(Math.Min(_freeCount, _o.Batch), _o.MaxRequests - _totalSent);
            long now = Stopwatch.GetTimestamp();
            for (int j = 0; j < count; j++)
            {
                int slot = _free[--_freeCount];
                ulong tag = (_nextSequence++ << SlotBits) | (uint)slot;
                _tag[slot] = tag;
                _sentAt[slot] = now;
                _measured[slot] = _measuring;
                Ntp.WriteRequest(_tx.Outgoing(j), tag);
                if (_nts is not null)
                    _nts.AppendFields(_tx.Outgoing(j), tag);
                else if (_o.Key is not null)
                    TimeMesh.Core.Auth.NtpMac.Append(_tx.Outgoing(j), Ntp.PacketBytes, _o.Key, 4);
                _tx.SetOutgoing(j, _requestLength);
            }
            int sent = _sockets[socketIndex].Send(_tx, count);
            _sendCalls++;
            _sendDatagrams += count;
            socketIndex = (socketIndex + 1) % _sockets.Length;
            _totalSent += count;
            if (_measuring)
                _sent += count;
            // A request the kernel refused never leaves: it is lost once its timeout passes, like any other.
            _ = sent;
        }
    }

    /// <summary>One receive round: a blocking batch on a single socket, or a non-blocking sweep over several.</summary>
    private void ReceiveOnce()
    {
        if (_sockets.Length == 1 && !_o.Spin)
        {
            int n = _sockets[0].Receive(_rx);
            Count(n);
            if (n > 0)
                Process(n, Stopwatch.GetTimestamp());
            return;
        }
        int total = 0;
        foreach (var socket in _sockets)
        {
            int n = socket.ReceiveNonBlocking(_rx);
            Count(n);
            if (n > 0)
                Process(n, Stopwatch.GetTimestamp());
            total += n;
        }
        if (total == 0)
            Thread.SpinWait(20);
    }

    /// <summary>Datagrams per receive call that returned something (empty polls are not counted).</summary>
    private void Count(int n)
    {
        if (n <= 0)
            return;
        _receiveCalls++;
        _receiveDatagrams += n;
    }

    private void Process(int n, long receivedAt)
    {
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<byte> reply = _rx.Received(i);
            ulong origin = Ntp.Origin(reply);
            ulong slotValue = origin & SlotMask;
            if (origin == 0 || slotValue >= (ulong)_o.Window || _tag[slotValue] != origin)
            {
                // Not an outstanding request: a late reply to one already counted lost, or garbage.
                if (origin != 0 && slotValue < (ulong)_o.Window && (origin >> SlotBits) < _nextSequence)
                    _late++;
                else
                    _invalid++;
                continue;
            }
            int slot = (int)slotValue;
            bool measured = _measured[slot];
            _tag[slot] = 0;
            _free[_freeCount++] = slot;
            if (!measured)
                continue;
            bool valid = _nts is null ? Ntp.IsValidReply(reply, _requestLength, _o.Key, _o.VerifyMac) : _nts.IsValidReply(reply, _o.VerifyMac);
            if (valid && !_rx.IsTruncated(i))
            {
                _answered++;
                _latency.Record((receivedAt - _sentAt[slot]) * 1_000_000_000 / Stopwatch.Frequency);
                _lastAnswerAt = receivedAt;
            }
            else
            {
                _invalid++;
            }
        }
    }

    private void ExpireOlderThan(long cutoff)
    {
        for (int slot = 0; slot < _tag.Length; slot++)
        {
            if (_tag[slot] == 0 || _sentAt[slot] > cutoff)
                continue;
            if (_measured[slot])
                _lost++;
            _tag[slot] = 0;
            _free[_freeCount++] = slot;
        }
    }

    public void Dispose()
    {
        foreach (var s in _sockets)
            s.Dispose();
        _tx.Dispose();
        _rx.Dispose();
        _nts?.Dispose();
    }
}
