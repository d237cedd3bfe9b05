using TimeMesh.Core.Access;
using TimeMesh.Core.Server;
using TimeMesh.Net;
using TimeMesh.Node.Clock;

namespace TimeMesh.Node.Ntp;

/// <summary>
/// One dedicated thread answering NTP requests on one socket: recvmmsg a batch, decide every datagram
/// with the core handler against the current snapshot, stamp the transmit time, sendmmsg the replies.
/// Nothing here allocates per packet, and no packet passes through an actor mailbox.
/// </summary>
internal sealed class UdpServerLoop
{
    private readonly BatchedUdpSocket _socket;
    private readonly NtpServerHandler _handler;
    private readonly SnapshotHolder _snapshot;
    private readonly IClock _clock;
    private readonly int _batchSize;
    private readonly Action<UdpServerLoop, Exception> _onFailure;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public UdpServerLoop(
        int index,
        BatchedUdpSocket socket,
        NtpServerHandler handler,
        SnapshotHolder snapshot,
        IClock clock,
        int batchSize,
        LoopCounters counters,
        Action<UdpServerLoop, Exception> onFailure)
    {
        Index = index;
        _socket = socket;
        _handler = handler;
        _snapshot = snapshot;
        _clock = clock;
        _batchSize = batchSize;
        Counters = counters;
        _onFailure = onFailure;
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
            while (!_stopping)
            {
                int received = _socket.Receive(batch);
                if (received == 0)
                {
                    if (_socket.IsDisposed && !_stopping) throw new ObjectDisposedException(_thread.Name, "the socket was closed under a running loop");
                    continue;
                }
                long osNow = _clock.ReadOsUnixNs();
                ServerSnapshot snapshot = _snapshot.Current;
                int replies = 0;
                for (int i = 0; i < received; i++)
                {
                    long kernelReceive = batch.KernelTimestampUnixNanoseconds(i);
                    long receiveUnixNs = _clock.ServedFromOs(kernelReceive != 0 ? kernelReceive : osNow);
                    ServerVerdict verdict;
                    int replyLength = 0;
                    if (batch.IsTruncated(i))
                    {
                        verdict = ServerVerdict.DroppedMalformed;
                    }
                    else
                    {
                        PeerAddress source = batch.Source(i);
                        verdict = _handler.Handle(
                            batch.Received(i),
                            new IpAddress128(source.High, source.Low),
                            receiveUnixNs,
                            snapshot,
                            batch.Outgoing(i),
                            out replyLength);
                    }
                    verdicts[i] = verdict;
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
                int sent = _socket.Send(batch, received);
                if (sent < replies) Counters.SendFailures += replies - sent;
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
}
