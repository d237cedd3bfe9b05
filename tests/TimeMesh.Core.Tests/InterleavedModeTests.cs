using System.Net;
using System.Text;
using TimeMesh.Core.Access;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;

namespace TimeMesh.Core.Tests;

/// <summary>The server side of the interleaved client/server mode (RFC 9769, chrony's xleave).</summary>
public class InterleavedModeTests
{
    private const long Second = 1_000_000_000;
    private const long Now = 1_795_490_474L * Second + 379_219_187;
    private static readonly IpAddress128 Loopback = IpAddress128.FromIPAddress(IPAddress.Loopback);

    private static readonly ServerSnapshot LocalSnapshot = new()
    {
        Reference = ReferenceState.Local(10),
        Access = AccessList.FromSpecs(["127.0.0.0/8"], []),
        PrecisionLog2 = -24,
    };

    private static NtpServerHandler Handler(int exchanges = 64, KeyRing? keys = null) =>
        new(new ClientLog(524288, null, 1)) { Interleaving = new InterleavedTimestamps(exchanges), Keys = keys ?? KeyRing.Empty };

    private static byte[] Request(NtpTimestamp origin, NtpTimestamp receive, NtpTimestamp transmit)
    {
        var bytes = new byte[48];
        new NtpHeader(0, 4, NtpMode.Client, 0, 0, 0x20, NtpShort.Zero, NtpShort.Zero, 0,
            NtpTimestamp.Zero, origin, receive, transmit).Write(bytes);
        return bytes;
    }

    /// <summary>What chronyd sends in basic mode: origin and receive zero, a random transmit.</summary>
    private static byte[] BasicRequest(ulong cookie = 0x676dc43d1546ea7c) => Request(NtpTimestamp.Zero, NtpTimestamp.Zero, new NtpTimestamp(cookie));

    private record struct Answer(ServerVerdict Verdict, NtpHeader Reply, long Exchange, byte[] Bytes);

    private static Answer Ask(NtpServerHandler handler, byte[] request, long receiveUnixNs, long userTransmitUnixNs)
    {
        var reply = new byte[128];
        var verdict = handler.Handle(request, Loopback, receiveUnixNs, LocalSnapshot, reply, out int length, out long exchange);
        handler.FinishReply(verdict, reply, length, userTransmitUnixNs);
        return new Answer(verdict, NtpHeader.Read(reply), exchange, reply[..length]);
    }

    [Fact]
    public void AClientThatGivesTheServersReceiveTimestampBackGetsThePreviousRepliesRealTransmitTime()
    {
        var handler = Handler();
        // Exchange 1, basic: the reply's transmit field is the user-space stamp; the kernel reports later when it left.
        var first = Ask(handler, BasicRequest(), Now, Now + 30_000);
        Assert.Equal(ServerVerdict.Respond, first.Verdict);
        Assert.True(first.Exchange >= 0);
        Assert.Equal(NtpTimestamp.FromUnixNanoseconds(Now), first.Reply.ReceiveTime);
        Assert.Equal(NtpTimestamp.FromUnixNanoseconds(Now + 30_000), first.Reply.TransmitTime);
        var reallyLeft = NtpTimestamp.FromUnixNanoseconds(Now + 41_500);
        Assert.True(handler.Interleaving!.SetTransmit(first.Exchange, reallyLeft.Value));

        // Exchange 2: origin = server's receive timestamp of exchange 1, receive = the client's own receive time of it.
        var clientReceived = NtpTimestamp.FromUnixNanoseconds(Now + 90_000);
        var clientSends = new NtpTimestamp(0x1234_5678_9abc_def0);
        long secondReceive = Now + Second;
        var second = Ask(handler, Request(first.Reply.ReceiveTime, clientReceived, clientSends), secondReceive, secondReceive + 30_000);

        Assert.Equal(ServerVerdict.RespondInterleaved, second.Verdict);
        Assert.Equal(clientReceived, second.Reply.OriginTime);                           // how the client knows it is interleaved
        Assert.Equal(NtpTimestamp.FromUnixNanoseconds(secondReceive), second.Reply.ReceiveTime);   // this exchange's T2
        Assert.Equal(reallyLeft, second.Reply.TransmitTime);                             // exchange 1's T3, not restamped
        Assert.Equal(NtpMode.Server, second.Reply.Mode);
        Assert.Equal(10, second.Reply.Stratum);
        Assert.True(second.Exchange > first.Exchange);
    }

    [Fact]
    public void WithoutTheKernelsTransmitTimeTheReplyFallsBackToBasicMode()
    {
        var handler = Handler();
        var first = Ask(handler, BasicRequest(), Now, Now + 30_000);
        var clientSends = new NtpTimestamp(0x1111_2222_3333_4444);
        var second = Ask(handler, Request(first.Reply.ReceiveTime, NtpTimestamp.FromUnixNanoseconds(Now + 90_000), clientSends),
            Now + Second, Now + Second + 30_000);
        Assert.Equal(ServerVerdict.Respond, second.Verdict);
        Assert.Equal(clientSends, second.Reply.OriginTime);
        Assert.Equal(NtpTimestamp.FromUnixNanoseconds(Now + Second + 30_000), second.Reply.TransmitTime);
    }

    [Fact]
    public void ABasicModeRequestIsAnsweredInBasicModeEvenWhenItsOriginMatches()
    {
        var handler = Handler();
        var first = Ask(handler, BasicRequest(), Now, Now + 30_000);
        handler.Interleaving!.SetTransmit(first.Exchange, NtpTimestamp.FromUnixNanoseconds(Now + 40_000).Value);
        // RFC 5905 client: receive equal to transmit is how a basic request differs from an interleaved one.
        var same = new NtpTimestamp(0x5555_6666_7777_8888);
        var basic = Ask(handler, Request(first.Reply.ReceiveTime, same, same), Now + Second, Now + Second + 30_000);
        Assert.Equal(ServerVerdict.Respond, basic.Verdict);
        Assert.Equal(same, basic.Reply.OriginTime);
        // An origin that names no held exchange (e.g. the server's transmit timestamp, as ntpd's basic mode sends).
        var other = Ask(handler, Request(first.Reply.TransmitTime, NtpTimestamp.FromUnixNanoseconds(Now + 90_000), new NtpTimestamp(99)),
            Now + 2 * Second, Now + 2 * Second + 30_000);
        Assert.Equal(ServerVerdict.Respond, other.Verdict);
        Assert.Equal(new NtpTimestamp(99), other.Reply.OriginTime);
    }

    [Fact]
    public void WithoutATableEveryReplyIsBasic()
    {
        var handler = new NtpServerHandler(new ClientLog(524288, null, 1));
        var reply = new byte[48];
        var first = handler.Handle(BasicRequest(), Loopback, Now, LocalSnapshot, reply, out _, out long exchange);
        Assert.Equal(ServerVerdict.Respond, first);
        Assert.Equal(-1, exchange);
        var second = handler.Handle(Request(NtpTimestamp.FromUnixNanoseconds(Now), new NtpTimestamp(5), new NtpTimestamp(6)),
            Loopback, Now + Second, LocalSnapshot, reply, out _, out _);
        Assert.Equal(ServerVerdict.Respond, second);
        Assert.Equal(new NtpTimestamp(6), NtpHeader.Read(reply).OriginTime);
    }

    [Fact]
    public void ReceiveTimestampsStayUniqueSoAnExchangeIsNamedByExactlyOne()
    {
        var handler = Handler();
        // Two requests in one batch without kernel timestamps share one receive reading.
        var a = Ask(handler, BasicRequest(1), Now, Now + 10_000);
        var b = Ask(handler, BasicRequest(2), Now, Now + 10_000);
        Assert.Equal(a.Reply.ReceiveTime.Value + 1, b.Reply.ReceiveTime.Value);
        // A little back (a slew, another loop's older stamp): moved after the newest.
        var c = Ask(handler, BasicRequest(3), Now - 1000, Now + 10_000);
        Assert.Equal(b.Reply.ReceiveTime.Value + 1, c.Reply.ReceiveTime.Value);
        handler.Interleaving!.SetTransmit(a.Exchange, 111);
        handler.Interleaving.SetTransmit(b.Exchange, 222);
        Assert.Equal(111UL, handler.Interleaving.TransmitOf(a.Reply.ReceiveTime.Value));
        Assert.Equal(222UL, handler.Interleaving.TransmitOf(b.Reply.ReceiveTime.Value));
    }

    [Fact]
    public void AStepBackOfMoreThanASecondForgetsEveryHeldExchange()
    {
        var table = new InterleavedTimestamps(8);
        ulong t = NtpTimestamp.FromUnixNanoseconds(Now).Value;
        ulong first = table.Record(t, 0, out long e1, out _);
        table.SetTransmit(e1, t + 100);
        ulong back = table.Record(t - (3UL << 32), 0, out _, out _);
        Assert.Equal(t - (3UL << 32), back);
        Assert.Equal(1, table.Count);
        Assert.Equal(0UL, table.TransmitOf(first));
        Assert.False(table.SetTransmit(e1, t + 200));
    }

    [Fact]
    public void TheTableKeepsTheNewestExchangesAndEvictsTheOldest()
    {
        var table = new InterleavedTimestamps(4);
        ulong t = NtpTimestamp.FromUnixNanoseconds(Now).Value;
        var keys = new ulong[6];
        var exchanges = new long[6];
        for (int i = 0; i < 6; i++)
        {
            keys[i] = table.Record(t + (ulong)i * 1000, 0, out exchanges[i], out _);
            table.SetTransmit(exchanges[i], t + (ulong)i * 1000 + 7);
        }
        Assert.Equal(4, table.Count);
        Assert.Equal(2, table.Evictions);
        Assert.Equal(0UL, table.TransmitOf(keys[0]));
        Assert.Equal(0UL, table.TransmitOf(keys[1]));
        for (int i = 2; i < 6; i++) Assert.Equal(t + (ulong)i * 1000 + 7, table.TransmitOf(keys[i]));
        Assert.False(table.SetTransmit(exchanges[1], 1));   // evicted: its late stamp lands nowhere
        Assert.Equal(0UL, table.TransmitOf(t + 999));       // a key between held ones

        // A client whose exchange was evicted gets a basic reply.
        var handler = new NtpServerHandler(new ClientLog(524288, null, 1)) { Interleaving = table };
        var reply = new byte[48];
        var verdict = handler.Handle(Request(new NtpTimestamp(keys[0]), new NtpTimestamp(5), new NtpTimestamp(6)),
            Loopback, Now + Second, LocalSnapshot, reply, out _, out _);
        Assert.Equal(ServerVerdict.Respond, verdict);
        verdict = handler.Handle(Request(new NtpTimestamp(keys[5]), new NtpTimestamp(5), new NtpTimestamp(6)),
            Loopback, Now + 2 * Second, LocalSnapshot, reply, out _, out _);
        Assert.Equal(ServerVerdict.RespondInterleaved, verdict);
        Assert.Equal(new NtpTimestamp(t + 5007), NtpHeader.Read(reply).TransmitTime);
    }

    [Fact]
    public void AnInterleavedReplyWithAMacIsSignedOverThePreviousTransmitTime()
    {
        var keys = KeyFile.Parse(Encoding.ASCII.GetBytes("3 SHA256 HEX:CE75CA131698DD984EF9EBAB3A52B5DECE75CA13\n"), "test");
        Assert.True(keys.TryGet(3, out var key));
        var handler = Handler(keys: keys);
        byte[] Signed(byte[] header)
        {
            var bytes = new byte[NtpPacket.MaxLength];
            header.CopyTo(bytes, 0);
            return bytes[..NtpMac.Append(bytes, NtpHeader.Length, key!, 4)];
        }
        var first = Ask(handler, Signed(BasicRequest()), Now, Now + 30_000);
        Assert.Equal(ServerVerdict.RespondWithMac, first.Verdict);
        var left = NtpTimestamp.FromUnixNanoseconds(Now + 45_000);
        handler.Interleaving!.SetTransmit(first.Exchange, left.Value);
        var second = Ask(handler, Signed(Request(first.Reply.ReceiveTime, new NtpTimestamp(77), new NtpTimestamp(78))), Now + Second, Now + Second + 30_000);
        Assert.Equal(ServerVerdict.RespondInterleavedWithMac, second.Verdict);
        Assert.Equal(left, second.Reply.TransmitTime);
        Assert.Equal(new NtpTimestamp(77), second.Reply.OriginTime);
        Assert.Equal(NtpParseError.None, NtpPacket.Validate(second.Bytes, out var trailer));
        Assert.Equal(MacCheck.Valid, NtpMac.Verify(second.Bytes, trailer, keys, out _));
    }

    [Fact]
    public void InterleavedServingAllocatesNothing()
    {
        var handler = Handler(exchanges: 1024);
        var reply = new byte[48];
        var request = new byte[48];
        var previousReceive = NtpTimestamp.Zero;
        int interleaved = 0;
        void Run(int n, long start)
        {
            for (int i = 0; i < n; i++)
            {
                long receive = start + i * 1000L;
                new NtpHeader(0, 4, NtpMode.Client, 0, 0, 0x20, NtpShort.Zero, NtpShort.Zero, 0, NtpTimestamp.Zero,
                    previousReceive, new NtpTimestamp((ulong)receive), new NtpTimestamp((ulong)i + 1)).Write(request);
                var verdict = handler.Handle(request, Loopback, receive, LocalSnapshot, reply, out int length, out long exchange);
                handler.FinishReply(verdict, reply, length, receive + 300);
                handler.Interleaving!.SetTransmit(exchange, NtpTimestamp.FromUnixNanoseconds(receive + 500).Value);
                previousReceive = NtpTimestamp.Read(reply.AsSpan(NtpHeader.ReceiveTimeOffset));
                if (verdict == ServerVerdict.RespondInterleaved) interleaved++;
            }
        }
        Run(30_000, Now);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(100_000, Now + Second);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Not exactly 0: the runtime may allocate a little while it recompiles a hot method (as TrackingHistoryTests saw).
        Assert.True(allocated < 100_000, $"{allocated} bytes over 100 000 interleaved requests");
        Assert.True(interleaved >= 129_990, $"{interleaved} of 130 000 replies interleaved");
    }
}
