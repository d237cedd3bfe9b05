using System.Net;
using TimeMesh.Core.Access;
using TimeMesh.Core.RateLimit;

namespace TimeMesh.Core.Tests;

/// <summary>The rate limiter on virtual time: every "now" is a number the test chooses.</summary>
public class ClientLogTests
{
    private const long Second = 1_000_000_000;
    private static readonly IpAddress128 Client = IpAddress128.FromIPAddress(IPAddress.Parse("192.0.2.1"));

    [Fact]
    public void WithoutALimitEveryRequestIsAnsweredAndCounted()
    {
        var log = new ClientLog(524288, null, 1);
        for (int i = 0; i < 1000; i++) Assert.Equal(RateDecision.Answer, log.Hit(Client, i));
        var entry = Assert.Single(log.Snapshot());
        Assert.Equal(1000, entry.Hits);
        Assert.Equal(4096, log.Capacity);
    }

    [Fact]
    public void ABurstIsAnsweredThenOnlyTheLeakGetsThrough()
    {
        var log = new ClientLog(524288, new RateLimitSettings(3, 8, 2, false), 42);
        long now = 1000 * Second;
        for (int i = 0; i < 8; i++) Assert.Equal(RateDecision.Answer, log.Hit(Client, now));

        int leaked = 0, dropped = 0;
        for (int i = 0; i < 4000; i++)
        {
            switch (log.Hit(Client, now))
            {
                case RateDecision.AnswerLeaked: leaked++; break;
                case RateDecision.Drop: dropped++; break;
                default: Assert.Fail("an over-limit client was answered as if it had credit"); break;
            }
        }
        // leak 2: on average 1 in 4 over-limit requests is still answered.
        Assert.InRange(leaked / 4000.0, 0.22, 0.28);
        Assert.Equal(dropped, Assert.Single(log.Snapshot()).Drops);
    }

    [Fact]
    public void CreditRefillsAtOneRequestPerInterval()
    {
        var log = new ClientLog(524288, new RateLimitSettings(3, 8, 4, false), 7);
        long now = 0;
        for (int i = 0; i < 8; i++) log.Hit(Client, now);
        // A client that keeps to one request per 8 s is always answered.
        for (int i = 0; i < 100; i++)
        {
            now += 8 * Second;
            Assert.Equal(RateDecision.Answer, log.Hit(Client, now));
        }
        // One every 4 s is not.
        int notAnswered = 0;
        for (int i = 0; i < 100; i++)
        {
            now += 4 * Second;
            if (log.Hit(Client, now) is not RateDecision.Answer) notAnswered++;
        }
        Assert.InRange(notAnswered, 40, 55);
    }

    [Fact]
    public void KissOfDeathIsSentAtMostOncePerInterval()
    {
        var log = new ClientLog(524288, new RateLimitSettings(0, 1, 4, true), 3);
        long now = 5 * Second;
        Assert.Equal(RateDecision.Answer, log.Hit(Client, now));
        int kisses = 0;
        for (int i = 0; i < 1000; i++)
        {
            now += Second / 1000; // a flood: 1000 requests within one 1-s interval
            if (log.Hit(Client, now) == RateDecision.KissOfDeath) kisses++;
        }
        Assert.Equal(1, kisses);
    }

    [Fact]
    public void ClocksSteppingBackDoNotMintCredit()
    {
        var log = new ClientLog(524288, new RateLimitSettings(3, 1, 4, false), 9);
        Assert.Equal(RateDecision.Answer, log.Hit(Client, 100 * Second));
        Assert.NotEqual(RateDecision.Answer, log.Hit(Client, 50 * Second));
        Assert.NotEqual(RateDecision.Answer, log.Hit(Client, 100 * Second));
    }

    [Fact]
    public void TheTableIsBoundedAndEvictsTheLeastRecentlyHeard()
    {
        var log = new ClientLog(16 * ClientLog.RecordBytes, null, 5);
        Assert.Equal(16, log.Capacity);
        for (uint i = 0; i < 1000; i++) log.Hit(IpAddress128.FromIPv4(0x0A000000 + i), i);
        var live = log.Snapshot();
        Assert.Equal(16, live.Count);
        Assert.Equal(1000 - 16, log.Evictions);
        // Only the 16 most recent survive.
        Assert.All(live, e => Assert.True(e.LastHitNs >= 1000 - 16));
    }

    [Fact]
    public void IntervalsBelowOneSecondAreSupported()
    {
        Assert.Equal(1907, new RateLimitSettings(-19, 1, 1, false).IntervalNanoseconds);
        Assert.Equal(4096 * Second, new RateLimitSettings(12, 1, 1, false).IntervalNanoseconds);
    }

    [Fact]
    public void An_exempt_client_is_counted_but_never_limited()
    {
        var log = new ClientLog(ClientLog.RecordBytes * ClientLog.SlotsPerBucket, new RateLimitSettings(3, 2, 1, false), seed: 5);
        for (int i = 0; i < 100; i++) Assert.Equal(RateDecision.Answer, log.Hit(Client, 1_000_000_000L, exempt: true));
        var entry = Assert.Single(log.Snapshot());
        Assert.Equal(100, entry.Hits);
        Assert.Equal(0, entry.Drops);
        // The same flood, not exempt, is limited.
        int dropped = 0;
        for (int i = 0; i < 100; i++) if (log.Hit(Client, 1_000_000_000L) == RateDecision.Drop) dropped++;
        Assert.True(dropped > 20, $"{dropped} dropped");
    }
}
