using System.Net;
using System.Text;
using TimeMesh.Core.Access;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests.Auth;

/// <summary>A source with <c>key = N</c>: requests carry the MAC, replies without a valid one are ignored.</summary>
public class AuthenticatedPollerTests
{
    private const long Second = 1_000_000_000;
    private const long T0 = 1_800_000_000L * Second;

    private static readonly KeyRing Keys = KeyFile.Parse(Encoding.ASCII.GetBytes("""
        7 SHA256 HEX:9D538B1B6784C8C7525B3C652B17956DAAAFBD8B
        8 AES128 HEX:CE75CA131698DD984EF9EBAB3A52B5DE
        """), "test");

    private static SymmetricKey Key(uint id) => Keys.TryGet(id, out var key) ? key : throw new InvalidOperationException();

    private static NtpSourcePoller Poller(SymmetricKey? key)
    {
        ulong next = 0x1234_5678_9ABC_DEF1;
        return new NtpSourcePoller(1, new SourceSettings { Address = "127.0.0.1", Key = key, MinPollLog2 = 0, MaxPollLog2 = 2 }, T0,
            () => next = next * 6364136223846793005 + 1442695040888963407);
    }

    private static byte[] Poll(NtpSourcePoller poller, long now)
    {
        var buffer = new byte[NtpPacket.MaxLength];
        Assert.True(poller.TryPoll(now, buffer));
        return buffer[..poller.RequestLength];
    }

    /// <summary>Answers like a TimeMesh server holding <paramref name="serverKeys"/>.</summary>
    private static byte[]? Answer(byte[] request, KeyRing serverKeys, long now)
    {
        var handler = new NtpServerHandler(new ClientLog(524288, null, 1)) { Keys = serverKeys };
        var snapshot = new ServerSnapshot
        {
            Reference = ReferenceState.Local(1),
            Access = AccessList.FromSpecs(["127.0.0.0/8"], []),
            PrecisionLog2 = -24,
        };
        var reply = new byte[2048];
        var verdict = handler.Handle(request, IpAddress128.FromIPAddress(IPAddress.Loopback), now, snapshot, reply, out int length);
        handler.FinishReply(verdict, reply, length, now + 1000);
        return length == 0 ? null : reply[..length];
    }

    [Theory]
    [InlineData(7u, 48 + 24)]
    [InlineData(8u, 48 + 20)]
    public void RequestsCarryAMacUnderTheSourcesKey(uint keyId, int length)
    {
        var request = Poll(Poller(Key(keyId)), T0);
        Assert.Equal(length, request.Length);
        var packet = NtpPacket.Parse(request);
        Assert.Equal(4, packet.Header.Version);
        Assert.Equal(MacCheck.Valid, NtpMac.Verify(request, packet.Trailer, Key(keyId)));
    }

    [Fact]
    public void WithoutAKeyRequestsAreBareHeaders() => Assert.Equal(48, Poll(Poller(null), T0).Length);

    [Theory]
    [InlineData(7u)]
    [InlineData(8u)]
    public void AReplyUnderTheKeyIsASample(uint keyId)
    {
        var poller = Poller(Key(keyId));
        var reply = Answer(Poll(poller, T0), Keys, T0 + 1000)!;
        Assert.Equal(ReplyOutcome.Sample, poller.HandleReply(reply, T0 + 2000, -20, out _));
        Assert.Equal(1, poller.Reach);
        Assert.Equal(0, poller.AuthFailures);
    }

    [Fact]
    public void AnUnauthenticatedReplyIsIgnoredAndTheGenuineOneStillCounts()
    {
        var poller = Poller(Key(7));
        var request = Poll(poller, T0);
        // A server without keys drops the request; one that ignores the MAC answers with a bare header.
        Assert.Null(Answer(request, KeyRing.Empty, T0 + 1000));
        var bare = Answer(request[..48], KeyRing.Empty, T0 + 1000)!;
        Assert.Equal(ReplyOutcome.AuthFailed, poller.HandleReply(bare, T0 + 2000, -20, out _));
        Assert.Equal(0, poller.Reach); // not reached, as in chrony
        Assert.Equal(0, poller.RepliesReceived);
        Assert.Equal(1, poller.AuthFailures);
        Assert.False(poller.IsReachable);

        // The request is still pending: the authenticated reply that follows is used.
        var genuine = Answer(request, Keys, T0 + 1000)!;
        Assert.Equal(ReplyOutcome.Sample, poller.HandleReply(genuine, T0 + 3000, -20, out _));
        Assert.Equal(1, poller.Reach);
    }

    [Fact]
    public void AReplyUnderAnotherValueOfTheKeyIsRejected()
    {
        // The server holds key 7 with another value: it cannot verify our request, so it stays silent...
        var otherValue = KeyFile.Parse("7 SHA256 HEX:00000000000000000000000000000000000000AA"u8, "other");
        var poller = Poller(Key(7));
        var request = Poll(poller, T0);
        Assert.Null(Answer(request, otherValue, T0 + 1000));
        // ...and a reply it signs for its own clients is refused by ours.
        var forged = new byte[NtpPacket.MaxLength];
        request.AsSpan(0, 48).CopyTo(forged);
        Assert.True(otherValue.TryGet(7, out var wrong));
        int length = NtpMac.Append(forged, 48, wrong, 4);
        var reply = Answer(forged[..length], otherValue, T0 + 1000)!;
        Assert.Equal(ReplyOutcome.AuthFailed, poller.HandleReply(reply, T0 + 2000, -20, out _));
        Assert.Equal(0, poller.Reach);
    }

    [Fact]
    public void AReplyUnderAnotherKeyIdIsRejected()
    {
        var poller = Poller(Key(7));
        var request = Poll(poller, T0);
        // Re-sign the same request under key 8: a server holding both answers under 8.
        var other = new byte[NtpPacket.MaxLength];
        request.AsSpan(0, 48).CopyTo(other);
        int length = NtpMac.Append(other, 48, Key(8), 4);
        var reply = Answer(other[..length], Keys, T0 + 1000)!;
        Assert.Equal(ReplyOutcome.AuthFailed, poller.HandleReply(reply, T0 + 2000, -20, out _));
    }

    [Fact]
    public void ATamperedReplyIsRejected()
    {
        var poller = Poller(Key(8));
        var reply = Answer(Poll(poller, T0), Keys, T0 + 1000)!;
        reply[NtpHeader.TransmitTimeOffset + 3] ^= 0x10; // shifts the server's transmit time by seconds
        Assert.Equal(ReplyOutcome.AuthFailed, poller.HandleReply(reply, T0 + 2000, -20, out _));
    }

    [Fact]
    public void AnUnauthenticatedKissOfDeathDoesNotDemobiliseAKeyedSource()
    {
        var poller = Poller(Key(7));
        var request = Poll(poller, T0);
        var kiss = new byte[48];
        var origin = new NtpTimestamp(NtpSourcePoller.ReadCookie(request));
        new NtpHeader(LeapIndicator.Unsynchronised, 4, NtpMode.Server, 0, 6, -20, NtpShort.Zero, NtpShort.Zero,
            ReferenceIds.KissDeny, origin, origin, origin, origin).Write(kiss);
        Assert.Equal(ReplyOutcome.AuthFailed, poller.HandleReply(kiss, T0 + 2000, -20, out _));
        Assert.False(poller.Demobilised);
    }
}
