using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor.Setup;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// <c>timemesh.cluster-tls { certificate = "node.pfx", password = "…", ca = "ca.pem" }</c>: the cluster
/// transport (Akka.Remote over DotNetty) runs over mutual TLS. Every node presents its certificate (PKCS#12
/// with its key) and accepts a peer, in either direction, only when the peer's certificate chains to the
/// configured CA and nothing else: the system's trusted roots are not consulted, the peer's host name is
/// not checked (nodes are addressed by IP). A node without TLS, without a certificate, or with a
/// certificate from another CA fails the handshake and never becomes a member.
/// <para>
/// The node's certificate and key come as PKCS#12 (<c>certificate = "node.pfx"</c> with <c>password</c> or
/// <c>password-file</c>) or as PEM (<c>certificate = "node.pem", key = "node-key.pem"</c>), as <c>timemesh cert
/// issue</c> writes them. Roles come from the certificates (<see cref="CertifiedRoleRegistry"/>). An expired
/// certificate or CA stops the node at start; one that expires within <see cref="ExpiryWarningDays"/> days is
/// logged as a warning.
/// </para>
/// </summary>
public sealed record ClusterTlsSettings(string CertificatePath, string Password, string CaPath)
{
    private const string Key = "timemesh.cluster-tls";

    /// <summary>A certificate that expires within this many days is warned about (at start and by doctor).</summary>
    public const int ExpiryWarningDays = 30;

    /// <summary>The PEM private key for a PEM <see cref="CertificatePath"/> (null: the certificate is PKCS#12).</summary>
    public string? KeyPath { get; init; }

    /// <summary>Where the PKCS#12 password came from (null: the config's <c>password</c>, or none).</summary>
    public string? PasswordFile { get; init; }

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
        # Every node dials each peer it writes to itself, so that it validates the peer's certificate against the
        # cluster address it dialled: that is what binds a certificate's role to a member (CertifiedRoleRegistry).
        # With passive connections a node would answer over the peer's inbound connection, whose certificate names
        # no cluster address. Costs a second TCP connection per pair of nodes.
        akka.remote.use-passive-connections = off
        """;

    /// <summary>
    /// Reads <c>timemesh.cluster-tls</c>, loads the certificate and the CA, and refuses an expired one; null when the
    /// key is absent or <c>off</c>.
    /// </summary>
    internal static ClusterTlsSettings? FromConfig(Akka.Configuration.Config config)
    {
        var settings = Parse(config);
        if (settings is null) return null;
        // Load both now, so that a wrong path or password, or an expired certificate, stops the node at start with the key named.
        foreach (var validity in settings.Validity())
        {
            if (validity.ExpiredAt(DateTimeOffset.UtcNow))
                throw new TimeMeshConfigException(validity.Key, validity.Path,
                    $"the {validity.What} {validity.Subject} expired on {validity.NotAfter:yyyy-MM-dd HH:mm} UTC: the cluster refuses it; issue a new one (timemesh cert issue, or timemesh cert init for a CA)");
        }
        return settings;
    }

    /// <summary>Reads <c>timemesh.cluster-tls</c> without loading the files; null when it is absent or <c>off</c>.</summary>
    public static ClusterTlsSettings? Parse(Akka.Configuration.Config config)
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
        string certificate = r.String(Key + ".certificate", "allowed: the path of the node's PKCS#12 (.pfx) file with its private key, or of its PEM certificate with key = \"node-key.pem\"");
        string? password = r.RawString(Key + ".password");
        string? passwordFile = r.RawString(Key + ".password-file");
        string? key = r.RawString(Key + ".key");
        string ca = r.String(Key + ".ca", "allowed: the path of the CA certificate (PEM or DER) that issued every node's certificate");
        if (!string.IsNullOrEmpty(password) && !string.IsNullOrEmpty(passwordFile))
            throw new TimeMeshConfigException(Key + ".password-file", passwordFile, "set password or password-file, not both");
        if (!string.IsNullOrEmpty(passwordFile))
        {
            try
            {
                // One line; the newline an editor or echo adds is not part of the password.
                password = File.ReadAllText(passwordFile).TrimEnd('\r', '\n');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TimeMeshConfigException(Key + ".password-file", passwordFile, "cannot read it: " + e.Message);
            }
        }
        return new ClusterTlsSettings(certificate, password ?? "", ca)
        {
            KeyPath = string.IsNullOrEmpty(key) ? null : key,
            PasswordFile = string.IsNullOrEmpty(passwordFile) ? null : passwordFile,
        };
    }

    /// <summary>The validity of one certificate of the cluster TLS setup (the node's, or the CA).</summary>
    public sealed record CertificateValidity(string Key, string Path, string What, string Subject, DateTimeOffset NotBefore, DateTimeOffset NotAfter, MeshRole? Role)
    {
        public bool ExpiredAt(DateTimeOffset now) => NotAfter <= now;

        /// <summary>Whole days left before it expires (negative once expired).</summary>
        public int DaysLeft(DateTimeOffset now) => (int)Math.Floor((NotAfter - now).TotalDays);

        public bool ExpiresSoon(DateTimeOffset now) => !ExpiredAt(now) && NotAfter - now < TimeSpan.FromDays(ExpiryWarningDays);

        /// <summary>One line: what, when it expires and how far that is.</summary>
        public string Describe(DateTimeOffset now) => ExpiredAt(now)
            ? $"{Key}: the {What} {Subject} ({Path}) expired on {NotAfter:yyyy-MM-dd} ({-DaysLeft(now)} days ago)"
            : $"{Key}: the {What} {Subject} ({Path}{(Role is { } r ? ", role " + r.ToString().ToLowerInvariant() : "")}) expires on {NotAfter:yyyy-MM-dd}, in {DaysLeft(now)} days";
    }

    /// <summary>Loads the node's certificate and the CA and tells when each expires; throws as <see cref="FromConfig"/> for a file that does not load.</summary>
    public IReadOnlyList<CertificateValidity> Validity()
    {
        using var certificate = LoadCertificate();
        using var ca = LoadCa();
        return
        [
            new(Key + ".certificate", CertificatePath, "certificate", certificate.Subject, certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime(), RoleCertificates.ReadRole(certificate)),
            new(Key + ".ca", CaPath, "CA certificate", ca.Subject, ca.NotBefore.ToUniversalTime(), ca.NotAfter.ToUniversalTime(), null),
        ];
    }

    /// <summary>The role this node's own certificate carries (null: none).</summary>
    public MeshRole? OwnRole()
    {
        using var certificate = LoadCertificate();
        return RoleCertificates.ReadRole(certificate);
    }

    internal X509Certificate2 LoadCertificate()
    {
        X509Certificate2 certificate;
        try
        {
            if (KeyPath is not null)
            {
                // PEM: a certificate and its key in two files; re-imported as PKCS#12, the form TLS takes on every platform.
                using var pem = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
                certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            else
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, Password);
            }
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new TimeMeshConfigException(Key + ".certificate", CertificatePath, KeyPath is null
                ? "cannot load it as PKCS#12 with the given password: " + e.Message
                : $"cannot load it as a PEM certificate with the PEM key {KeyPath}: " + e.Message);
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

    /// <summary>
    /// The setup for the cluster system: this node's certificate and a validator that trusts only the CA and records,
    /// for each peer it dials, the role that peer's certificate proves (into <paramref name="roles"/>).
    /// </summary>
    public Setup ToSetup(CertifiedRoleRegistry? roles = null)
    {
        var ca = LoadCa();
        return new DotNettySslSetup(LoadCertificate(), suppressValidation: false, requireMutualAuthentication: true,
            validateCertificateHostname: false, customValidator: (certificate, _, peer, _, log) =>
            {
                if (!IssuedByCa(certificate, ca, peer, log)) return false;
                roles?.RecordValidated(peer, certificate!, log);
                return true;
            });
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
