using System.Net;
using TimeMesh.Core.Access;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

/// <summary>
/// The client side of the interleaved mode (chrony's <c>server ... xleave</c>) against the real server handler: the
/// server's transmit field in basic mode is read before its reply leaves, so basic samples carry half that gap as an
/// offset error; interleaved samples take the true transmit time and carry none.
/// </summary>
public class InterleavedClientTests
{
    private const long Second = 1_000_000_000;
    private const long Us = 1_000;
    private const long T0 = 1_800_000_000L * Second + 123_456_789;
    private const long ServerAheadNs = 250 * Us;          // true offset of the server's clock
    private const long OneWayNs = 40 * Us;                // symmetric path
    private const long StampBeforeLeavingNs = 30 * Us;    // user-space transmit stamp is this much before the datagram leaves

    private static readonly IpAddress128 Client = IpAddress128.FromIPAddress(IPAddress.Parse("192.0.2.7"));

    private static readonly ServerSnapshot Snapshot = new()
    {
        Reference = ReferenceState.Local(1),
        Access = AccessList.FromSpecs(["192.0.2.0/24"], []),
        PrecisionLog2 = -24,
    };

    private sealed class World
    {
        public readonly NtpServerHandler Server;
        public readonly NtpSourcePoller Poller;

        public World(bool serverInterleaves, bool clientXleave)
        {
            ulong random = 0x0123_4567_89AB_CDEF;
            Server = new NtpServerHandler(new ClientLog(524288, null, 1))
            {
                Interleaving = serverInterleaves ? new InterleavedTimestamps(64) : null,
            };
            Poller = new NtpSourcePoller(1, new SourceSettings { Address = "192.0.2.1", MinPollLog2 = 0, MaxPollLog2 = 0, Xleave = clientXleave },
                T0, () => random = random * 6364136223846793005 + 1442695040888963407);
        }

        public byte[] LastRequest = [];

        /// <summary>One poll at client time <paramref name="now"/>; returns the outcome and the sample.</summary>
        public (ReplyOutcome Outcome, NtpSample Sample) Exchange(long now)
        {
            var request = new byte[48];
            Assert.True(Poller.TryPoll(now, request));
            LastRequest = request;
            Poller.RequestSent(now);
            long serverReceive = now + OneWayNs + ServerAheadNs;
            var reply = new byte[48];
            var verdict = Server.Handle(request, Client, serverReceive, Snapshot, reply, out int length, out long exchange);
            Assert.True(length > 0, verdict.ToString());
            long userStamp = serverReceive + 5 * Us;
            long leaves = userStamp + StampBeforeLeavingNs;
            Server.FinishReply(verdict, reply, length, userStamp);
            // The driver's part: the kernel reports when the reply left.
            if (exchange >= 0) Server.Interleaving!.SetTransmit(exchange, NtpTimestamp.FromUnixNanoseconds(leaves).Value);
            long clientReceive = leaves - ServerAheadNs + OneWayNs;
            var outcome = Poller.HandleReply(reply, clientReceive, -24, out var sample);
            return (outcome, sample);
        }
    }

    [Fact]
    public void AnXleaveClientMeasuresWithTheTrueTransmitTimeOnceTheServerInterleaves()
    {
        var world = new World(serverInterleaves: true, clientXleave: true);
        var (first, basic) = world.Exchange(T0);
        Assert.Equal(ReplyOutcome.Sample, first);
        Assert.False(world.Poller.LastSampleInterleaved);
        // Basic: T3 is 30 µs early, so the offset is 15 µs low and the delay 30 µs long.
        Assert.Equal((ServerAheadNs - StampBeforeLeavingNs / 2) * 1e-9, basic.OffsetSeconds, 3e-9);

        // The first interleaved request names exchange 1 (already measured from its basic reply): no second sample of it.
        var (second, _) = world.Exchange(T0 + Second);
        var request = NtpHeader.Read(world.LastRequest);
        Assert.NotEqual(NtpTimestamp.Zero, request.OriginTime);
        Assert.NotEqual(request.TransmitTime, request.ReceiveTime);
        Assert.Equal(ReplyOutcome.AlreadySampled, second);

        for (int i = 2; i < 6; i++)
        {
            var (outcome, sample) = world.Exchange(T0 + i * Second);
            Assert.Equal(ReplyOutcome.Sample, outcome);
            Assert.True(world.Poller.LastSampleInterleaved);
            Assert.Equal(ServerAheadNs * 1e-9, sample.OffsetSeconds, 3e-9);
            Assert.Equal(2 * OneWayNs * 1e-9, sample.DelaySeconds, 3e-9);
            // The sample is of the previous exchange: its midpoint is a poll earlier.
            Assert.Equal(T0 + (i - 1) * Second + (OneWayNs * 2 + 5 * Us + StampBeforeLeavingNs) / 2, sample.LocalTimeNs, 10.0);
        }
        Assert.Equal(4, world.Poller.InterleavedSamples);
        Assert.Equal(0, world.Poller.BogusReplies);
    }

    [Fact]
    public void AnXleaveClientOfABasicServerKeepsMeasuringInBasicMode()
    {
        var world = new World(serverInterleaves: false, clientXleave: true);
        for (int i = 0; i < 4; i++)
        {
            var (outcome, sample) = world.Exchange(T0 + i * Second);
            Assert.Equal(ReplyOutcome.Sample, outcome);
            Assert.False(world.Poller.LastSampleInterleaved);
            Assert.Equal((ServerAheadNs - StampBeforeLeavingNs / 2) * 1e-9, sample.OffsetSeconds, 3e-9);
        }
        Assert.Equal(0, world.Poller.InterleavedSamples);
    }

    [Fact]
    public void AClientWithoutXleaveSendsBasicRequestsAndGetsBasicReplies()
    {
        var world = new World(serverInterleaves: true, clientXleave: false);
        for (int i = 0; i < 3; i++)
        {
            var (outcome, _) = world.Exchange(T0 + i * Second);
            Assert.Equal(ReplyOutcome.Sample, outcome);
            var request = NtpHeader.Read(world.LastRequest);
            Assert.Equal(NtpTimestamp.Zero, request.OriginTime);
            Assert.Equal(NtpTimestamp.Zero, request.ReceiveTime);
        }
        Assert.Equal(0, world.Poller.InterleavedSamples);
    }

    [Fact]
    public void AReplyEchoingNeitherCookieIsBogusAndAClockStepFallsBackToBasic()
    {
        var world = new World(serverInterleaves: true, clientXleave: true);
        world.Exchange(T0);
        var request = new byte[48];
        Assert.True(world.Poller.TryPoll(T0 + Second, request));
        var sent = NtpHeader.Read(request);
        var forged = new byte[48];
        new NtpHeader(LeapIndicator.NoWarning, 4, NtpMode.Server, 1, 0, -20, NtpShort.Zero, NtpShort.Zero, 0, NtpTimestamp.Zero,
            new NtpTimestamp(sent.ReceiveTime.Value ^ 4), NtpTimestamp.FromUnixNanoseconds(T0 + Second), NtpTimestamp.FromUnixNanoseconds(T0 + Second)).Write(forged);
        Assert.Equal(ReplyOutcome.Bogus, world.Poller.HandleReply(forged, T0 + Second + 100 * Us, -24, out _));

        // After a step of the raw clock the previous exchange's T1 and T4 mean nothing: the next request is basic again.
        world.Poller.RawClockStepped(5 * Second);
        Assert.True(world.Poller.TryPoll(T0 + 10 * Second, request));
        Assert.Equal(NtpTimestamp.Zero, NtpHeader.Read(request).OriginTime);
    }
}
