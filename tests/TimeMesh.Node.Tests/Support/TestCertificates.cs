using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// A throw-away CA and a server certificate for 127.0.0.1, ::1 and localhost, made by the test and written
/// as PEM files into a private temp directory (ECDSA P-256 by default, RSA 2048 on request).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    public string Directory { get; }
    public string CaPath => Path.Combine(Directory, "ca.pem");
    public string CertificatePath => Path.Combine(Directory, "server.pem");
    public string KeyPath => Path.Combine(Directory, "server-key.pem");
    /// <summary>A CA nobody trusts, for negative tests.</summary>
    public string OtherCaPath => Path.Combine(Directory, "other-ca.pem");

    public TestCertificates(bool rsa = false, string[]? names = null)
    {
        Directory = Path.Combine(Path.GetTempPath(), "tm-nts-certs-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(Directory);
        File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var now = DateTimeOffset.UtcNow;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=TimeMesh test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        File.WriteAllText(CaPath, ca.ExportCertificatePem() + "\n");

        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = new CertificateRequest("CN=Untrusted CA", otherKey, HashAlgorithmName.SHA256).CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        File.WriteAllText(OtherCaPath, other.ExportCertificatePem() + "\n");

        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names ?? ["127.0.0.1", "::1", "localhost"])
        {
            if (IPAddress.TryParse(name, out var ip)) san.AddIpAddress(ip);
            else san.AddDnsName(name);
        }
        AsymmetricAlgorithm serverKey = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using (serverKey)
        {
            var request = serverKey is RSA r
                ? new CertificateRequest("CN=localhost", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                : new CertificateRequest("CN=localhost", (ECDsa)serverKey, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | (rsa ? X509KeyUsageFlags.KeyEncipherment : 0), true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
            var serial = RandomNumberGenerator.GetBytes(12);
            serial[0] &= 0x7F;
            using var server = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddDays(-1), now.AddDays(29), serial);
            File.WriteAllText(CertificatePath, server.ExportCertificatePem() + "\n");
            File.WriteAllText(KeyPath, serverKey.ExportPkcs8PrivateKeyPem() + "\n");
        }
        File.SetUnixFileMode(KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, true); } catch (IOException) { }
    }
}
