using System.Net;
using System.Security.Cryptography;
using TimeMesh.Core.Access;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;

namespace TimeMesh.Core.Tests.Nts;

/// <summary>
/// Authenticated mesh NTP, the core parts: the start-up decision, the check of a master's certificate facts, and the
/// socket-side filter that lets only the authenticated reply to a request end its wait.
/// </summary>
public class MeshNtsTests
{
    [Theory]
    [InlineData(MeshAuthenticationMode.Auto, true, MeshNtpDecision.Authenticated)]
    [InlineData(MeshAuthenticationMode.Auto, false, MeshNtpDecision.PlainWithoutTls)]
    [InlineData(MeshAuthenticationMode.On, true, MeshNtpDecision.Authenticated)]
    [InlineData(MeshAuthenticationMode.On, false, MeshNtpDecision.Refused)]
    [InlineData(MeshAuthenticationMode.Off, true, MeshNtpDecision.PlainByChoice)]
    [InlineData(MeshAuthenticationMode.Off, false, MeshNtpDecision.PlainWithoutTls)]
    public void The_mode_and_cluster_tls_decide_mesh_ntp(MeshAuthenticationMode mode, bool tls, MeshNtpDecision expected) =>
        Assert.Equal(expected, MeshNtpAuthentication.Decide(mode, tls));

    [Fact]
    public void Only_a_master_certificate_issued_for_the_dialled_name_may_serve_mesh_time()
    {
        Assert.Null(MeshNtpAuthentication.CheckMaster(MeshRole.Master, nameMatched: true, "10.0.0.1"));
        Assert.Contains("says member", MeshNtpAuthentication.CheckMaster(MeshRole.Member, true, "10.0.0.1"));
        Assert.Contains("no role", MeshNtpAuthentication.CheckMaster(null, true, "10.0.0.1"));
        Assert.Contains("not issued for 10.0.0.1", MeshNtpAuthentication.CheckMaster(MeshRole.Master, false, "10.0.0.1"));
        // The role is checked before the name: a member certificate is refused for what it is, wherever it is.
        Assert.Contains("says member", MeshNtpAuthentication.CheckMaster(MeshRole.Member, false, "10.0.0.1"));
    }

    private const long Now = 1_795_490_474L * 1_000_000_000;
    private static readonly byte[] C2S = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] S2C = RandomNumberGenerator.GetBytes(32);

    private static byte[] Request(NtsClientSession client, ulong transmit)
    {
        var packet = new byte[1200];
        new NtpHeader(LeapIndicator.Unsynchronised, 4, NtpMode.Client, 0, 6, 0x20, NtpShort.Zero, NtpShort.Zero, 0,
            NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero, new NtpTimestamp(transmit)).Write(packet);
        Assert.True(client.TryAppendRequestFields(packet, out int length));
        return packet[..length];
    }

    private static byte[] Answer(NtsServerKeys keys, byte[] request)
    {
        var handler = new NtpServerHandler(new ClientLog(524288, null, 1)) { Nts = new NtsServerExtension(keys) };
        var snapshot = new ServerSnapshot { Reference = ReferenceState.Local(1), Access = AccessList.FromSpecs(["127.0.0.0/8"], []), PrecisionLog2 = -24 };
        var reply = new byte[2048];
        handler.Handle(request, IpAddress128.FromIPAddress(IPAddress.Loopback), Now, snapshot, reply, out int length);
        return reply[..length];
    }

    /// <summary>
    /// What an attacker on the path sends: the request's origin timestamp and even its unique identifier copied, a
    /// time an hour ahead, and an authenticator it cannot compute.
    /// </summary>
    private static byte[] Forge(byte[] request, byte[] genuine)
    {
        var forged = (byte[])genuine.Clone();
        var header = NtpHeader.Read(genuine);
        var late = NtpTimestamp.FromUnixNanoseconds(Now + 3_600_000_000_000);
        (header with { ReceiveTime = late, TransmitTime = late }).Write(forged);
        return forged;
    }

    [Fact]
    public void The_socket_filter_passes_the_authenticated_reply_and_refuses_forgeries_with_a_copied_origin_and_unique_id()
    {
        var keys = NtsServerKeys.Generate(1000);
        using var client = new NtsClientSession(C2S, S2C, Enumerable.Range(0, 8).Select(_ => NtsCookie.Seal(keys, C2S, S2C)));
        Assert.Null(client.PendingReplyFilter()); // nothing asked yet
        var request = Request(client, 0x1122334455667788);
        using var filter = client.PendingReplyFilter()!;
        var genuine = Answer(keys, request);

        var forged = Forge(request, genuine);
        Assert.Equal(0x1122334455667788UL, NtpHeader.Read(forged).OriginTime.Value);
        var plain = genuine[..NtpHeader.Length]; // the same reply without its NTS fields
        var otherKey = (byte[])genuine.Clone();
        otherKey[^1] ^= 0x40; // one bit of the authenticator's ciphertext
        foreach (var bad in new[] { forged, plain, otherKey, new byte[3], Array.Empty<byte>() }) Assert.False(filter.Accepts(bad));
        Assert.Equal(5, filter.Refused);
        Assert.True(filter.Accepts(genuine));
        Assert.Equal(5, filter.Refused);

        // The filter changed nothing in the session: the session still takes the genuine reply and its cookies.
        Assert.Equal(NtsReplyCheck.Authentic, client.CheckReply(genuine));
        Assert.Equal(8, client.CookieCount);
    }

    [Fact]
    public void A_reply_to_an_earlier_request_and_an_NTSN_kiss_for_another_request_are_refused_a_kiss_for_this_one_passes()
    {
        var keys = NtsServerKeys.Generate(1000);
        using var client = new NtsClientSession(C2S, S2C, Enumerable.Range(0, 8).Select(_ => NtsCookie.Seal(keys, C2S, S2C)));
        var first = Request(client, 1);
        var firstReply = Answer(keys, first);
        var second = Request(client, 2);
        using var filter = client.PendingReplyFilter()!;
        // A replay of the genuine reply to the earlier request: authentic once, but not for this request.
        Assert.False(filter.Accepts(firstReply));
        Assert.True(filter.Accepts(Answer(keys, second)));

        // An NTSN kiss (cookie not recognised) carries no authenticator: only its unique id ties it to the request.
        using var stranger = new NtsClientSession(C2S, S2C, [NtsCookie.Seal(NtsServerKeys.Generate(5), C2S, S2C)]);
        var third = Request(stranger, 3);
        using var strangerFilter = stranger.PendingReplyFilter()!;
        var kiss = Answer(keys, third);
        Assert.Equal(ReferenceIds.KissNtsNak, NtpHeader.Read(kiss).ReferenceId);
        Assert.False(filter.Accepts(kiss));
        Assert.True(strangerFilter.Accepts(kiss));
    }
}
