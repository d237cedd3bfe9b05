using TimeMesh.Net;

namespace TimeMesh.Node.Sync;

/// <summary>
/// Long-lived threads for client exchanges, which block in recvmmsg for up to a poll's wait. A poll used to
/// start a thread of its own (a clone, an 8 MB stack mapping and its teardown every poll; at poll 0 that was
/// most of the per-poll cost, docs/benchmark.md "Footprint"); here a thread that finished an exchange waits,
/// without a timeout, for the next one. There are as many threads as exchanges ever ran at once (one per source
/// at the same poll), up to <see cref="MaxThreads"/>; beyond that an exchange gets a thread of its own, as before.
/// Each thread keeps one datagram batch for all its exchanges.
/// </summary>
internal static class ExchangeThreads
{
    /// <summary>Beyond this many exchanges at once (a large pool polled in a burst), extra ones run on threads of their own.</summary>
    public const int MaxThreads = 32;

    private static readonly Queue<Action<DatagramBatch>> Work = new();
    private static readonly object Gate = new();
    private static int _threads;
    private static int _idle;

    /// <summary>Threads started so far (they never end).</summary>
    public static int Threads => Volatile.Read(ref _threads);

    /// <summary>Runs <paramref name="exchange"/> on an idle exchange thread, or a new one.</summary>
    public static void Run(Action<DatagramBatch> exchange)
    {
        bool start = false, own = false;
        lock (Gate)
        {
            if (_idle > Work.Count)
            {
                Work.Enqueue(exchange);
                Monitor.Pulse(Gate);
            }
            else if (_threads < MaxThreads)
            {
                Work.Enqueue(exchange);
                _threads++;
                start = true;
            }
            else
            {
                own = true;
            }
        }
        if (start)
            new Thread(Loop) { IsBackground = true, Name = "ntp-client" }.Start();
        else if (own)
            new Thread(() => { using var batch = NewBatch(); exchange(batch); }) { IsBackground = true, Name = "ntp-client-extra" }.Start();
    }

    private static DatagramBatch NewBatch() => new(4, 2048);

    private static void Loop()
    {
        using var batch = NewBatch();
        while (true)
        {
            Action<DatagramBatch> next;
            lock (Gate)
            {
                _idle++;
                while (Work.Count == 0) Monitor.Wait(Gate);
                _idle--;
                next = Work.Dequeue();
            }
            try
            {
                next(batch);
            }
            catch (Exception)
            {
                // An exchange reports its own failures; one that escapes must not end the thread.
            }
        }
    }
}
