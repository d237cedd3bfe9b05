using System.Buffers.Binary;
using System.Text.Json;
using TimeMesh.Core.Access;
using TimeMesh.Core.Cmdmon;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests.Cmdmon;

/// <summary>
/// The command protocol's codec against real packets: what Debian's chronyc 4.3 sent and chronyd 4.3 answered
/// (Cmdmon/Data/README.md says how they were captured).
/// </summary>
public class CmdmonCodecTests
{
    private sealed record Exchange(byte[] Request, byte[] Reply)
    {
        public ushort Command => BinaryPrimitives.ReadUInt16BigEndian(Request.AsSpan(4));
        public ushort ReplyStatus => BinaryPrimitives.ReadUInt16BigEndian(Reply.AsSpan(8));
        public ReadOnlySpan<byte> ReplyBody => Reply.AsSpan(CmdmonWire.ReplyHeaderLength);
    }

    private static readonly List<Exchange> Captured = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Cmdmon", "Data", "chronyd-4.3-udp.jsonl"))
        .Select(line => JsonDocument.Parse(line).RootElement)
        .Select(e => new Exchange(Convert.FromHexString(e.GetProperty("req").GetString()!), Convert.FromHexString(e.GetProperty("rep").GetString()!)))
        .ToList();

    private static Exchange First(ushort command) => Captured.First(e => e.Command == command);

    [Fact]
    public void Every_captured_request_has_the_length_our_table_gives_and_every_reply_the_length_of_its_code()
    {
        Assert.Equal(12, Captured.Count);
        foreach (var e in Captured)
        {
            Assert.Equal(CmdmonWire.RequestLength(e.Command, 6), e.Request.Length);
            Assert.Equal(CmdmonWire.ReplyLength(BinaryPrimitives.ReadUInt16BigEndian(e.Reply.AsSpan(6))), e.Reply.Length);
            Assert.True(e.Reply.Length <= e.Request.Length);
        }
        // chronyc pads every request to its reply's length: tracking 20 + 84 = 28 + 76.
        Assert.Equal(84, CmdmonWire.RequestPadding(CmdmonWire.Request.Tracking));
        Assert.Equal(484, CmdmonWire.RequestPadding(CmdmonWire.Request.ClientAccessesByIndex3));
    }

    [Fact]
    public void Float_encoder_reproduces_chronyds_bits_for_every_float_it_sent()
    {
        var floats = new List<uint>();
        var tracking = First(CmdmonWire.Request.Tracking).ReplyBody;
        for (int o = 40; o < 76; o += 4) floats.Add(BinaryPrimitives.ReadUInt32BigEndian(tracking[o..]));
        var source = First(CmdmonWire.Request.SourceData).ReplyBody;
        for (int o = 36; o < 48; o += 4) floats.Add(BinaryPrimitives.ReadUInt32BigEndian(source[o..]));
        var stats = First(CmdmonWire.Request.SourceStats).ReplyBody;
        for (int o = 36; o < 56; o += 4) floats.Add(BinaryPrimitives.ReadUInt32BigEndian(stats[o..]));
        Assert.Equal(17, floats.Count);
        foreach (uint raw in floats) Assert.Equal(raw, ChronyFloat.Encode(ChronyFloat.Decode(raw)));
    }

    [Fact]
    public void Tracking_reply_decodes_to_what_chronyc_printed()
    {
        // chronyc printed: System time 0.000000893 seconds fast, Last offset -0.000000033, RMS 0.000000044,
        // Frequency 0.023 ppm slow, Residual -0.001, Skew 0.039, Root delay 0.000005541, dispersion 0.000001261,
        // Update interval 0.3, Ref time Fri Dec 04 10:36:45 2026, Reference ID 7F000001, stratum 2.
        var b = First(CmdmonWire.Request.Tracking).ReplyBody;
        Assert.Equal(0x7F000001u, BinaryPrimitives.ReadUInt32BigEndian(b));
        Assert.Equal(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), CmdmonWire.ReadAddress(b[4..]));
        Assert.Equal(2, BinaryPrimitives.ReadUInt16BigEndian(b[24..]));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(b[26..]));
        var refTime = DateTimeOffset.FromUnixTimeMilliseconds(CmdmonWire.ReadTimespec(b[28..]) / 1_000_000);
        Assert.Equal(new DateTimeOffset(2026, 12, 4, 10, 36, 45, TimeSpan.Zero), refTime.AddMilliseconds(-refTime.Millisecond));
        Assert.Equal("-0.000000893", CmdmonWire.ReadFloat(b[40..]).ToString("F9"));
        Assert.Equal("-0.000000033", CmdmonWire.ReadFloat(b[44..]).ToString("F9"));
        Assert.Equal("0.000000044", CmdmonWire.ReadFloat(b[48..]).ToString("F9"));
        Assert.Equal("-0.023", CmdmonWire.ReadFloat(b[52..]).ToString("F3")); // chronyc: negative = slow
        Assert.Equal("-0.001", CmdmonWire.ReadFloat(b[56..]).ToString("F3"));
        Assert.Equal("0.039", CmdmonWire.ReadFloat(b[60..]).ToString("F3"));
        Assert.Equal("0.000005541", CmdmonWire.ReadFloat(b[64..]).ToString("F9"));
        Assert.Equal("0.000001261", CmdmonWire.ReadFloat(b[68..]).ToString("F9"));
        Assert.Equal("0.3", CmdmonWire.ReadFloat(b[72..]).ToString("F1"));
    }

    [Fact]
    public void Our_tracking_reply_to_chronycs_request_is_byte_for_byte_chronyds_for_the_same_values()
    {
        var e = First(CmdmonWire.Request.Tracking);
        var b = e.ReplyBody;
        var tracking = new CmdmonTracking(
            BinaryPrimitives.ReadUInt32BigEndian(b), CmdmonWire.ReadAddress(b[4..]), BinaryPrimitives.ReadUInt16BigEndian(b[24..]),
            LeapIndicator.NoWarning, CmdmonWire.ReadTimespec(b[28..]),
            -CmdmonWire.ReadFloat(b[40..]), CmdmonWire.ReadFloat(b[44..]), CmdmonWire.ReadFloat(b[48..]), CmdmonWire.ReadFloat(b[52..]),
            CmdmonWire.ReadFloat(b[56..]), CmdmonWire.ReadFloat(b[60..]), CmdmonWire.ReadFloat(b[64..]), CmdmonWire.ReadFloat(b[68..]),
            CmdmonWire.ReadFloat(b[72..]));
        Assert.Equal(e.Reply, Serve(e.Request, new CmdmonData { Tracking = tracking }));
    }

    [Fact]
    public void Our_sources_replies_are_byte_for_byte_chronyds_for_the_same_values()
    {
        var n = First(CmdmonWire.Request.NSources);
        var s = First(CmdmonWire.Request.SourceData);
        var b = s.ReplyBody;
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(b[24..])); // selected
        var source = new CmdmonSource(CmdmonWire.ReadAddress(b), "127.0.0.1:12301", SourceState.Selected,
            BinaryPrimitives.ReadUInt16BigEndian(b[22..]), BinaryPrimitives.ReadInt16BigEndian(b[20..]), (byte)BinaryPrimitives.ReadUInt16BigEndian(b[30..]),
            BinaryPrimitives.ReadUInt32BigEndian(b[32..]), CmdmonWire.ReadFloat(b[40..]), CmdmonWire.ReadFloat(b[36..]), CmdmonWire.ReadFloat(b[44..]));
        Assert.Equal(-2, source.PollLog2);
        Assert.Equal(255, source.Reach);
        var data = new CmdmonData { Sources = [source] };
        Assert.Equal(n.Reply, Serve(n.Request, data));
        Assert.Equal(s.Reply, Serve(s.Request, data));

        var a = First(CmdmonWire.Request.Activity);
        Assert.Equal(a.Reply, Serve(a.Request, data));

        var st = First(CmdmonWire.Request.SourceStats);
        var sb = st.ReplyBody;
        var stats = new CmdmonSourceStats(CmdmonWire.ReadAddress(sb[4..]), BinaryPrimitives.ReadUInt32BigEndian(sb),
            (int)BinaryPrimitives.ReadUInt32BigEndian(sb[24..]), (int)BinaryPrimitives.ReadUInt32BigEndian(sb[28..]), BinaryPrimitives.ReadUInt32BigEndian(sb[32..]),
            CmdmonWire.ReadFloat(sb[40..]), CmdmonWire.ReadFloat(sb[44..]), CmdmonWire.ReadFloat(sb[48..]), CmdmonWire.ReadFloat(sb[36..]), CmdmonWire.ReadFloat(sb[52..]));
        Assert.Equal(64, stats.Samples);
        Assert.Equal(32, stats.Runs);
        Assert.Equal(st.Reply, Serve(st.Request, new CmdmonData { SourceStats = [stats] }));
    }

    [Theory]
    [InlineData(3)]   // burst: a change
    [InlineData(35)]  // rtcdata: no RTC
    [InlineData(51)]  // smoothing: not enabled
    public void Refusals_and_absent_facilities_are_answered_exactly_as_chronyd_answers_them(ushort command)
    {
        var e = First(command);
        var reply = new byte[CmdmonWire.MaxRequestLength];
        Assert.Equal(CmdmonVerdict.Answered, CmdmonServer.Inspect(e.Request, fromLocalhost: true, reply, out int length, out _));
        Assert.Equal(e.Reply, reply[..length]);
    }

    [Theory]
    [InlineData(57)]  // ntpdata
    [InlineData(54)]  // serverstats
    [InlineData(68)]  // clients
    public void Socket_only_reports_asked_from_a_remote_host_get_chronyds_not_authorised(ushort command)
    {
        var e = First(command);
        Assert.Equal(CmdmonWire.Status.Unauthorised, e.ReplyStatus);
        var reply = new byte[CmdmonWire.MaxRequestLength];
        Assert.Equal(CmdmonVerdict.Answered, CmdmonServer.Inspect(e.Request, fromLocalhost: false, reply, out int length, out _));
        Assert.Equal(e.Reply, reply[..length]);
        // From the loopback address they are served (chronyd serves them on its Unix socket only).
        Assert.Equal(CmdmonVerdict.NeedsData, CmdmonServer.Inspect(e.Request, fromLocalhost: true, reply, out _, out _));
    }

    [Fact]
    public void Ntpdata_and_clients_replies_fill_exactly_the_request_chronyc_padded_for_them()
    {
        var ntp = First(CmdmonWire.Request.NtpData);
        var address = CmdmonWire.ReadAddress(ntp.Request.AsSpan(CmdmonWire.RequestHeaderLength));
        Assert.Equal(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), address);
        var data = new CmdmonData
        {
            NtpData = [new CmdmonNtpData(address, CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), 12301, LeapIndicator.NoWarning, 4, 4, 1, -2, -25,
                0, 0.000_01, 0x4C4F434C, 1_796_380_000_000_000_000, 1e-6, 2e-5, 3e-6, 4e-6, false, 10, 9, 9, 8)],
            Clients = Enumerable.Range(1, 20).Select(i => new CmdmonClient(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x0A000000u + (uint)i)),
                i, 0, 3, 5, 0, 0, null, null)).ToList(),
        };
        byte[] reply = Serve(ntp.Request, data);
        Assert.Equal(ntp.Request.Length, reply.Length);
        var body = reply.AsSpan(CmdmonWire.ReplyHeaderLength);
        Assert.Equal(12301, BinaryPrimitives.ReadUInt16BigEndian(body[40..]));
        Assert.Equal(-25, (sbyte)body[47]);
        Assert.Equal(0x4C4F434Cu, BinaryPrimitives.ReadUInt32BigEndian(body[56..]));
        Assert.Equal(1_796_380_000_000_000_000, CmdmonWire.ReadTimespec(body[60..]));

        var clients = First(CmdmonWire.Request.ClientAccessesByIndex3);
        reply = Serve(clients.Request, data);
        Assert.Equal(clients.Request.Length, reply.Length);
        body = reply.AsSpan(CmdmonWire.ReplyHeaderLength);
        Assert.Equal(20u, BinaryPrimitives.ReadUInt32BigEndian(body));      // indices
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(body[4..]));  // next index
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(body[8..]));  // clients in this reply
        Assert.Equal(127, (sbyte)body[12 + 46]);                            // no command interval: "-"
    }

    [Theory]
    [InlineData("ntp1.example.net", 16)]
    [InlineData("a name of three hundred ASCII characters", 255)]
    [InlineData("zeit-übertragung-äöü", 24)]
    [InlineData("long non-ASCII", 254)]
    public void A_source_name_is_cut_to_whole_characters_within_the_field(string kind, int expectedBytes)
    {
        string name = kind switch
        {
            "a name of three hundred ASCII characters" => new string('a', 300),
            "long non-ASCII" => new string('é', 200), // 400 bytes in UTF-8: cut at 127 characters, 254 bytes
            _ => kind,
        };
        var address = CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001));
        var ntpData = First(CmdmonWire.Request.NtpData).Request;
        var request = new byte[CmdmonWire.RequestLength(CmdmonWire.Request.NtpSourceName, ntpData[0])];
        ntpData.AsSpan(0, CmdmonWire.RequestHeaderLength + CmdmonWire.AddressLength).CopyTo(request);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), CmdmonWire.Request.NtpSourceName);
        var data = new CmdmonData { Sources = [new CmdmonSource(address, name, SourceState.Selected, 2, 6, 0xFF, 3, 0, 0, 1e-3)] };

        byte[] reply = Serve(request, data);

        Assert.Equal(CmdmonWire.ReplyLength(CmdmonWire.Reply.NtpSourceName), reply.Length);
        var field = reply.AsSpan(CmdmonWire.ReplyHeaderLength, 256);
        int end = field.IndexOf((byte)0);
        Assert.Equal(expectedBytes, end);
        string got = System.Text.Encoding.UTF8.GetString(field[..end]);
        Assert.StartsWith(got, name);
        Assert.DoesNotContain('\uFFFD', got);
    }

    [Fact]
    public void A_source_asked_for_by_an_address_we_do_not_have_is_no_such_source()
    {
        var ntp = First(CmdmonWire.Request.NtpData);
        byte[] reply = Serve(ntp.Request, new CmdmonData());
        Assert.Equal(CmdmonWire.ReplyHeaderLength, reply.Length);
        Assert.Equal(CmdmonWire.Status.NoSuchSource, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)));
    }

    [Fact]
    public void Version_5_is_told_of_the_mismatch_older_versions_and_non_requests_get_nothing()
    {
        var request = (byte[])First(CmdmonWire.Request.Tracking).Request.Clone();
        var reply = new byte[CmdmonWire.MaxRequestLength];
        request[0] = 5;
        Assert.Equal(CmdmonVerdict.Answered, CmdmonServer.Inspect(request, true, reply, out int length, out _));
        Assert.Equal(CmdmonWire.Status.BadPacketVersion, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)));
        Assert.Equal(28, length);
        request[0] = 4;
        Assert.Equal(CmdmonVerdict.Drop, CmdmonServer.Inspect(request, true, reply, out _, out _));
        request[0] = 6;
        request[1] = 2;
        Assert.Equal(CmdmonVerdict.Drop, CmdmonServer.Inspect(request, true, reply, out _, out _));
        request[1] = 1;
        // Unpadded (version 5 length) tracking request: too short for version 6.
        Assert.Equal(CmdmonVerdict.Answered, CmdmonServer.Inspect(request.AsSpan(0, 28), true, reply, out _, out _));
        Assert.Equal(CmdmonWire.Status.BadPacketLength, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)));
        Assert.Equal(CmdmonVerdict.Drop, CmdmonServer.Inspect(request.AsSpan(0, 27), true, reply, out _, out _));
        // An unknown command code.
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), 200);
        Assert.Equal(CmdmonVerdict.Answered, CmdmonServer.Inspect(request, true, reply, out _, out _));
        Assert.Equal(CmdmonWire.Status.Invalid, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)));
    }

    [Fact]
    public void Clients_with_reset_is_refused_as_a_change()
    {
        var request = (byte[])First(CmdmonWire.Request.ClientAccessesByIndex3).Request.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(CmdmonWire.RequestHeaderLength + 12), 1);
        var reply = new byte[CmdmonWire.MaxRequestLength];
        Assert.Equal(CmdmonVerdict.Answered, CmdmonServer.Inspect(request, true, reply, out _, out _));
        Assert.Equal(CmdmonWire.Status.Unauthorised, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)));
    }

    [Fact]
    public void Float_round_trip_keeps_24_bits_and_saturates_out_of_range()
    {
        var random = new Random(14);
        for (int i = 0; i < 100_000; i++)
        {
            double x = (random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-60, 60));
            double y = ChronyFloat.Decode(ChronyFloat.Encode(x));
            // 24 bits of precision, and steps of 2^-89 below the smallest exponent.
            Assert.True(Math.Abs(y - x) <= Math.Max(Math.Abs(x) * Math.Pow(2, -23), Math.Pow(2, -89)), $"{x} → {y}");
        }
        Assert.Equal(0.0, ChronyFloat.Decode(ChronyFloat.Encode(double.NaN)));
        Assert.Equal(0.0, ChronyFloat.Decode(ChronyFloat.Encode(1e-200)));
        Assert.True(ChronyFloat.Decode(ChronyFloat.Encode(1e300)) > 4e18); // the largest: (2^24 − 1) · 2^38
        Assert.True(ChronyFloat.Decode(ChronyFloat.Encode(-1e300)) < -4e18);
        Assert.Equal(1.0, ChronyFloat.Decode(ChronyFloat.Encode(1.0)));
        Assert.Equal(-0.5, ChronyFloat.Decode(ChronyFloat.Encode(-0.5)));
    }

    [Fact]
    public void No_reply_is_longer_than_its_request_for_random_and_mutated_datagrams()
    {
        var random = new Random(323);
        var reply = new byte[CmdmonWire.MaxRequestLength];
        var data = new CmdmonData
        {
            Sources = [new CmdmonSource(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), "127.0.0.1", SourceState.Selected, 1, 6, 255, 3, 0, 0, 1e-6)],
            SourceStats = [new CmdmonSourceStats(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), 0, 8, 4, 100, 0, 0, 0, 0, 0)],
            Tracking = new CmdmonTracking(1, CmdmonAddress.Unspecified, 2, LeapIndicator.NoWarning, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            ServerStats = new CmdmonServerStats(1, 0, 1, 0, 0, 0, 0, 0),
            Clients = [new CmdmonClient(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), 1, 0, null, 1, 0, 0, null, null)],
        };
        int answered = 0;
        for (int i = 0; i < 50_000; i++)
        {
            byte[] datagram;
            if (i % 2 == 0)
            {
                var template = Captured[random.Next(Captured.Count)].Request;
                datagram = template[..random.Next(0, template.Length + 1)];
                for (int flips = random.Next(0, 4); flips > 0 && datagram.Length > 0; flips--) datagram[random.Next(datagram.Length)] = (byte)random.Next(256);
                if (random.Next(3) == 0 && datagram.Length > 6) BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(4), (ushort)random.Next(80));
            }
            else
            {
                datagram = new byte[random.Next(0, 1000)];
                random.NextBytes(datagram);
                if (datagram.Length > 4) { datagram[0] = 6; datagram[1] = 1; datagram[2] = datagram[3] = 0; }
            }
            var verdict = CmdmonServer.Inspect(datagram, random.Next(2) == 0, reply, out int length, out var request);
            if (verdict == CmdmonVerdict.NeedsData) length = CmdmonServer.Answer(request, data, reply);
            Assert.True(length <= datagram.Length, $"reply {length} bytes to a {datagram.Length}-byte request");
            if (length > 0) answered++;
        }
        Assert.True(answered > 5_000, $"only {answered} answered: the mutations never reach the reports");
    }

    private static byte[] Serve(byte[] request, CmdmonData data)
    {
        var reply = new byte[CmdmonWire.MaxRequestLength];
        var verdict = CmdmonServer.Inspect(request, fromLocalhost: true, reply, out int length, out var parsed);
        if (verdict == CmdmonVerdict.NeedsData) length = CmdmonServer.Answer(parsed, data, reply);
        return reply[..length];
    }
}
