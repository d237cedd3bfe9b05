using TimeMesh.Node.Sync;

namespace TimeMesh.Node.Tests;

/// <summary>The long-lived threads that run client exchanges: reused from poll to poll, grown for exchanges at once.</summary>
public class ExchangeThreadsTests
{
    [Fact]
    public void SequentialExchangesReuseTheSameLongLivedThreads()
    {
        var threads = new HashSet<int>();
        for (int i = 0; i < 20; i++)
        {
            using var done = new ManualResetEventSlim();
            string? name = null;
            ExchangeThreads.Run(batch =>
            {
                Assert.True(batch.Capacity >= 1);
                lock (threads) threads.Add(Environment.CurrentManagedThreadId);
                name = Thread.CurrentThread.Name;
                done.Set();
            });
            Assert.True(done.Wait(TimeSpan.FromSeconds(10)), $"exchange {i} did not run");
            Assert.Equal("ntp-client", name);
        }
        // Other tests run exchanges in parallel, so more than one thread may take part, but never one per exchange:
        // every thread that ran one is a pooled thread, and the pool only grows with exchanges at once.
        Assert.True(threads.Count <= ExchangeThreads.Threads, $"{threads.Count} threads for 20 exchanges, {ExchangeThreads.Threads} in the pool");
        Assert.True(ExchangeThreads.Threads <= ExchangeThreads.MaxThreads);
    }

    [Fact]
    public void ExchangesAtOnceEachGetAThread()
    {
        const int AtOnce = 5;
        using var allIn = new CountdownEvent(AtOnce);
        using var release = new ManualResetEventSlim();
        for (int i = 0; i < AtOnce; i++)
        {
            ExchangeThreads.Run(_ =>
            {
                allIn.Signal();
                release.Wait(TimeSpan.FromSeconds(20));
            });
        }
        // All five block at the same time: none waits for another to finish.
        bool together = allIn.Wait(TimeSpan.FromSeconds(10));
        release.Set();
        Assert.True(together, $"{allIn.CurrentCount} of {AtOnce} exchanges did not start while the others blocked");
    }

    [Fact]
    public void AnExchangeThatThrowsDoesNotEndItsThread()
    {
        ExchangeThreads.Run(_ => throw new InvalidOperationException("escaped"));
        using var done = new ManualResetEventSlim();
        ExchangeThreads.Run(_ => done.Set());
        Assert.True(done.Wait(TimeSpan.FromSeconds(10)));
    }
}
