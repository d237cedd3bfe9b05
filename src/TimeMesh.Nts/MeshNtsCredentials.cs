using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Nts;

namespace TimeMesh.Nts;

/// <summary>
/// NTS inside the mesh, with the cluster's TLS credentials and nothing else: a node's cluster certificate and key
/// are its NTS-KE identity (a master's as server, everyone's as client), and the mesh CA is the only trust anchor
/// (the system's roots are never consulted). A master's certificate must carry the master role.
/// </summary>
public sealed class MeshNtsCredentials : IMeshNtsCredentials
{
    private MeshNtsCredentials(NtsServerCredentials own, X509Certificate2 ca, int kePort)
    {
        Own = own;
        Ca = ca;
        KePort = kePort;
    }

    /// <summary>This node's certificate and key, as the TLS library takes them.</summary>
    internal NtsServerCredentials Own { get; }

    /// <summary>The mesh CA: the one certificate a peer's chain must end in.</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>The port every master's mesh NTS-KE listens on (<c>timemesh.mesh.nts-port</c>).</summary>
    public int KePort { get; }

    /// <summary>Loads the node's cluster certificate (with its key) and the mesh CA.</summary>
    public static MeshNtsCredentials FromClusterTls(TimeMesh.Node.Mesh.ClusterTlsSettings tls, int kePort)
    {
        using var certificate = tls.LoadCertificate();
        return new MeshNtsCredentials(CredentialsOf(certificate), tls.LoadCa(), kePort);
    }

    /// <summary>For tests: credentials from a certificate with its key and a CA certificate.</summary>
    public static MeshNtsCredentials From(X509Certificate2 certificateWithKey, X509Certificate2 ca, int kePort) =>
        new(CredentialsOf(certificateWithKey), ca, kePort);

    private static NtsServerCredentials CredentialsOf(X509Certificate2 certificate)
    {
        // The key leaves .NET as PKCS#8 bytes for BouncyCastle's TLS, which signs the handshakes; the copy is wiped.
        byte[] pkcs8 = ExportPkcs8(certificate);
        try
        {
            return new NtsServerCredentials { ChainDer = [certificate.RawData], PrivateKey = PrivateKeyFactory.CreateKey(pkcs8) };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    private static byte[] ExportPkcs8(X509Certificate2 certificate)
    {
        using AsymmetricAlgorithm key = (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey() ?? certificate.GetRSAPrivateKey()
            ?? throw new InvalidDataException($"the cluster certificate {certificate.Subject} has no ECDSA or RSA private key");
        try
        {
            return key.ExportPkcs8PrivateKey();
        }
        catch (CryptographicException)
        {
            // A key loaded as not exportable: one round through an encrypted PKCS#8 export, which such keys allow.
            byte[] password = RandomNumberGenerator.GetBytes(16);
            var pbe = new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1);
            byte[] encrypted = key.ExportEncryptedPkcs8PrivateKey(password, pbe);
            using AsymmetricAlgorithm copy = key is ECDsa ? ECDsa.Create() : RSA.Create();
            copy.ImportEncryptedPkcs8PrivateKey(password, encrypted, out _);
            return copy.ExportPkcs8PrivateKey();
        }
    }

    /// <summary>The leaf of a TLS peer's chain when the chain ends in the mesh CA; otherwise a TLS alert saying why.</summary>
    internal X509Certificate2 CheckChain(Certificate presented, string who)
    {
        if (presented.IsEmpty) throw new TlsFatalAlert(AlertDescription.certificate_required, $"{who} presented no certificate");
        var leaf = X509CertificateLoader.LoadCertificate(presented.GetCertificateAt(0).GetEncoded());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        for (int i = 1; i < presented.Length; i++) chain.ChainPolicy.ExtraStore.Add(X509CertificateLoader.LoadCertificate(presented.GetCertificateAt(i).GetEncoded()));
        bool trusted = chain.Build(leaf) && chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(Ca.RawDataMemory.Span);
        if (!trusted)
        {
            string why = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0));
            string subject = leaf.Subject;
            leaf.Dispose();
            throw new TlsFatalAlert(AlertDescription.bad_certificate,
                $"{who}'s certificate {subject} does not chain to the mesh CA {Ca.Subject}{(why.Length > 0 ? " (" + why + ")" : "")}");
        }
        return leaf;
    }

    /// <summary>
    /// The client's check of a master: chained to the mesh CA, the master role, issued for a name or address this
    /// node knows the master by. Throws a TLS alert with the reason.
    /// </summary>
    internal void CheckMaster(Certificate presented, IReadOnlyList<string> names)
    {
        using var leaf = CheckChain(presented, "the master");
        bool nameMatched = names.Any(n => leaf.MatchesHostname(n, allowWildcards: false, allowCommonName: false));
        if (MeshNtpAuthentication.CheckMaster(RoleCertificates.ReadRole(leaf), nameMatched, string.Join(" or ", names)) is { } refusal)
            throw new TlsFatalAlert(AlertDescription.bad_certificate, $"refused {leaf.Subject}: {refusal}");
    }
}
