using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using TimeMesh.Core.Access;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;

namespace TimeMesh.Core.Tests.Nts;

public class NtsKeCodecTests
{
    [Fact]
    public void A_client_request_round_trips_through_the_server_parser()
    {
        var request = NtsKeRequest.Build();
        Assert.True(NtsKeCodec.TryFindMessage(request, NtsKeRequest.MaxLength, out int length));
        Assert.Equal(request.Length, length);
        var parsed = NtsKeRequest.Parse(request);
        Assert.True(parsed.NtpV4Offered);
        Assert.True(parsed.AesSivOffered);
    }

    [Fact]
    public void A_server_response_round_trips_through_the_client_parser()
    {
        var cookies = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)i, 100).ToArray()).ToList();
        var response = NtsKeResponse.Build(new NtsKeRequest(true, true), cookies, "ntp.example", 12345);
        var parsed = NtsKeResponse.Parse(response);
        Assert.Equal(8, parsed.Cookies.Count);
        Assert.Equal(cookies[7], parsed.Cookies[7]);
        Assert.Equal("ntp.example", parsed.Server);
        Assert.Equal(12345, parsed.Port);
    }

    [Fact]
    public void Nothing_in_common_is_answered_with_empty_negotiation_records()
    {
        var noSiv = NtsKeResponse.Build(new NtsKeRequest(true, false), [], null, null);
        var e = Assert.Throws<NtsKeProtocolException>(() => NtsKeResponse.Parse(noSiv));
        Assert.Contains("AES-SIV", e.Message);
        var noNtp = NtsKeResponse.Build(new NtsKeRequest(false, false), [], null, null);
        Assert.Contains("NTPv4", Assert.Throws<NtsKeProtocolException>(() => NtsKeResponse.Parse(noNtp)).Message);
    }

    [Fact]
    public void A_message_arrives_in_pieces()
    {
        var request = NtsKeRequest.Build();
        for (int cut = 0; cut < request.Length; cut++)
            Assert.False(NtsKeCodec.TryFindMessage(request.AsSpan(0, cut), NtsKeRequest.MaxLength, out _));
    }

    [Fact]
    public void Malformed_requests_are_refused_with_the_right_error_code()
    {
        static byte[] Records(params (bool Critical, ushort Type, byte[] Body)[] records)
        {
            var buffer = new byte[1024];
            int n = 0;
            foreach (var r in records) n += NtsKeCodec.Write(buffer.AsSpan(n), r.Critical, r.Type, r.Body);
            return buffer[..n];
        }
        byte[] ntp = [0, 0], siv = [0, 15];
        var end = (true, NtsKeRecordType.EndOfMessage, Array.Empty<byte>());

        Assert.Equal(NtsKeErrorCode.UnrecognisedCriticalRecord, Assert.Throws<NtsKeProtocolException>(() =>
            NtsKeRequest.Parse(Records((true, NtsKeRecordType.NextProtocol, ntp), (true, NtsKeRecordType.AeadAlgorithm, siv), (true, (ushort)0x4000, [1]), end))).ErrorCode);
        // An unknown record without the critical bit is ignored.
        Assert.True(NtsKeRequest.Parse(Records((true, NtsKeRecordType.NextProtocol, ntp), (false, (ushort)0x4000, [1]), (true, NtsKeRecordType.AeadAlgorithm, siv), end)).AesSivOffered);

        foreach (var bad in new[]
        {
            Records((true, NtsKeRecordType.NextProtocol, ntp), (true, NtsKeRecordType.AeadAlgorithm, siv)), // no end
            Records((true, NtsKeRecordType.AeadAlgorithm, siv), end), // no next protocol
            Records((true, NtsKeRecordType.NextProtocol, ntp), end), // no AEAD
            Records((true, NtsKeRecordType.NextProtocol, ntp), (true, NtsKeRecordType.NextProtocol, ntp), (true, NtsKeRecordType.AeadAlgorithm, siv), end),
            Records((true, NtsKeRecordType.NextProtocol, [0]), (true, NtsKeRecordType.AeadAlgorithm, siv), end), // odd length
            Records((true, NtsKeRecordType.NextProtocol, ntp), (true, NtsKeRecordType.AeadAlgorithm, siv), (true, NtsKeRecordType.NewCookie, [1, 2]), end),
            Records((true, NtsKeRecordType.NextProtocol, ntp), (true, NtsKeRecordType.AeadAlgorithm, siv), end, end), // after the end
            Records((true, NtsKeRecordType.NextProtocol, ntp), (true, NtsKeRecordType.AeadAlgorithm, siv), (true, NtsKeRecordType.EndOfMessage, [0])),
        })
        {
            Assert.Equal(NtsKeErrorCode.BadRequest, Assert.Throws<NtsKeProtocolException>(() => NtsKeRequest.Parse(bad)).ErrorCode);
        }
        // A truncated record inside a message.
        var whole = NtsKeRequest.Build();
        Assert.Throws<NtsKeProtocolException>(() => NtsKeRequest.Parse(whole.AsSpan(0, whole.Length - 5)));
    }

    [Fact]
    public void An_oversized_message_is_refused_before_its_end()
    {
        var huge = new byte[NtsKeRequest.MaxLength + 100];
        // One record claiming 65535 bytes: the reader must give up at the limit, not wait for it all.
        NtsKeCodec.Write(huge, false, 0x1234, new byte[NtsKeRequest.MaxLength + 50]);
        Assert.Throws<NtsKeProtocolException>(() => NtsKeCodec.TryFindMessage(huge, NtsKeRequest.MaxLength, out _));
        // Many small records past the limit without an end.
        var many = new byte[NtsKeRequest.MaxLength + 8];
        for (int i = 0; i + 4 <= many.Length; i += 4) NtsKeCodec.Write(many.AsSpan(i), false, 0x1234, default);
        Assert.Throws<NtsKeProtocolException>(() => NtsKeCodec.TryFindMessage(many, NtsKeRequest.MaxLength, out _));
    }

    [Fact]
    public void A_server_error_record_is_reported_with_its_code()
    {
        var e = Assert.Throws<NtsKeProtocolException>(() => NtsKeResponse.Parse(NtsKeResponse.BuildError(NtsKeErrorCode.InternalServerError)));
        Assert.Equal(NtsKeErrorCode.InternalServerError, e.ErrorCode);
    }

    [Fact]
    public void The_exporter_contexts_follow_rfc_8915()
    {
        Assert.Equal(new byte[] { 0, 0, 0, 15, 0 }, NtsIds.ExporterContext(serverToClient: false));
        Assert.Equal(new byte[] { 0, 0, 0, 15, 1 }, NtsIds.ExporterContext(serverToClient: true));
    }
}

public class NtsCookieTests
{
    private static readonly byte[] C2S = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] S2C = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public void A_sealed_cookie_opens_to_the_keys_it_carries()
    {
        var keys = NtsServerKeys.Generate(1000);
        var cookie = NtsCookie.Seal(keys, C2S, S2C);
        Assert.Equal(NtsCookie.Length, cookie.Length);
        var c2s = new byte[32];
        var s2c = new byte[32];
        Assert.True(NtsCookie.TryOpen(keys, cookie, c2s, s2c));
        Assert.Equal(C2S, c2s);
        Assert.Equal(S2C, s2c);
        // Two cookies for the same keys differ (fresh nonce): an observer cannot link them.
        Assert.NotEqual(cookie, NtsCookie.Seal(keys, C2S, S2C));
    }

    [Fact]
    public void A_tampered_cookie_or_one_of_another_server_does_not_open()
    {
        var keys = NtsServerKeys.Generate(1000);
        var cookie = NtsCookie.Seal(keys, C2S, S2C);
        var c2s = new byte[32];
        var s2c = new byte[32];
        for (int i = 0; i < cookie.Length; i++)
        {
            var bad = (byte[])cookie.Clone();
            bad[i] ^= 0x10;
            Assert.False(NtsCookie.TryOpen(keys, bad, c2s, s2c));
        }
        Assert.False(NtsCookie.TryOpen(NtsServerKeys.Generate(1000), cookie, c2s, s2c));
        Assert.False(NtsCookie.TryOpen(keys, cookie.AsSpan(0, 99), c2s, s2c));
    }

    [Fact]
    public void After_one_rotation_old_cookies_open_after_two_they_do_not()
    {
        var keys = NtsServerKeys.Generate(1000);
        var cookie = NtsCookie.Seal(keys, C2S, S2C);
        Assert.False(keys.RotationDue(1000 + 86399, 86400));
        Assert.True(keys.RotationDue(1000 + 86400, 86400));
        var once = keys.Rotate(1000 + 86400);
        Assert.NotEqual(keys.Current.Id, once.Current.Id);
        var c2s = new byte[32];
        var s2c = new byte[32];
        Assert.True(NtsCookie.TryOpen(once, cookie, c2s, s2c));
        var twice = once.Rotate(1000 + 2 * 86400);
        Assert.False(NtsCookie.TryOpen(twice, cookie, c2s, s2c));
    }

    [Fact]
    public void Keys_survive_their_file_form_and_a_damaged_file_is_refused()
    {
        var keys = NtsServerKeys.Generate(1000).Rotate(2000);
        var cookie = NtsCookie.Seal(keys, C2S, S2C);
        var restored = NtsServerKeys.Parse(keys.Serialize());
        Assert.Equal(keys.Current.Id, restored.Current.Id);
        Assert.Equal(keys.Previous!.Id, restored.Previous!.Id);
        Assert.Equal(2000, restored.Current.CreatedUnixSeconds);
        Assert.True(NtsCookie.TryOpen(restored, cookie, new byte[32], new byte[32]));

        Assert.Throws<FormatException>(() => NtsServerKeys.Parse(""));
        Assert.Throws<FormatException>(() => NtsServerKeys.Parse("00000001 5 abcd"));
        Assert.Throws<FormatException>(() => NtsServerKeys.Parse("zz 5 " + new string('0', 64)));
        Assert.Throws<FormatException>(() => NtsServerKeys.Parse("00000001 5 " + new string('g', 64)));
    }
}

public class NtsServerAndClientTests
{
    private const long Now = 1_795_490_474L * 1_000_000_000 + 379_219_187;
    private static readonly IpAddress128 Loopback = IpAddress128.FromIPAddress(IPAddress.Loopback);

    private static readonly byte[] C2S = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] S2C = RandomNumberGenerator.GetBytes(32);

    private static ServerSnapshot Snapshot() => new()
    {
        Reference = ReferenceState.Local(1),
        Access = AccessList.FromSpecs(["127.0.0.0/8"], []),
        PrecisionLog2 = -24,
    };

    private static (NtpServerHandler Handler, NtsServerKeys Keys) Server()
    {
        var keys = NtsServerKeys.Generate(1000);
        return (new NtpServerHandler(new ClientLog(524288, null, 1)) { Nts = new NtsServerExtension(keys) }, keys);
    }

    private static NtsClientSession Client(NtsServerKeys keys, int cookies = 8) =>
        new(C2S, S2C, Enumerable.Range(0, cookies).Select(_ => NtsCookie.Seal(keys, C2S, S2C)));

    private static byte[] Request(NtsClientSession client, ulong transmit = 0x1122334455667788)
    {
        var packet = new byte[1200];
        new NtpHeader(LeapIndicator.Unsynchronised, 4, NtpMode.Client, 0, 6, 0x20, NtpShort.Zero, NtpShort.Zero, 0,
            NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero, new NtpTimestamp(transmit)).Write(packet);
        Assert.True(client.TryAppendRequestFields(packet, out int length));
        return packet[..length];
    }

    private static (ServerVerdict Verdict, byte[] Reply) Handle(NtpServerHandler handler, byte[] request)
    {
        var reply = new byte[2048];
        var verdict = handler.Handle(request, Loopback, Now, Snapshot(), reply, out int length);
        return (verdict, reply[..length]);
    }

    [Fact]
    public void A_good_request_gets_an_authenticated_reply_no_larger_and_the_client_refills_its_jar()
    {
        var (handler, keys) = Server();
        using var client = Client(keys, cookies: 3);
        var request = Request(client);
        Assert.Equal(2, client.CookieCount);
        var (verdict, reply) = Handle(handler, request);
        Assert.Equal(ServerVerdict.RespondAuthenticated, verdict);
        Assert.True(reply.Length <= request.Length, $"reply {reply.Length} > request {request.Length}");
        Assert.Equal(request.Length, reply.Length);
        var header = NtpHeader.Read(reply);
        Assert.Equal(NtpMode.Server, header.Mode);
        Assert.Equal(1, header.Stratum);
        Assert.Equal(0x1122334455667788UL, header.OriginTime.Value);
        // The authenticated transmit time is set, not left for a later stamp.
        Assert.False(NtpServerHandler.NeedsTransmitStamp(verdict));
        Assert.Equal(NtpTimestamp.FromUnixNanoseconds(Now), header.TransmitTime);

        Assert.Equal(NtsReplyCheck.Authentic, client.CheckReply(reply));
        // 2 left + 1 used + 5 placeholders: the server sent 6, the jar is full again.
        Assert.Equal(8, client.CookieCount);
        // A replay of the same reply is not accepted twice.
        Assert.Equal(NtsReplyCheck.Bogus, client.CheckReply(reply));
    }

    [Fact]
    public void A_cookie_the_server_does_not_know_gets_an_NTSN_kiss_the_client_believes()
    {
        var (handler, _) = Server();
        using var client = Client(NtsServerKeys.Generate(5), cookies: 1);
        var request = Request(client);
        var (verdict, reply) = Handle(handler, request);
        Assert.Equal(ServerVerdict.RespondKissOfDeath, verdict);
        var header = NtpHeader.Read(reply);
        Assert.Equal(0, header.Stratum);
        Assert.Equal(ReferenceIds.KissNtsNak, header.ReferenceId);
        Assert.True(reply.Length <= request.Length);
        Assert.Equal(NtsReplyCheck.CookieNotRecognised, client.CheckReply(reply));
        Assert.Equal(0, client.CookieCount);
        Assert.False(client.TryAppendRequestFields(new byte[1200], out _));
    }

    [Fact]
    public void A_tampered_request_gets_no_answer()
    {
        var (handler, keys) = Server();
        using var client = Client(keys);
        var good = Request(client);
        // Any byte of the header or the authenticator's ciphertext changed: not authentic, no answer.
        foreach (int at in new[] { 0x28, 0x2F, good.Length - 1, good.Length - 17 })
        {
            var bad = (byte[])good.Clone();
            bad[at] ^= 1;
            Assert.Equal(ServerVerdict.DroppedAuthentication, Handle(handler, bad).Verdict);
        }
        // The same request untouched is answered.
        Assert.Equal(ServerVerdict.RespondAuthenticated, Handle(handler, good).Verdict);
    }

    [Fact]
    public void Requests_with_missing_or_doubled_nts_fields_are_dropped_and_plain_requests_still_served()
    {
        var (handler, keys) = Server();
        using var client = Client(keys);
        var good = Request(client);
        // Without its unique identifier (the first field, 36 bytes): dropped.
        var noUid = good.Take(48).Concat(good.Skip(48 + 36)).ToArray();
        Assert.Equal(ServerVerdict.DroppedAuthentication, Handle(handler, noUid).Verdict);
        // A plain request with an unrelated extension field is answered as plain NTP.
        var plain = new byte[48 + 28];
        new NtpHeader(0, 4, NtpMode.Client, 0, 6, 0x20, NtpShort.Zero, NtpShort.Zero, 0,
            NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero, new NtpTimestamp(7)).Write(plain);
        BinaryPrimitives.WriteUInt16BigEndian(plain.AsSpan(48), 0x2005);
        BinaryPrimitives.WriteUInt16BigEndian(plain.AsSpan(50), 28);
        Assert.Equal(ServerVerdict.Respond, Handle(handler, plain).Verdict);
        Assert.Equal(ServerVerdict.Respond, Handle(handler, plain[..48]).Verdict);
        // A server without NTS answers an NTS request as plain NTP (as chrony does without ntsserverkey).
        var noNts = new NtpServerHandler(new ClientLog(524288, null, 1));
        Assert.Equal(ServerVerdict.Respond, Handle(noNts, good).Verdict);
    }

    [Fact]
    public void The_client_rejects_forged_and_foreign_replies()
    {
        var (handler, keys) = Server();
        using var client = Client(keys);
        var (_, reply) = Handle(handler, Request(client));
        for (int at = 0; at < reply.Length; at += 7)
        {
            if (at is >= 48 and < 52) continue; // the field header of the unique id: parsing rejects this differently
            var bad = (byte[])reply.Clone();
            bad[at] ^= 4;
            Assert.Equal(NtsReplyCheck.Bogus, client.CheckReply(bad));
        }
        Assert.Equal(NtsReplyCheck.Authentic, client.CheckReply(reply));

        // A reply sealed with other keys, to the right unique id, is not authentic.
        using var other = new NtsClientSession(RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32),
            [NtsCookie.Seal(keys, C2S, RandomNumberGenerator.GetBytes(32))]);
        var request = Request(client);
        var (_, foreign) = Handle(handler, request);
        Assert.Equal(NtsReplyCheck.Authentic, client.CheckReply(foreign));
        // An NTSN kiss without our unique id is ignored.
        var kiss = new byte[48];
        new NtpHeader(LeapIndicator.Unsynchronised, 4, NtpMode.Server, 0, 6, 0, NtpShort.Zero, NtpShort.Zero, ReferenceIds.KissNtsNak,
            NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero).Write(kiss);
        Request(client);
        Assert.Equal(NtsReplyCheck.Bogus, client.CheckReply(kiss));
    }

    [Fact]
    public void After_warm_up_the_server_path_allocates_little_per_request()
    {
        var (handler, keys) = Server();
        using var client = Client(keys);
        var request = Request(client);
        var reply = new byte[2048];
        var snapshot = Snapshot();
        handler.Handle(request, Loopback, Now, snapshot, reply, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) handler.Handle(request, Loopback, Now, snapshot, reply, out _);
        long perRequest = (GC.GetAllocatedBytesForCurrentThread() - before) / 200;
        // What remains is inside the base library's one-shot AES calls (a wrapper per call), not ours.
        Assert.True(perRequest < 16 * 1024, $"{perRequest} bytes per NTS request");
    }
}
