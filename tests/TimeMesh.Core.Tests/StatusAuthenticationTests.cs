using System.Net;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Core.Tests;

/// <summary>The wire forms of a status and the decision whether a signed status is taken (StatusWire, StatusAuthentication).</summary>
public class StatusAuthenticationTests
{
    private const string NodeA = "akka.ssl.tcp://timemesh@10.0.0.11:4053";
    private static readonly DateTimeOffset Now = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    private static TimeStatus Status(string node = NodeA) => new()
    {
        Node = node, Role = MeshRole.Master, NtpEndpoint = "10.0.0.11:123", Stratum = 2, RootDistanceSeconds = 0.0125,
        UpstreamSynchronised = true, Serving = true, ReferenceId = 0x0A00000B, SynchronisedSinceUnixNs = 1_700_000_000_000_000_000,
        ClaimsLeadership = true, SentUnixNs = 1_764_849_600_123_456_789,
    };

    /// <summary>Evidence for a status that passes every check; tests spoil one field at a time.</summary>
    private static StatusEvidence Good(long sequence = 10, string node = NodeA) => new(
        node, Incarnation: 77, Sequence: sequence, ChainsToMeshCa: true, NotBefore: Now.AddDays(-1), NotAfter: Now.AddDays(30),
        Addresses: [IPAddress.Parse("10.0.0.11")], DnsNames: ["a.mesh.example"], SignatureValid: true, MemberIncarnation: 77);

    [Fact]
    public void A_status_survives_both_wire_forms_field_for_field()
    {
        var status = Status();
        Assert.Equal(status, StatusWire.Decode(StatusWire.Encode(status)));
        byte[] payload = StatusWire.SigningPayload(status, incarnation: -123456789, sequence: 42);
        var (decoded, incarnation, sequence) = StatusWire.DecodeSigned(payload);
        Assert.Equal((status, -123456789L, 42L), (decoded, incarnation, sequence));
        var signed = new SignedStatus(payload, [1, 2, 3], [9, 8]);
        var back = StatusWire.DecodeSignedMessage(StatusWire.EncodeSigned(signed));
        Assert.Equal(signed.Payload, back.Payload);
        Assert.Equal(signed.Certificate, back.Certificate);
        Assert.Equal(signed.Signature, back.Signature);
    }

    [Fact]
    public void The_signed_bytes_cover_every_field_the_receiver_uses()
    {
        byte[] reference = StatusWire.SigningPayload(Status(), 1, 1);
        var variants = new[]
        {
            Status() with { Node = "akka.ssl.tcp://timemesh@10.0.0.12:4053" },
            Status() with { Role = MeshRole.Member },
            Status() with { NtpEndpoint = "10.0.0.50:123" },
            Status() with { Stratum = 1 },
            Status() with { RootDistanceSeconds = 0.0126 },
            Status() with { UpstreamSynchronised = false },
            Status() with { Serving = false },
            Status() with { ReferenceId = 1 },
            Status() with { SynchronisedSinceUnixNs = 1 },
            Status() with { ClaimsLeadership = false },
            Status() with { SentUnixNs = 1 },
        };
        foreach (var v in variants) Assert.False(reference.AsSpan().SequenceEqual(StatusWire.SigningPayload(v, 1, 1)), $"not covered: {v}");
        Assert.False(reference.AsSpan().SequenceEqual(StatusWire.SigningPayload(Status(), 2, 1)), "incarnation not covered");
        Assert.False(reference.AsSpan().SequenceEqual(StatusWire.SigningPayload(Status(), 1, 2)), "sequence not covered");
        // The tag keeps a signed status apart from a bare one (and from any other signed message).
        Assert.Throws<StatusFormatException>(() => StatusWire.DecodeSigned(StatusWire.Encode(Status())));
    }

    [Fact]
    public void A_status_with_bytes_after_it_or_an_unknown_role_is_refused_not_read_in_part()
    {
        byte[] good = StatusWire.Encode(Status());
        Assert.Equal(Status(), StatusWire.Decode(good));
        Assert.Throws<StatusFormatException>(() => StatusWire.Decode([.. good, 0]));
        byte[] badRole = [.. good];
        badRole[1] = 7;
        Assert.Throws<StatusFormatException>(() => StatusWire.Decode(badRole));
        // Inside a signed payload too: the signature covers the bytes, so trailing junk there was signed junk.
        byte[] payload = StatusWire.SigningPayload(Status(), 1, 1);
        Assert.Throws<StatusFormatException>(() => StatusWire.DecodeSigned([.. payload, 0]));
    }

    [Fact]
    public void Malformed_signed_messages_are_refused_at_the_parse_boundary()
    {
        byte[] good = StatusWire.EncodeSigned(new SignedStatus(StatusWire.SigningPayload(Status(), 1, 1), new byte[500], new byte[64]));
        for (int cut = 0; cut < good.Length; cut += 37)
            Assert.Throws<StatusFormatException>(() => StatusWire.DecodeSignedMessage(good.AsSpan(0, cut)));
        Assert.Throws<StatusFormatException>(() => StatusWire.DecodeSignedMessage([.. good, 0]));
        Assert.Throws<StatusFormatException>(() => StatusWire.DecodeSignedMessage(StatusWire.Encode(Status())));
        var oversized = new byte[1 + 6 + StatusWire.MaxCertificateBytes + 1];
        oversized[0] = StatusWire.Version2;
        oversized[3] = (StatusWire.MaxCertificateBytes + 1) >> 8;
        oversized[4] = (StatusWire.MaxCertificateBytes + 1) & 0xFF;
        Assert.Throws<StatusFormatException>(() => StatusWire.DecodeSignedMessage(oversized));
    }

    [Fact]
    public void A_good_status_is_taken_and_each_broken_check_names_its_reason()
    {
        Assert.Equal(new StatusVerdict(null), StatusAuthentication.Judge(Good(), Now, new ReplayWindow()));
        var cases = new (StatusEvidence Evidence, string Reason)[]
        {
            (Good() with { ChainsToMeshCa = false }, StatusAuthentication.Certificate),
            (Good() with { NotAfter = Now }, StatusAuthentication.Certificate),
            (Good() with { NotBefore = Now.AddSeconds(1) }, StatusAuthentication.Certificate),
            // A certificate of the mesh CA, but issued for another host: a member's certificate naming a master.
            (Good() with { Addresses = [IPAddress.Parse("10.0.0.50")], DnsNames = [] }, StatusAuthentication.Certificate),
            (Good() with { SignatureValid = false }, StatusAuthentication.BadSignature),
            (Good() with { MemberIncarnation = 76 }, StatusAuthentication.Replayed),
            (Good() with { MemberIncarnation = null }, StatusAuthentication.Replayed),
        };
        foreach (var (evidence, reason) in cases) Assert.Equal(reason, StatusAuthentication.Judge(evidence, Now, new ReplayWindow()).Reason);
    }

    [Fact]
    public void Only_a_newer_sequence_of_the_same_incarnation_is_taken()
    {
        var window = new ReplayWindow();
        Assert.Null(StatusAuthentication.Judge(Good(10), Now, window).Reason);
        Assert.Equal(StatusAuthentication.Replayed, StatusAuthentication.Judge(Good(10), Now, window).Reason);
        Assert.Equal(StatusAuthentication.Replayed, StatusAuthentication.Judge(Good(9), Now, window).Reason);
        Assert.Null(StatusAuthentication.Judge(Good(11), Now, window).Reason);
        // A dropped status does not move the window: a bad signature with a high number blocks nothing.
        Assert.Equal(StatusAuthentication.BadSignature, StatusAuthentication.Judge(Good(1000) with { SignatureValid = false }, Now, window).Reason);
        Assert.Null(StatusAuthentication.Judge(Good(12), Now, window).Reason);
        // A new incarnation (the node restarted and the cluster holds its new UID) starts again from any number.
        Assert.Null(StatusAuthentication.Judge(Good(1) with { Incarnation = 78, MemberIncarnation = 78 }, Now, window).Reason);
        // … and the old one's statuses are old news, whatever their number.
        Assert.Equal(StatusAuthentication.Replayed, StatusAuthentication.Judge(Good(13) with { MemberIncarnation = 78 }, Now, window).Reason);
        window.Forget(NodeA);
        Assert.Equal(0, window.Count);
    }

    [Fact]
    public void A_member_certificate_without_an_address_speaks_only_as_a_member_and_never_for_an_address_bound_node()
    {
        var shared = Good() with { Addresses = [], DnsNames = [], CertificateRole = MeshRole.Member };
        Assert.Equal(new StatusVerdict(null, AsMemberOnly: true), StatusAuthentication.Judge(shared, Now, new ReplayWindow()));
        // Not for a node known to hold a certificate for its address (a master, or a member issued with --ip).
        Assert.Equal(StatusAuthentication.Certificate, StatusAuthentication.Judge(shared with { NodeBoundByAddress = true }, Now, new ReplayWindow()).Reason);
        // A master certificate, or one without a role, must name the host.
        Assert.Equal(StatusAuthentication.Certificate, StatusAuthentication.Judge(shared with { CertificateRole = MeshRole.Master }, Now, new ReplayWindow()).Reason);
        Assert.Equal(StatusAuthentication.Certificate, StatusAuthentication.Judge(shared with { CertificateRole = null }, Now, new ReplayWindow()).Reason);
        // A member certificate that names some other host is no shared certificate.
        Assert.Equal(StatusAuthentication.Certificate, StatusAuthentication.Judge(
            Good() with { Addresses = [IPAddress.Parse("10.0.0.50")], DnsNames = [], CertificateRole = MeshRole.Member }, Now, new ReplayWindow()).Reason);
        // The other checks still hold for it.
        Assert.Equal(StatusAuthentication.BadSignature, StatusAuthentication.Judge(shared with { SignatureValid = false }, Now, new ReplayWindow()).Reason);
        // An address-bound certificate of the right host is fully believed.
        Assert.Equal(new StatusVerdict(null), StatusAuthentication.Judge(Good() with { CertificateRole = MeshRole.Member, NodeBoundByAddress = true }, Now, new ReplayWindow()));
    }

    [Fact]
    public void The_window_is_bounded()
    {
        var window = new ReplayWindow();
        for (int i = 0; i < ReplayWindow.MaxNodes + 10; i++) Assert.True(window.TryAdvance("node" + i, 1, 1));
        Assert.InRange(window.Count, 1, ReplayWindow.MaxNodes);
    }

    [Theory]
    [InlineData("akka.ssl.tcp://timemesh@10.0.0.11:4053", "10.0.0.11")]
    [InlineData("akka.ssl.tcp://timemesh@a.mesh.example:4053/user/mesh", "a.mesh.example")]
    [InlineData("akka.ssl.tcp://timemesh@[fd00::11]:4053", "fd00::11")]
    [InlineData("akka.ssl.tcp://timemesh@10.0.0.11", null)]
    [InlineData("timemesh@10.0.0.11:4053", null)]
    [InlineData("akka.ssl.tcp://timemesh@[fd00::11:4053", null)]
    public void The_host_of_a_node_address(string address, string? host) => Assert.Equal(host, StatusAuthentication.HostOf(address));

    [Fact]
    public void Names_match_by_ip_or_exact_dns_name()
    {
        IPAddress[] ips = [IPAddress.Parse("10.0.0.11"), IPAddress.Parse("fd00::11")];
        string[] dns = ["a.mesh.example"];
        Assert.True(StatusAuthentication.NamesHost(ips, dns, "10.0.0.11"));
        Assert.True(StatusAuthentication.NamesHost(ips, dns, "::ffff:10.0.0.11"));
        Assert.True(StatusAuthentication.NamesHost(ips, dns, "[fd00::11]"));
        Assert.True(StatusAuthentication.NamesHost(ips, dns, "A.Mesh.Example."));
        Assert.False(StatusAuthentication.NamesHost(ips, dns, "10.0.0.12"));
        Assert.False(StatusAuthentication.NamesHost(ips, dns, "b.mesh.example"));
        Assert.False(StatusAuthentication.NamesHost(ips, ["*.mesh.example"], "a.mesh.example"));
    }
}
