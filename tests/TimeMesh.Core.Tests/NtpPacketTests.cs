using System.Buffers.Binary;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Tests;

public class NtpPacketTests
{
    /// <summary>
    /// A reply from chronyd 4.3 (Debian 12, `local stratum 10`, `allow 127.0.0.1`), captured on loopback on
    /// 2026-11-24 for a request whose transmit timestamp was 0x1122334455667788.
    /// </summary>
    private const string ChronyServerReplyHex =
        "240a06e600000000000000007f7f0101eeaf8d4465ad8d091122334455667788eeaf8d45afda441feeaf8d45afdf7fd4";

    /// <summary>A client request from chronyd 4.3 (`server 127.0.0.1 port N iburst minpoll 0`), captured the same day.
    /// chronyd puts a random transmit timestamp in its requests and 0x20 in the precision byte.</summary>
    private const string ChronyClientRequestHex =
        "23000020000000000000000000000000000000000000000000000000000000000000000000000000676dc43d1546ea7c";

    [Fact]
    public void DecodesARealChronydServerReply()
    {
        var packet = NtpPacket.Parse(Convert.FromHexString(ChronyServerReplyHex));
        var h = packet.Header;
        Assert.Equal(LeapIndicator.NoWarning, h.Leap);
        Assert.Equal(4, h.Version);
        Assert.Equal(NtpMode.Server, h.Mode);
        Assert.Equal(10, h.Stratum);
        Assert.Equal(6, h.PollLog2);
        Assert.Equal(-26, h.PrecisionLog2);
        Assert.Equal(NtpShort.Zero, h.RootDelay);
        Assert.Equal(NtpShort.Zero, h.RootDispersion);
        Assert.Equal(ReferenceIds.Local, h.ReferenceId);
        Assert.Equal(0x1122334455667788ul, h.OriginTime.Value);
        Assert.Equal(new DateTime(2026, 11, 24, 4, 12, 53, DateTimeKind.Utc),
            h.ReceiveTime.ToDateTime(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)), TimeSpan.FromSeconds(1));
        Assert.True(NtpTimestamp.DifferenceSeconds(h.TransmitTime, h.ReceiveTime) is > 0 and < 0.001);
        Assert.Equal(NtpTrailer.None, packet.Trailer);
    }

    [Fact]
    public void ReencodingARealPacketGivesTheSameBytes()
    {
        foreach (string hex in new[] { ChronyServerReplyHex, ChronyClientRequestHex })
        {
            byte[] original = Convert.FromHexString(hex);
            var buffer = new byte[48];
            NtpPacket.Parse(original).Header.Write(buffer);
            Assert.Equal(original, buffer);
        }
    }

    [Fact]
    public void DecodesARealChronydClientRequest()
    {
        var h = NtpPacket.Parse(Convert.FromHexString(ChronyClientRequestHex)).Header;
        Assert.Equal(NtpMode.Client, h.Mode);
        Assert.Equal(4, h.Version);
        Assert.Equal(0x676dc43d1546ea7cul, h.TransmitTime.Value);
    }

    [Fact]
    public void HeaderRoundTripsEveryField()
    {
        var h = new NtpHeader(LeapIndicator.DeleteSecond, 3, NtpMode.Broadcast, 15, -6, -29,
            NtpShort.FromSeconds(0.25), NtpShort.FromSeconds(1.5), 0xC0A80001,
            new NtpTimestamp(1), new NtpTimestamp(2), new NtpTimestamp(ulong.MaxValue), new NtpTimestamp(0x8000_0000_0000_0000));
        var buffer = new byte[48];
        h.Write(buffer);
        Assert.Equal(0b10_011_101, buffer[0]);
        Assert.Equal(h, NtpHeader.Read(buffer));
    }

    [Fact]
    public void OffsetAndDelayFollowRfc5905()
    {
        // T1 = 0, T2 = 1.1, T3 = 1.2, T4 = 0.3  → θ = ((1.1 − 0) + (1.2 − 0.3)) / 2 = 1.0, δ = 0.3 − 0.1 = 0.2
        NtpTimestamp T(double s) => NtpTimestamp.FromUnixNanoseconds((long)(s * 1e9));
        var h = new NtpHeader(0, 4, NtpMode.Server, 1, 0, 0, NtpShort.Zero, NtpShort.Zero, 0,
            NtpTimestamp.Zero, T(0), T(1.1), T(1.2));
        Assert.Equal(1.0, h.OffsetSeconds(T(0.3)), 6);
        Assert.Equal(0.2, h.DelaySeconds(T(0.3)), 6);
    }

    private static byte[] Packet(int version, params byte[][] trailer)
    {
        var bytes = new byte[48 + trailer.Sum(t => t.Length)];
        bytes[0] = NtpHeader.PackFirstByte(0, version, NtpMode.Client);
        int o = 48;
        foreach (var t in trailer) { t.CopyTo(bytes, o); o += t.Length; }
        return bytes;
    }

    private static byte[] Field(ushort type, int length)
    {
        var f = new byte[length];
        BinaryPrimitives.WriteUInt16BigEndian(f, type);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)length);
        return f;
    }

    private static byte[] Mac(uint keyId, int digestLength)
    {
        var m = new byte[4 + digestLength];
        BinaryPrimitives.WriteUInt32BigEndian(m, keyId);
        m.AsSpan(4).Fill(0xAB);
        return m;
    }

    [Fact]
    public void RecognisesExtensionFieldsAndAMac()
    {
        var bytes = Packet(4, Field(0x0104, 36), Field(0x0204, 16), Mac(42, 20));
        var packet = NtpPacket.Parse(bytes);
        Assert.Equal(2, packet.Trailer.ExtensionFieldCount);
        Assert.Equal(52, packet.Trailer.ExtensionFieldsLength);
        Assert.Equal(24, packet.Trailer.MacLength);
        Assert.Equal(42u, packet.MacKeyId(bytes));
        var types = new List<(ushort, int)>();
        foreach (var field in packet.ExtensionFields(bytes)) types.Add((field.Type, field.Value.Length));
        Assert.Equal(new[] { ((ushort)0x0104, 32), ((ushort)0x0204, 12) }, types);
    }

    [Fact]
    public void ALastFieldOfTwentyEightBytesIsAFieldNotAMac()
    {
        var packet = NtpPacket.Parse(Packet(4, Field(0x0104, 28)));
        Assert.Equal(1, packet.Trailer.ExtensionFieldCount);
        Assert.False(packet.Trailer.HasMac);
    }

    [Theory]
    [InlineData(16)] // MD5 / AES-CMAC
    [InlineData(20)] // SHA1
    [InlineData(64)] // SHA512
    public void ALoneMacIsRecognised(int digest)
    {
        var packet = NtpPacket.Parse(Packet(4, Mac(7, digest)));
        Assert.Equal(4 + digest, packet.Trailer.MacLength);
        Assert.Equal(0, packet.Trailer.ExtensionFieldCount);
    }

    [Fact]
    public void NtpV3TakesOnlyAMac()
    {
        Assert.True(NtpPacket.Parse(Packet(3, Mac(1, 16))).Trailer.HasMac);
        var ex = Assert.Throws<NtpParseException>(() => NtpPacket.Parse(Packet(3, Field(1, 100))));
        Assert.Equal(NtpParseError.BadTrailer, ex.Error);
    }

    [Theory]
    [InlineData(0, NtpParseError.UnsupportedVersion)]
    [InlineData(5, NtpParseError.UnsupportedVersion)]
    [InlineData(7, NtpParseError.UnsupportedVersion)]
    public void VersionsOutsideOneToFourAreRejected(int version, NtpParseError expected) =>
        Assert.Equal(expected, Assert.Throws<NtpParseException>(() => NtpPacket.Parse(Packet(version))).Error);

    [Fact]
    public void BadLengthsAreRejected()
    {
        Assert.Equal(NtpParseError.TooShort, Assert.Throws<NtpParseException>(() => NtpPacket.Parse(new byte[47])).Error);
        Assert.Equal(NtpParseError.TooLong, Assert.Throws<NtpParseException>(() => NtpPacket.Parse(Packet(4, new byte[NtpPacket.MaxLength]))).Error);
        Assert.Equal(NtpParseError.LengthNotMultipleOfFour, Assert.Throws<NtpParseException>(() => NtpPacket.Parse(Packet(4, new byte[6]))).Error);
        // 8 bytes: too short for a field or a MAC.
        Assert.Equal(NtpParseError.BadExtensionField, Assert.Throws<NtpParseException>(() => NtpPacket.Parse(Packet(4, new byte[8]))).Error);
        // A field that claims more bytes than there are and is too long for a MAC.
        var overrun = Field(1, 400);
        BinaryPrimitives.WriteUInt16BigEndian(overrun.AsSpan(2), 404);
        Assert.Equal(NtpParseError.BadExtensionField, Assert.Throws<NtpParseException>(() => NtpPacket.Parse(Packet(4, overrun))).Error);
    }

    [Fact]
    public void RandomBytesOnlyEverRaiseTheOneParseError()
    {
        var random = new Random(20261124);
        int parsed = 0;
        for (int i = 0; i < 200_000; i++)
        {
            int length = random.Next(0, 3) switch
            {
                0 => random.Next(0, 60),
                1 => 48 + 4 * random.Next(0, 40),
                _ => random.Next(0, NtpPacket.MaxLength + 200),
            };
            var bytes = new byte[length];
            random.NextBytes(bytes);
            if (length >= 52 && random.Next(2) == 0)
            {
                // Make some of them look like extension fields so the trailer walk is exercised deeply.
                bytes[0] = NtpHeader.PackFirstByte(0, 4, NtpMode.Client);
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(50), (ushort)(4 * random.Next(0, 60)));
            }
            try
            {
                var packet = NtpPacket.Parse(bytes);
                parsed++;
                Assert.Equal(length, packet.Length);
                foreach (var field in packet.ExtensionFields(bytes)) Assert.True(field.Value.Length >= 12);
            }
            catch (NtpParseException)
            {
            }
        }
        Assert.True(parsed > 1000, $"only {parsed} random packets parsed: the generator no longer exercises the success path");
    }
}
