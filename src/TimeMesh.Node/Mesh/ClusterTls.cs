using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor.Setup;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// <c>timemesh.cluster-tls { certificate = "node.pfx", password = "…", ca = "ca.pem" }</c>: the cluster
/// transport (Akka.Remote over DotNetty) runs over mutual TLS. Every node presents its certificate (PKCS#12
/// with its key) and accepts a peer, in either direction, only when the peer's certificate chains to the
/// configured CA and nothing else: the system's trusted roots are not consulted, the peer's host name is
/// not checked (nodes are addressed by IP). A node without TLS, without a certificate, or with a
/// certificate from another CA fails the handshake and never becomes a member.
/// </summary>
public sealed record ClusterTlsSettings(string CertificatePath, string Password, string CaPath)
{
    private const string Key = "timemesh.cluster-tls";

    /// <summary>The Akka keys that turn TLS on for the cluster system; the certificate comes with <see cref="ToSetup"/>.</summary>
    public const string Hocon = """
        akka.remote.dot-netty.tcp {
          enable-ssl = true
          ssl {
            suppress-validation = false
            require-mutual-authentication = true
            validate-certificate-hostname = false
          }
        }
        """;

    /// <summary>Reads <c>timemesh.cluster-tls</c>; null when it is absent or <c>off</c>.</summary>
    internal static ClusterTlsSettings? FromConfig(Akka.Configuration.Config config)
    {
        if (!config.HasPath(Key)) return null;
        var value = config.GetValue(Key);
        if (value.IsEmpty) return null;
        if (value.IsString())
        {
            string text = value.GetString();
            if (text is "off" or "false" or "no") return null;
            throw new TimeMeshConfigException(Key, text, "allowed: off, or { certificate = \"node.pfx\", password = \"...\", ca = \"ca.pem\" }");
        }
        var r = new ConfigReader(config);
        string certificate = r.String(Key + ".certificate", "allowed: the path of the node's PKCS#12 (.pfx) file with its private key");
        string password = r.RawString(Key + ".password") ?? "";
        string ca = r.String(Key + ".ca", "allowed: the path of the CA certificate (PEM or DER) that issued every node's certificate");
        var settings = new ClusterTlsSettings(certificate, password, ca);
        // Load both now, so that a wrong path or password stops the node at start with the key named.
        settings.LoadCertificate().Dispose();
        settings.LoadCa().Dispose();
        return settings;
    }

    internal X509Certificate2 LoadCertificate()
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, Password);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new TimeMeshConfigException(Key + ".certificate", CertificatePath, "cannot load it as PKCS#12 with the given password: " + e.Message);
        }
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new TimeMeshConfigException(Key + ".certificate", CertificatePath, "the file holds no private key; export the node's certificate with its key (.pfx)");
        }
        return certificate;
    }

    internal X509Certificate2 LoadCa()
    {
        try
        {
            string text = File.ReadAllText(CaPath);
            return text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
                ? X509Certificate2.CreateFromPem(text)
                : X509CertificateLoader.LoadCertificateFromFile(CaPath);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new TimeMeshConfigException(Key + ".ca", CaPath, "cannot load it as a PEM or DER certificate: " + e.Message);
        }
    }

    /// <summary>The setup for the cluster system: this node's certificate and a validator that trusts only the CA.</summary>
    public Setup ToSetup()
    {
        var ca = LoadCa();
        return new DotNettySslSetup(LoadCertificate(), suppressValidation: false, requireMutualAuthentication: true,
            validateCertificateHostname: false, customValidator: (certificate, _, peer, _, log) => IssuedByCa(certificate, ca, peer, log));
    }

    /// <summary>True when <paramref name="certificate"/> chains to <paramref name="ca"/> alone (no system roots, no revocation lists: a closed network has none).</summary>
    internal static bool IssuedByCa(X509Certificate2? certificate, X509Certificate2 ca, string peer, ILoggingAdapter? log)
    {
        if (certificate is null)
        {
            log?.Warning("cluster TLS: {0} presented no certificate", peer);
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        bool trusted = chain.Build(certificate)
            && chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span);
        if (!trusted)
        {
            log?.Warning("cluster TLS: refused {0}: its certificate {1} does not chain to the cluster CA {2} ({3})", peer, certificate.Subject, ca.Subject,
                string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim())));
        }
        return trusted;
    }
}
