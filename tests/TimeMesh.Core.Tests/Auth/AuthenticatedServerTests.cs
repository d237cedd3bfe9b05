using System.Net;
using System.Text;
using TimeMesh.Core.Access;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;

namespace TimeMesh.Core.Tests.Auth;

/// <summary>The server's verdicts on requests with a MAC (chrony's server side of symmetric keys).</summary>
public class AuthenticatedServerTests
{
    private const long Now = 1_795_490_474L * 1_000_000_000 + 379_219_187;
    private static readonly IpAddress128 Loopback = IpAddress128.FromIPAddress(IPAddress.Loopback);
    private static readonly NtpTimestamp ClientTransmit = new(0x676dc43d1546ea7c);

    private static readonly KeyRing Keys = KeyFile.Parse(Encoding.ASCII.GetBytes("""
        1 MD5 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7
        2 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7
        3 SHA256 HEX:CE75CA131698DD984EF9EBAB3A52B5DECE75CA13
        4 SHA512 HEX:CE75CA131698DD984EF9EBAB3A52B5DECE75CA13
        5 AES128 HEX:CE75CA131698DD984EF9EBAB3A52B5DE
        6 AES256 HEX:C10ACEC5182AF002B25C309C27AEA73C468E1E3FEBDDC63FDA31D926CB190D7E
        """), "test");

    private static ServerSnapshot Snapshot() => new()
    {
        Reference = ReferenceState.Local(10),
        Access = AccessList.FromSpecs(["127.0.0.0/8"], []),
        PrecisionLog2 = -24,
    };

    private static NtpServerHandler Handler(RateLimitSettings? limit = null) => new(new ClientLog(524288, limit, 1)) { Keys = Keys };

    private static SymmetricKey Key(uint id) => Keys.TryGet(id, out var key) ? key : throw new InvalidOperationException();

    private static byte[] Request(SymmetricKey? key, int version = 4)
    {
        var bytes = new byte[NtpPacket.MaxLength];
        new NtpHeader(0, (byte)version, NtpMode.Client, 0, 6, 0x20, NtpShort.Zero, NtpShort.Zero, 0,
            NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero, ClientTransmit).Write(bytes);
        int length = key is null ? NtpHeader.Length : NtpMac.Append(bytes, NtpHeader.Length, key, version);
        return bytes[..length];
    }

    private static (ServerVerdict Verdict, byte[] Reply) Handle(byte[] request, NtpServerHandler? handler = null, long transmit = Now + 20_000)
    {
        handler ??= Handler();
        var reply = new byte[2048];
        var verdict = handler.Handle(request, Loopback, Now, Snapshot(), reply, out int length);
        handler.FinishReply(verdict, reply, length, transmit);
        return (verdict, reply[..length]);
    }

    [Theory]
    [InlineData(1u, 4, 16)]
    [InlineData(2u, 4, 20)]
    [InlineData(3u, 4, 20)]
    [InlineData(4u, 4, 20)]
    [InlineData(5u, 4, 16)]
    [InlineData(6u, 4, 16)]
    [InlineData(3u, 3, 32)]
    [InlineData(4u, 3, 64)]
    public void AValidMacIsAnsweredUnderTheSameKey(uint keyId, int version, int digestBytes)
    {
        var request = Request(Key(keyId), version);
        Assert.Equal(48 + 4 + digestBytes, request.Length);
        var (verdict, reply) = Handle(request, transmit: Now + 20_000);
        Assert.Equal(ServerVerdict.RespondWithMac, verdict);
        Assert.Equal(request.Length, reply.Length); // never larger than the request
        var packet = NtpPacket.Parse(reply);
        Assert.Equal(NtpMode.Server, packet.Header.Mode);
        Assert.Equal(version, packet.Header.Version);
        Assert.Equal(ClientTransmit, packet.Header.OriginTime);
        // The MAC covers the transmit time stamped last.
        Assert.Equal(NtpTimestamp.FromUnixNanoseconds(Now + 20_000), packet.Header.TransmitTime);
        Assert.Equal(keyId, packet.MacKeyId(reply));
        Assert.Equal(MacCheck.Valid, NtpMac.Verify(reply, packet.Trailer, Key(keyId)));
    }

    [Fact]
    public void ARequestWithoutMacIsAnsweredWithoutMac()
    {
        var (verdict, reply) = Handle(Request(null));
        Assert.Equal(ServerVerdict.Respond, verdict);
        Assert.Equal(48, reply.Length);
    }

    [Fact]
    public void AnUnknownKeyIsDropped()
    {
        using var stranger = new SymmetricKey(99, MacAlgorithm.Sha1, new byte[20]);
        var (verdict, reply) = Handle(Request(stranger));
        Assert.Equal(ServerVerdict.DroppedMac, verdict);
        Assert.Empty(reply);
    }

    [Fact]
    public void WithoutAKeyfileEveryMacIsUnknown()
    {
        var handler = new NtpServerHandler(new ClientLog(524288, null, 1));
        Assert.Equal(ServerVerdict.DroppedMac, Handle(Request(Key(2)), handler).Verdict);
        Assert.Equal(ServerVerdict.Respond, Handle(Request(null), handler).Verdict);
    }

    [Fact]
    public void AKnownKeyWithADifferentValueIsABadMac()
    {
        // Same id and type, another value: what a client with a wrong key sends.
        using var impostor = new SymmetricKey(2, MacAlgorithm.Sha1, Encoding.ASCII.GetBytes("not-the-real-key-20b"));
        Assert.Equal(ServerVerdict.DroppedMac, Handle(Request(impostor)).Verdict);
    }

    [Theory]
    [InlineData(48 + 10)] // a bit flipped in the transmit timestamp
    [InlineData(48 + 4 + 3)] // a bit flipped in the digest
    [InlineData(0)] // a bit flipped in the first byte (version 4 → still 4, leap changes)
    public void ATamperedRequestIsDropped(int offset)
    {
        var request = Request(Key(3));
        if (offset == 48 + 10) offset = NtpHeader.TransmitTimeOffset + 7;
        request[offset] ^= offset == 0 ? (byte)0x40 : (byte)0x01;
        Assert.Equal(ServerVerdict.DroppedMac, Handle(request).Verdict);
    }

    [Theory]
    [InlineData(3u, 16)] // SHA256 truncated to 16 bytes instead of chrony's 20
    [InlineData(2u, 16)] // SHA1 truncated to 16
    public void ATruncatedMacIsDropped(uint keyId, int digestBytes)
    {
        var request = Request(Key(keyId));
        Assert.Equal(ServerVerdict.DroppedMac, Handle(request[..(48 + 4 + digestBytes)]).Verdict);
    }

    [Fact]
    public void AnUntruncatedV4MacIsAcceptedAsChronyDoesAndTheReplyIsShorter()
    {
        // chrony accepts an NTPv4 MAC longer than 24 bytes if it carries the full digest (old ntpd sends
        // them); its reply is truncated to 20 digest bytes.
        var key = Key(3);
        var bytes = Request(null).Concat(new byte[36]).ToArray();
        var digest = new byte[64];
        key.ComputeDigest(bytes.AsSpan(0, 48), digest);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(48), 3);
        digest.AsSpan(0, 32).CopyTo(bytes.AsSpan(52));
        var (verdict, reply) = Handle(bytes);
        Assert.Equal(ServerVerdict.RespondWithMac, verdict);
        Assert.Equal(48 + 24, reply.Length);
    }

    [Fact]
    public void RateLimitingComesFirstAndAKissOfDeathIsSigned()
    {
        // Burst 1 with kod on: the second request gets a RATE kiss, under the request's key.
        var handler = Handler(new RateLimitSettings(3, 1, 4, true));
        var request = Request(Key(5));
        Assert.Equal(ServerVerdict.RespondWithMac, Handle(request, handler).Verdict);
        var (verdict, reply) = Handle(request, handler);
        Assert.Equal(ServerVerdict.RespondKissOfDeath, verdict);
        var packet = NtpPacket.Parse(reply);
        Assert.Equal(0, packet.Header.Stratum);
        Assert.Equal(MacCheck.Valid, NtpMac.Verify(reply, packet.Trailer, Key(5)));
    }

    [Fact]
    public void AuthenticatedHandlingAllocatesNothing()
    {
        var handler = Handler();
        var snapshot = Snapshot();
        var sha = Request(Key(3));
        var aes = Request(Key(5));
        var reply = new byte[2048];
        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                var request = i % 2 == 0 ? sha : aes;
                var verdict = handler.Handle(request, Loopback, Now + i, snapshot, reply, out int length);
                handler.FinishReply(verdict, reply, length, Now + i + 1000);
            }
        }
        Run(30_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(40_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64 * 1024, $"{allocated} bytes over 40 000 authenticated requests");
    }
}
