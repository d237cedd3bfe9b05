using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

public class NtpSourcePollerTests
{
    private const long Second = 1_000_000_000;
    private const long Ms = 1_000_000;
    private const long T0 = 1_800_000_000L * Second + 123_456_789;
    private static readonly uint Gps = ReferenceIds.FromAscii("GPS");

    private sealed class Rig
    {
        private ulong _next = 0x0123_4567_89AB_CDEE;
        public readonly List<ulong> Randoms = new();
        public readonly byte[] Request = new byte[48];
        public NtpSourcePoller Poller { get; }

        public Rig(SourceSettings? settings = null)
        {
            Poller = new NtpSourcePoller(7, settings ?? new SourceSettings { Address = "192.0.2.1" }, T0, () =>
            {
                _next = _next * 6364136223846793005 + 1442695040888963407;
                Randoms.Add(_next);
                return _next;
            });
        }

        /// <summary>Polls at <paramref name="now"/> (asserting that a poll is due) and returns the request's cookie.</summary>
        public ulong Poll(long now)
        {
            Assert.True(Poller.TryPoll(now, Request), $"no poll due at +{(now - T0) / (double)Second} s");
            return NtpSourcePoller.ReadCookie(Request);
        }

        /// <summary>One exchange: the server is <paramref name="offset"/> ahead, the path symmetric with <paramref name="delay"/> round trip.</summary>
        public ReplyOutcome Exchange(long now, double offset = 0.0, long delay = 10 * Ms)
        {
            ulong cookie = Poll(now);
            long t2 = now + delay / 2 + (long)(offset * 1e9);
            return Poller.HandleReply(Reply(cookie, t2, t2), now + delay, -20, out _);
        }

        public ReplyOutcome Receive(byte[] reply, long received) => Poller.HandleReply(reply, received, -20, out _);
    }

    private static byte[] Reply(ulong origin, long t2, long t3, byte stratum = 1, LeapIndicator leap = LeapIndicator.NoWarning,
        uint referenceId = 0, sbyte poll = 6, NtpMode mode = NtpMode.Server, double rootDelay = 0, double rootDispersion = 0)
    {
        var bytes = new byte[48];
        new NtpHeader(leap, 4, mode, stratum, poll, -20, NtpShort.FromSeconds(rootDelay), NtpShort.FromSeconds(rootDispersion),
            referenceId == 0 ? Gps : referenceId, NtpTimestamp.FromUnixNanoseconds(t2 - 10 * Second), new NtpTimestamp(origin),
            NtpTimestamp.FromUnixNanoseconds(t2), NtpTimestamp.FromUnixNanoseconds(t3)).Write(bytes);
        return bytes;
    }

    private static byte[] Kiss(ulong origin, string code, sbyte poll = 6)
    {
        var bytes = new byte[48];
        var echo = new NtpTimestamp(origin);
        new NtpHeader(LeapIndicator.Unsynchronised, 4, NtpMode.Server, 0, poll, -20, NtpShort.Zero, NtpShort.Zero,
            ReferenceIds.FromAscii(code), echo, echo, echo, echo).Write(bytes);
        return bytes;
    }

    // ---- timing ----

    [Fact]
    public void PollSoonBringsTheNextPollForwardButNeverWithinASecondOfTheLastRequest()
    {
        var rig = new Rig(new SourceSettings { Address = "192.0.2.1", MinPollLog2 = 2, MaxPollLog2 = 2 });
        rig.Exchange(T0);
        Assert.Equal(T0 + 4 * Second, rig.Poller.NextPollNs);

        // News 300 ms after the request: the reply may still be on its way, so not before 1 s after it.
        rig.Poller.PollSoon(T0 + 300 * Ms);
        Assert.Equal(T0 + NtpSourcePoller.PollSoonSpacingNs, rig.Poller.NextPollNs);
        Assert.False(rig.Poller.TryPoll(T0 + 900 * Ms, rig.Request));
        Assert.Equal(ReplyOutcome.Sample, rig.Exchange(T0 + Second));
        Assert.Equal(0, rig.Poller.ConsecutiveMisses);

        // News 2.5 s after the last request: at once; the interval itself is unchanged.
        rig.Poller.PollSoon(T0 + 3500 * Ms);
        Assert.Equal(T0 + 3500 * Ms, rig.Poller.NextPollNs);
        Assert.Equal(2, rig.Poller.PollLog2);
        rig.Exchange(T0 + 3500 * Ms);
        Assert.Equal(T0 + 7500 * Ms, rig.Poller.NextPollNs);

        // Never later than it was due anyway.
        rig.Poller.PollSoon(T0 + 20 * Second);
        Assert.Equal(T0 + 7500 * Ms, rig.Poller.NextPollNs);
    }

    [Fact]
    public void ASourceIsOverdueOnlyWhileARequestHasGoneUnansweredForLongerThanTheGrace()
    {
        var rig = new Rig(new SourceSettings { Address = "192.0.2.1", MinPollLog2 = 2, MaxPollLog2 = 2 });
        Assert.False(rig.Poller.IsOverdue(T0, Second));
        rig.Exchange(T0);
        Assert.False(rig.Poller.IsOverdue(T0 + 3 * Second, Second)); // answered: nothing is out
        rig.Poll(T0 + 4 * Second);                                     // the source has died: no reply
        Assert.False(rig.Poller.IsOverdue(T0 + 4500 * Ms, Second));
        Assert.True(rig.Poller.IsOverdue(T0 + 5100 * Ms, Second));
        Assert.True(rig.Poller.IsReachable);                           // still reachable by chrony's register
    }

    [Fact]
    public void PollSoonLeavesADemobilisedSourceAlone()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        rig.Receive(Kiss(cookie, "DENY"), T0 + 10 * Ms);
        Assert.True(rig.Poller.Demobilised);
        long next = rig.Poller.NextPollNs;
        rig.Poller.PollSoon(T0 + 5 * Second);
        Assert.Equal(next, rig.Poller.NextPollNs);
        Assert.False(rig.Poller.TryPoll(T0 + 5 * Second, rig.Request));
    }

    [Fact]
    public void TheFirstPollIsDueAtStart()
    {
        var rig = new Rig();
        Assert.Equal(T0, rig.Poller.NextPollNs);
        Assert.False(rig.Poller.TryPoll(T0 - 1, rig.Request));
        Assert.True(rig.Poller.TryPoll(T0, rig.Request));
        Assert.False(rig.Poller.TryPoll(T0, rig.Request));
        Assert.Equal(1, rig.Poller.RequestsSent);
    }

    [Fact]
    public void WithoutIBurstPollsComeEveryMinPollInterval()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 6 });
        Assert.Equal(ReplyOutcome.Sample, rig.Exchange(T0));
        Assert.Equal(T0 + 64 * Second, rig.Poller.NextPollNs);
        Assert.False(rig.Poller.TryPoll(T0 + 64 * Second - 1, rig.Request));
        Assert.Equal(ReplyOutcome.Sample, rig.Exchange(T0 + 64 * Second));
        Assert.Equal(T0 + 128 * Second, rig.Poller.NextPollNs);
    }

    [Fact]
    public void IBurstSendsFourRequestsTwoSecondsApartThenThePollInterval()
    {
        var rig = new Rig(new SourceSettings { Address = "a", IBurst = true, MinPollLog2 = 6 });
        var times = new List<long>();
        for (long now = T0; now <= T0 + 200 * Second; now += 100 * Ms)
        {
            if (!rig.Poller.TryPoll(now, rig.Request)) continue;
            times.Add(now - T0);
            var cookie = NtpSourcePoller.ReadCookie(rig.Request);
            rig.Receive(Reply(cookie, now + 5 * Ms, now + 5 * Ms), now + 10 * Ms);
        }

        Assert.Equal(new[] { 0, 2, 4, 6, 70, 134, 198 }.Select(s => s * Second), times);
    }

    [Fact]
    public void IBurstSpacingShrinksToAShorterPollInterval()
    {
        var rig = new Rig(new SourceSettings { Address = "a", IBurst = true, MinPollLog2 = -1, MaxPollLog2 = 4 });
        var times = new List<long>();
        for (long now = T0; now <= T0 + 3 * Second; now += 50 * Ms)
        {
            if (!rig.Poller.TryPoll(now, rig.Request)) continue;
            times.Add(now - T0);
            var cookie = NtpSourcePoller.ReadCookie(rig.Request);
            rig.Receive(Reply(cookie, now + Ms, now + Ms), now + 2 * Ms);
        }

        // Half a second apart: the burst, then the interval itself.
        Assert.Equal(Enumerable.Range(0, 7).Select(i => i * 500 * Ms), times);
    }

    // ---- the request and the anti-spoofing check ----

    [Fact]
    public void TheRequestIsAVersion4ClientPacketCarryingARandomCookie()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 5 });
        ulong first = rig.Poll(T0);
        var h = NtpHeader.Read(rig.Request);

        Assert.Equal(48, NtpHeader.Length);
        Assert.Equal(0xE3, rig.Request[0]); // leap 3, version 4, mode 3
        Assert.Equal((NtpMode.Client, (byte)4), (h.Mode, h.Version));
        Assert.Equal(5, h.PollLog2);
        Assert.Equal(0, h.Stratum);
        Assert.True(h.OriginTime.IsZero && h.ReceiveTime.IsZero && h.ReferenceTime.IsZero);
        // The transmit field is the cookie (from the random source, odd so never zero), not our time.
        Assert.Equal(rig.Randoms[^1] | 1, first);
        Assert.Equal(first, h.TransmitTime.Value);
        Assert.NotEqual(NtpTimestamp.FromUnixNanoseconds(T0).Seconds, h.TransmitTime.Seconds);

        ulong second = rig.Poll(T0 + 32 * Second);
        Assert.NotEqual(first, second);
        Assert.Equal(rig.Randoms[^1] | 1, second);
    }

    [Fact]
    public void AReplyWhoseOriginIsNotTheCookieIsBogus()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);

        var spoof = Reply(cookie ^ 0x100, T0 + 5 * Ms, T0 + 5 * Ms);
        Assert.Equal(ReplyOutcome.Bogus, rig.Receive(spoof, T0 + 10 * Ms));
        Assert.Equal(1, rig.Poller.BogusReplies);
        Assert.Equal(0, rig.Poller.Reach);
        Assert.Null(rig.Poller.LastSample);

        // The genuine reply is still accepted after the spoof.
        Assert.Equal(ReplyOutcome.Sample, rig.Receive(Reply(cookie, T0 + 5 * Ms, T0 + 5 * Ms), T0 + 11 * Ms));
        Assert.Equal(1, rig.Poller.Reach);
    }

    [Fact]
    public void ADuplicateReplyIsBogus()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        var reply = Reply(cookie, T0 + 5 * Ms, T0 + 5 * Ms);

        Assert.Equal(ReplyOutcome.Sample, rig.Receive(reply, T0 + 10 * Ms));
        Assert.Equal(ReplyOutcome.Bogus, rig.Receive(reply, T0 + 12 * Ms));
        Assert.Equal((1L, 1L), (rig.Poller.RepliesReceived, rig.Poller.BogusReplies));
        Assert.Equal(T0 + 10 * Ms, rig.Poller.LastReplyNs);
    }

    [Fact]
    public void ALateReplyToThePreviousRequestIsBogus()
    {
        var rig = new Rig();
        ulong old = rig.Poll(T0);
        ulong current = rig.Poll(T0 + 64 * Second);
        Assert.NotEqual(old, current);

        Assert.Equal(ReplyOutcome.Bogus, rig.Receive(Reply(old, T0 + 5 * Ms, T0 + 5 * Ms), T0 + 64 * Second + 5 * Ms));
        Assert.Equal(ReplyOutcome.Sample, rig.Receive(Reply(current, T0 + 64 * Second + 5 * Ms, T0 + 64 * Second + 5 * Ms), T0 + 64 * Second + 10 * Ms));
    }

    [Fact]
    public void AReplyWithNoRequestInFlightIsBogusEvenWithAZeroOrigin()
    {
        var rig = new Rig();
        Assert.Equal(ReplyOutcome.Bogus, rig.Receive(Reply(0, T0, T0), T0));
        rig.Poll(T0);
        Assert.Equal(ReplyOutcome.Bogus, rig.Receive(Reply(0, T0, T0), T0 + Ms));
    }

    [Fact]
    public void NonServerOrShortPacketsAreMalformed()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        Assert.Equal(ReplyOutcome.Malformed, rig.Receive(Reply(cookie, T0, T0, mode: NtpMode.Client), T0 + Ms));
        Assert.Equal(ReplyOutcome.Malformed, rig.Receive(Reply(cookie, T0, T0)[..40], T0 + Ms));
        Assert.Equal(0, rig.Poller.Reach);
    }

    // ---- the sample ----

    [Fact]
    public void OffsetAndDelayFollowRfc5905()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        long t1 = T0 + 3 * Ms;
        rig.Poller.RequestSent(t1); // the time it actually left, not when the poll fell due, is T1
        // Server 250 ms ahead; 7 ms out, 13 ms back; 2 ms in the server.
        long t2 = t1 + 7 * Ms + 250 * Ms;
        long t3 = t2 + 2 * Ms;
        long t4 = t3 - 250 * Ms + 13 * Ms;
        var outcome = rig.Poller.HandleReply(Reply(cookie, t2, t3, stratum: 2, rootDelay: 0.004, rootDispersion: 0.002), t4, -20, out var s);

        Assert.Equal(ReplyOutcome.Sample, outcome);
        // θ = ((T2 − T1) + (T3 − T4)) / 2 = (257 + 237) / 2 ms (the path's asymmetry costs 3 ms);
        // δ = (T4 − T1) − (T3 − T2) = 22 − 2 ms.
        Assert.Equal(0.247, s.OffsetSeconds, 8);
        Assert.Equal(0.020, s.DelaySeconds, 8);
        Assert.Equal(t1 + (t4 - t1) / 2, s.LocalTimeNs);
        Assert.Equal(2, s.Stratum);
        Assert.Equal(Gps, s.ReferenceId);
        Assert.Equal(0.004, s.RootDelaySeconds, 4);
        Assert.Equal(0.002, s.RootDispersionSeconds, 4);
        // Dispersion: both precisions (2^-20 each) plus PHI over the delay.
        Assert.Equal(2 * Math.Pow(2, -20) + NtpSourcePoller.Phi * 0.020, s.DispersionSeconds, 12);
        Assert.Equal(s, rig.Poller.LastSample);
    }

    [Fact]
    public void DelayIsNeverBelowThePrecision()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        // Server says it took longer than the round trip: a negative delay.
        rig.Poller.HandleReply(Reply(cookie, T0 + 1 * Ms, T0 + 3 * Ms), T0 + 1 * Ms, -20, out var s);
        Assert.Equal(2 * Math.Pow(2, -20), s.DelaySeconds, 12);
    }

    // ---- reachability ----

    [Fact]
    public void TheReachRegisterShiftsEachPollAndSetsBitZeroOnAGoodReply()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 4 });
        long now = T0;
        void Answered() { Assert.Equal(ReplyOutcome.Sample, rig.Exchange(now)); now += 16 * Second; }
        void Unanswered() { rig.Poll(now); now += 16 * Second; }

        Answered();
        Assert.Equal(0b1, rig.Poller.Reach);
        Answered();
        Assert.Equal(0b11, rig.Poller.Reach);
        Unanswered();
        Assert.Equal(0b110, rig.Poller.Reach);
        Answered();
        Assert.Equal(0b1101, rig.Poller.Reach);
        for (int i = 0; i < 4; i++) Answered();
        Assert.Equal(0b1101_1111, rig.Poller.Reach);
        Answered();
        Assert.Equal(0b1011_1111, rig.Poller.Reach); // eight bits: the oldest falls off
    }

    [Fact]
    public void EightGoodPollsFillTheRegister()
    {
        var rig = new Rig(new SourceSettings { Address = "a", IBurst = true });
        long now = T0;
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(ReplyOutcome.Sample, rig.Exchange(now));
            now = rig.Poller.NextPollNs;
        }
        Assert.Equal(0xFF, rig.Poller.Reach);
        Assert.True(rig.Poller.IsReachable);
    }

    [Fact]
    public void UnreachableAfterMaxUnreachUnansweredPolls()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 6, MaxUnreach = 4 });
        long now = T0;
        rig.Exchange(now);
        Assert.True(rig.Poller.IsReachable);
        var reachable = new List<bool>();
        var misses = new List<int>();
        for (int i = 0; i < 6; i++)
        {
            now += 64 * Second;
            rig.Poll(now); // never answered
            reachable.Add(rig.Poller.IsReachable);
            misses.Add(rig.Poller.ConsecutiveMisses);
        }

        // A miss is known when the next poll goes out; at the 4th known miss the source is unreachable,
        // although the register still holds the good reply.
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5 }, misses);
        Assert.Equal(new[] { true, true, true, true, false, false }, reachable);
        Assert.NotEqual(0, rig.Poller.Reach);

        // One good reply makes it reachable again.
        now += 64 * Second;
        Assert.Equal(ReplyOutcome.Sample, rig.Exchange(now));
        Assert.True(rig.Poller.IsReachable);
        Assert.Equal(0, rig.Poller.ConsecutiveMisses);
    }

    [Fact]
    public void RepeatedMissesHalveThePollTowardMinPoll()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 6, MaxPollLog2 = 10 });
        long now = T0;
        rig.Exchange(now);
        for (int i = 0; i < 8; i++) rig.Poller.AdjustPoll(samplesInFit: 16, pollTarget: 8);
        Assert.Equal(8, rig.Poller.PollLog2);

        var polls = new List<int>();
        for (int i = 0; i < 5; i++)
        {
            now = rig.Poller.NextPollNs;
            rig.Poll(now);
            polls.Add(rig.Poller.PollLog2);
        }

        // The first miss is forgiven; then each miss halves the interval, down to minpoll.
        Assert.Equal(new[] { 8, 8, 7, 6, 6 }, polls);
        Assert.Equal(now + 64 * Second, rig.Poller.NextPollNs);
    }

    // ---- kiss-o'-death and unsynchronised servers ----

    [Fact]
    public void KissRateRaisesThePollAndDefersTheNextPoll()
    {
        var rig = new Rig(new SourceSettings { Address = "a", IBurst = true, MinPollLog2 = 6, MaxPollLog2 = 10 });
        ulong cookie = rig.Poll(T0);
        long received = T0 + 10 * Ms;

        // The server asks for 2^9 s between requests.
        Assert.Equal(ReplyOutcome.KissRate, rig.Receive(Kiss(cookie, "RATE", poll: 9), received));

        Assert.Equal(9, rig.Poller.PollLog2);
        Assert.Equal(1, rig.Poller.KissesReceived);
        Assert.Equal(0, rig.Poller.Reach);
        // The iburst is over and the next poll is not before the back-off.
        Assert.Equal(received + 512 * Second, rig.Poller.NextPollNs);
        Assert.False(rig.Poller.TryPoll(T0 + 2 * Second, rig.Request));
        Assert.False(rig.Poller.TryPoll(received + 512 * Second - 1, rig.Request));
        Assert.True(rig.Poller.TryPoll(received + 512 * Second, rig.Request));
    }

    [Fact]
    public void KissRateRaisesThePollByOneAtLeastAndMinPollWithIt()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 6, MaxPollLog2 = 10 });
        ulong cookie = rig.Poll(T0);
        Assert.Equal(ReplyOutcome.KissRate, rig.Receive(Kiss(cookie, "RATE", poll: 0), T0 + 10 * Ms));
        Assert.Equal(7, rig.Poller.PollLog2);

        // Misses and short fits can no longer take it back under what the server asked for.
        long now = rig.Poller.NextPollNs;
        for (int i = 0; i < 4; i++) { rig.Poll(now); now = rig.Poller.NextPollNs; }
        rig.Poller.AdjustPoll(0, 8);
        Assert.Equal(7, rig.Poller.PollLog2);

        // And it never goes past maxpoll.
        cookie = rig.Poll(now);
        rig.Receive(Kiss(cookie, "RATE", poll: 17), now + 10 * Ms);
        Assert.Equal(10, rig.Poller.PollLog2);
    }

    [Theory]
    [InlineData("DENY")]
    [InlineData("RSTR")]
    public void DenyAndRestrictDemobiliseTheSource(string code)
    {
        var rig = new Rig(new SourceSettings { Address = "a", IBurst = true });
        Assert.Equal(ReplyOutcome.Sample, rig.Exchange(T0));
        ulong cookie = rig.Poll(T0 + 2 * Second);

        Assert.Equal(ReplyOutcome.KissDeny, rig.Receive(Kiss(cookie, code), T0 + 2 * Second + 10 * Ms));

        Assert.True(rig.Poller.Demobilised);
        Assert.False(rig.Poller.IsReachable);
        Assert.Equal(0, rig.Poller.Reach);
        for (long t = T0 + 3 * Second; t < T0 + 100_000 * Second; t += 1000 * Second)
            Assert.False(rig.Poller.TryPoll(t, rig.Request));
        Assert.Equal(2, rig.Poller.RequestsSent);
    }

    [Fact]
    public void ASpoofedKissIsIgnored()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        Assert.Equal(ReplyOutcome.Bogus, rig.Receive(Kiss(cookie + 2, "DENY"), T0 + Ms));
        Assert.False(rig.Poller.Demobilised);
        Assert.Equal(0, rig.Poller.KissesReceived);
    }

    [Fact]
    public void AnUnknownKissCodeNeitherDemobilisesNorCountsAsReach()
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        Assert.Equal(ReplyOutcome.KissOther, rig.Receive(Kiss(cookie, "INIT"), T0 + Ms));
        Assert.False(rig.Poller.Demobilised);
        Assert.Equal(0, rig.Poller.Reach);
        Assert.Equal(T0 + 64 * Second, rig.Poller.NextPollNs);
    }

    [Theory]
    [InlineData(LeapIndicator.Unsynchronised, 1)]
    [InlineData(LeapIndicator.NoWarning, 16)]
    public void UnsynchronisedRepliesDoNotSetReach(LeapIndicator leap, byte stratum)
    {
        var rig = new Rig();
        ulong cookie = rig.Poll(T0);
        var outcome = rig.Receive(Reply(cookie, T0 + 5 * Ms, T0 + 5 * Ms, stratum: stratum, leap: leap), T0 + 10 * Ms);

        Assert.Equal(ReplyOutcome.Unsynchronised, outcome);
        Assert.Equal(0, rig.Poller.Reach);
        Assert.False(rig.Poller.IsReachable);
        Assert.Null(rig.Poller.LastSample);
    }

    // ---- poll adaptation ----

    [Fact]
    public void AdjustPollLengthensOnlyAfterEnoughSamplesAtTheCurrentInterval()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 6, MaxPollLog2 = 8 });
        rig.Exchange(T0);

        // Enough samples in the fit, but it takes polltarget/2 samples at each interval; maxpoll caps it.
        var polls = new List<int>();
        for (int i = 0; i < 12; i++)
        {
            rig.Poller.AdjustPoll(samplesInFit: 20, pollTarget: 8);
            polls.Add(rig.Poller.PollLog2);
        }
        Assert.Equal(new[] { 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 8 }, polls);
    }

    [Fact]
    public void AdjustPollNeverLengthensWhileTheFitHoldsFewerThanPollTarget()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 6, MaxPollLog2 = 8 });
        rig.Exchange(T0);
        for (int i = 0; i < 10; i++) rig.Poller.AdjustPoll(samplesInFit: 7, pollTarget: 8);
        Assert.Equal(6, rig.Poller.PollLog2);

        // Those ten samples were at this interval: once the fit is long enough, it lengthens at once.
        rig.Poller.AdjustPoll(samplesInFit: 8, pollTarget: 8);
        Assert.Equal(7, rig.Poller.PollLog2);
    }

    [Fact]
    public void AdjustPollShortensAtOnceWhenTheFitIsShort()
    {
        var rig = new Rig(new SourceSettings { Address = "a", MinPollLog2 = 4, MaxPollLog2 = 10 });
        rig.Exchange(T0);
        for (int i = 0; i < 8; i++) rig.Poller.AdjustPoll(16, 8);
        Assert.Equal(6, rig.Poller.PollLog2);

        rig.Poller.AdjustPoll(samplesInFit: 3, pollTarget: 8);
        Assert.Equal(5, rig.Poller.PollLog2);
        rig.Poller.AdjustPoll(samplesInFit: 3, pollTarget: 8);
        Assert.Equal(4, rig.Poller.PollLog2);
        rig.Poller.AdjustPoll(samplesInFit: 3, pollTarget: 8);
        Assert.Equal(4, rig.Poller.PollLog2); // minpoll
    }

    [Fact]
    public void AdjustPollDoesNothingDuringABurst()
    {
        var rig = new Rig(new SourceSettings { Address = "a", IBurst = true, MinPollLog2 = 6 });
        rig.Exchange(T0);
        for (int i = 0; i < 8; i++) rig.Poller.AdjustPoll(64, 8);
        Assert.Equal(6, rig.Poller.PollLog2);
    }
}
