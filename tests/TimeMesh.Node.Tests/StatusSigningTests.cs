using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TimeMesh.Cli.Certificates;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Signed statuses with certificates made by <c>timemesh cert</c> (StatusSigning, StatusWire, StatusAuthentication):
/// what a receiver concludes for honest, forged and replayed statuses, and what a signed status costs on the wire and
/// in CPU (printed).
/// </summary>
public class StatusSigningTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const string NodeA = "akka.ssl.tcp://timemesh@10.0.0.11:4053";
    private readonly string _dir = Directory.CreateTempSubdirectory("tm-sign").FullName;
    private readonly DateTimeOffset _now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private MeshCertificateAuthority Ca(string name) => MeshCertificateAuthority.Init(Path.Combine(_dir, name), name, 3650, _now);

    private static X509Certificate2 CaCertificate(MeshCertificateAuthority ca) => X509Certificate2.CreateFromPem(File.ReadAllText(ca.CertificatePath));

    private StatusSigning Signer(MeshCertificateAuthority ca, string name, MeshRole role, params string[] ips) =>
        new(ca.Issue(new MeshCertificateAuthority.NodeRequest(name, role, ips.Select(IPAddress.Parse).ToList(), [], 30), _now), CaCertificate(ca));

    private static TimeStatus Status(string node = NodeA) => new()
    {
        Node = node, Role = MeshRole.Master, NtpEndpoint = "10.0.0.11:123", Stratum = 2, RootDistanceSeconds = 0.0125,
        UpstreamSynchronised = true, Serving = true, ReferenceId = 0x0A00000B, ClaimsLeadership = true, SentUnixNs = 1,
    };

    /// <summary>What the receiver concludes, as the mesh actor does (member A at UID 77, nothing bound yet).</summary>
    private static StatusVerdict Receive(StatusSigning receiver, SignedStatus signed, ReplayWindow window, DateTimeOffset now, long uid = 77)
    {
        // Over the wire and back, as the serializer carries it.
        var received = StatusWire.DecodeSignedMessage(StatusWire.EncodeSigned(signed));
        var examined = receiver.Examine(received, node => node == NodeA ? uid : null, _ => false, out string? reason);
        return examined is { } e ? StatusAuthentication.Judge(e.Evidence, now, window) : new StatusVerdict(reason);
    }

    [Fact]
    public void Honest_statuses_are_taken_and_forged_or_replayed_ones_dropped_by_reason()
    {
        var ca = Ca("mesh");
        using var a = Signer(ca, "master-a", MeshRole.Master, "10.0.0.11");
        using var m = Signer(ca, "member-m", MeshRole.Member, "10.0.0.21");
        using var intruder = Signer(ca, "intruder", MeshRole.Member, "10.0.0.50");
        using var stranger = Signer(Ca("other"), "master-a", MeshRole.Master, "10.0.0.11");
        var window = new ReplayWindow();

        var honest = a.Sign(Status(), 77, 1);
        Assert.Equal(new StatusVerdict(null), Receive(m, honest, window, _now));
        Assert.Equal(StatusAuthentication.Replayed, Receive(m, honest, window, _now).Reason);
        Assert.Null(Receive(m, a.Sign(Status(), 77, 2), window, _now).Reason);
        // An old incarnation's status, however new its number.
        Assert.Equal(StatusAuthentication.Replayed, Receive(m, a.Sign(Status(), 76, 100), window, _now).Reason);
        // A's name, the intruder's own (valid) certificate: not issued for A's address.
        Assert.Equal(StatusAuthentication.Certificate, Receive(m, intruder.Sign(Status(), 77, 3), window, _now).Reason);
        // A's name and A's certificate (public: any TLS handshake shows it), the intruder's signature.
        Assert.Equal(StatusAuthentication.BadSignature, Receive(m, intruder.Sign(Status(), 77, 3) with { Certificate = a.OwnCertificate }, window, _now).Reason);
        // A's real signature over other bytes: the NTP endpoint changed after signing.
        var tampered = a.Sign(Status(), 77, 3);
        byte[] payload = StatusWire.SigningPayload(Status() with { NtpEndpoint = "10.0.0.50:123" }, 77, 3);
        Assert.Equal(StatusAuthentication.BadSignature, Receive(m, tampered with { Payload = payload }, window, _now).Reason);
        // A certificate of another CA for A's very address.
        Assert.Equal(StatusAuthentication.Certificate, Receive(m, stranger.Sign(Status(), 77, 3), window, _now).Reason);
        // Outside A's certificate's validity (30 days).
        Assert.Equal(StatusAuthentication.Certificate, Receive(m, a.Sign(Status(), 77, 3), window, _now.AddDays(31)).Reason);
        // Junk certificate bytes.
        Assert.Equal(StatusAuthentication.Certificate, Receive(m, a.Sign(Status(), 77, 3) with { Certificate = [1, 2, 3] }, window, _now).Reason);
        // None of the drops moved the window: A's next status is taken.
        Assert.Null(Receive(m, a.Sign(Status(), 77, 3), window, _now).Reason);
    }

    [Fact]
    public void A_shared_member_certificate_speaks_only_as_a_member()
    {
        var ca = Ca("mesh");
        using var m = Signer(ca, "member-m", MeshRole.Member, "10.0.0.21");
        using var pods = Signer(ca, "member", MeshRole.Member);
        var verdict = Receive(m, pods.Sign(Status(), 77, 1), new ReplayWindow(), _now);
        Assert.Equal(new StatusVerdict(null, AsMemberOnly: true), verdict);
        var examined = m.Examine(pods.Sign(Status(), 77, 2), _ => 77, _ => true, out _)!.Value;
        Assert.Equal(StatusAuthentication.Certificate, StatusAuthentication.Judge(examined.Evidence, _now, new ReplayWindow()).Reason);
    }

    [Fact]
    public void Rsa_keys_sign_and_verify_too()
    {
        var ca = Ca("mesh");
        using var caKey = ECDsa.Create();
        caKey.ImportFromPem(File.ReadAllText(ca.KeyPath));
        using var caCert = CaCertificate(ca);
        using var caWithKey = caCert.CopyWithPrivateKey(caKey);
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=rsa-a", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse("10.0.0.11"));
        san.AddUri(new Uri(RoleCertificates.RoleUri(MeshRole.Master)));
        request.CertificateExtensions.Add(san.Build());
        using var issued = request.Create(caCert.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), _now.AddDays(-1), _now.AddDays(30), RandomNumberGenerator.GetBytes(8));
        using var a = new StatusSigning(issued.CopyWithPrivateKey(rsa), CaCertificate(ca));
        using var m = Signer(ca, "member-m", MeshRole.Member, "10.0.0.21");
        Assert.Null(Receive(m, a.Sign(Status(), 77, 1), new ReplayWindow(), _now).Reason);
    }

    [Fact]
    public void The_certificate_cache_is_bounded()
    {
        var ca = Ca("mesh");
        using var m = Signer(ca, "member-m", MeshRole.Member, "10.0.0.21");
        for (int i = 0; i < StatusSigning.MaxCachedCertificates + 5; i++)
        {
            using var other = ca.Issue(new MeshCertificateAuthority.NodeRequest("n" + i, MeshRole.Member, [], [], 30), _now);
            Assert.NotNull(m.Check(other.RawData));
        }
        Assert.InRange(m.CachedCertificates, 1, StatusSigning.MaxCachedCertificates);
    }

    /// <summary>The figures for docs/mesh.md: bytes on the wire and the CPU cost of signing and verifying one status.</summary>
    [Fact]
    public void Measure_status_size_and_sign_and_verify_cost()
    {
        var ca = Ca("mesh");
        using var a = Signer(ca, "master-a", MeshRole.Master, "10.0.0.11");
        using var m = Signer(ca, "member-m", MeshRole.Member, "10.0.0.21");
        int unsigned = StatusWire.Encode(Status()).Length;
        var one = a.Sign(Status(), 77, 1);
        int signedBytes = StatusWire.EncodeSigned(one).Length;
        output.WriteLine($"measured: status {unsigned} bytes unsigned, {signedBytes} signed (payload {one.Payload.Length}, certificate {one.Certificate.Length}, signature {one.Signature.Length})");
        Assert.InRange(signedBytes, unsigned + 64, unsigned + 64 + 1200);

        const int n = 2000;
        var window = new ReplayWindow();
        for (int i = 1; i <= 50; i++) Receive(m, a.Sign(Status(), 77, i), window, _now); // warm up (and fill the chain cache)
        var signedStatuses = new SignedStatus[n];
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < n; i++) signedStatuses[i] = a.Sign(Status(), 77, 100 + i);
        double signUs = watch.Elapsed.TotalMicroseconds / n;
        watch.Restart();
        int taken = 0;
        for (int i = 0; i < n; i++) taken += Receive(m, signedStatuses[i], window, _now).Taken ? 1 : 0;
        double verifyUs = watch.Elapsed.TotalMicroseconds / n;
        using var cold = Signer(ca, "member-cold", MeshRole.Member, "10.0.0.22");
        watch.Restart();
        cold.Check(a.OwnCertificate);
        double chainUs = watch.Elapsed.TotalMicroseconds;
        output.WriteLine($"measured: ECDSA P-256 sign {signUs:0} µs per status, receive (parse, cached chain, names, verify, judge) {verifyUs:0} µs per status; first chain validation of a certificate {chainUs:0} µs; n = {n}");
        Assert.Equal(n, taken);
    }
}
