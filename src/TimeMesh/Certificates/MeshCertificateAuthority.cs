using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Cli.Certificates;

/// <summary>
/// A mesh CA in a directory (<c>ca.pem</c>, public; <c>ca-key.pem</c>, mode 0600) and the node certificates it issues,
/// made with .NET's <see cref="CertificateRequest"/>: no openssl. Keys are ECDSA P-256. A node certificate names
/// its IP addresses and DNS names and carries its role as the URI name <c>timemesh:role:master|member</c>
/// (<see cref="RoleCertificates"/>). Every file that holds a private key or a password is created with mode 0600
/// (never widened and narrowed after), and written to a temporary name first, then renamed: never half-written.
/// </summary>
public sealed class MeshCertificateAuthority
{
    public const string CertificateFile = "ca.pem";
    public const string KeyFile = "ca-key.pem";

    /// <summary>Validity starts this long before now, so that a node whose clock is behind by up to a day still accepts it.</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromDays(1);

    private static readonly UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static readonly UnixFileMode Public = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public string Directory { get; }
    public string CertificatePath => Path.Combine(Directory, CertificateFile);
    public string KeyPath => Path.Combine(Directory, KeyFile);

    private MeshCertificateAuthority(string directory) => Directory = directory;

    /// <summary>Creates a CA in <paramref name="directory"/> (made 0700 when new); refuses to replace an existing one unless <paramref name="force"/>.</summary>
    public static MeshCertificateAuthority Init(string directory, string name, int days, DateTimeOffset now, bool force = false)
    {
        if (days < 1) throw new CertificateToolException("--days must be at least 1");
        var ca = new MeshCertificateAuthority(directory);
        if (!force && (File.Exists(ca.KeyPath) || File.Exists(ca.CertificatePath)))
            throw new CertificateToolException($"{directory} already holds a CA ({KeyFile} or {CertificateFile}); every certificate it issued depends on it. Use another --dir, or --force to replace it");
        if (!System.IO.Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(directory);
            else System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + EscapeCn(name)), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.CreateSelfSigned(now - Backdate, now.AddDays(days));
        WriteAtomically(ca.KeyPath, key.ExportPkcs8PrivateKeyPem() + "\n", OwnerOnly, force);
        WriteAtomically(ca.CertificatePath, certificate.ExportCertificatePem() + "\n", Public, force);
        return ca;
    }

    /// <summary>The CA in <paramref name="directory"/>, made by <see cref="Init"/>.</summary>
    public static MeshCertificateAuthority Open(string directory)
    {
        var ca = new MeshCertificateAuthority(directory);
        if (!File.Exists(ca.KeyPath) || !File.Exists(ca.CertificatePath))
            throw new CertificateToolException($"no CA in {directory} ({CertificateFile} and {KeyFile}); create one with timemesh cert init --dir {directory}");
        return ca;
    }

    /// <summary>What to issue: the node's name (its certificate's CN and its files' names), role, addresses, names and lifetime.</summary>
    public sealed record NodeRequest(string Name, MeshRole Role, IReadOnlyList<IPAddress> Addresses, IReadOnlyList<string> DnsNames, int Days);

    /// <summary>A node certificate with its key, signed by this CA. Its lifetime ends no later than the CA's.</summary>
    public X509Certificate2 Issue(NodeRequest node, DateTimeOffset now)
    {
        // A master's role is believed only for the address the others dial, so it must name one. A member proves no
        // address (it is never taken for more than a member): one member certificate may serve many pods.
        if (node.Role == MeshRole.Master && node.Addresses.Count == 0 && node.DnsNames.Count == 0)
            throw new CertificateToolException("give the master's cluster address: --ip A (or --dns D when its akka.remote.dot-netty.tcp.hostname is a name); its role counts only for that address");
        if (node.Days < 1) throw new CertificateToolException("--days must be at least 1");
        using var caKey = ECDsa.Create();
        caKey.ImportFromPem(File.ReadAllText(KeyPath));
        using var caCertificate = X509Certificate2.CreateFromPem(File.ReadAllText(CertificatePath));
        using var caWithKey = caCertificate.CopyWithPrivateKey(caKey);
        if (caCertificate.NotAfter.ToUniversalTime() <= now.UtcDateTime)
            throw new CertificateToolException($"the CA in {Directory} expired on {caCertificate.NotAfter.ToUniversalTime():yyyy-MM-dd}; create a new one (timemesh cert init --force) and reissue every node");

        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + EscapeCn(node.Name)), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        // Each node is a TLS server to the peers that dial it and a client to those it dials.
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var address in node.Addresses) san.AddIpAddress(address);
        foreach (var dns in node.DnsNames) san.AddDnsName(dns);
        san.AddUri(new Uri(RoleCertificates.RoleUri(node.Role)));
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caCertificate, true, false));
        var notBefore = Max(now - Backdate, caCertificate.NotBefore.ToUniversalTime());
        var notAfter = Min(now.AddDays(node.Days), caCertificate.NotAfter.ToUniversalTime());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive serial number
        using var issued = request.Create(caWithKey, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes <paramref name="certificate"/> with its key as password-protected PKCS#12 (AES-256, mode 0600).</summary>
    public static void WritePkcs12(string path, X509Certificate2 certificate, string password, bool force) =>
        WriteAtomically(path, certificate.ExportPkcs12(Pkcs12ExportPbeParameters.Pbes2Aes256Sha256, password), OwnerOnly, force);

    /// <summary>Writes the certificate (PEM, readable by all) and its unencrypted PKCS#8 key (PEM, mode 0600).</summary>
    public static void WritePem(string certificatePath, string keyPath, X509Certificate2 certificate, bool force)
    {
        using var key = certificate.GetECDsaPrivateKey() ?? throw new CertificateToolException("the certificate has no ECDSA key");
        WriteAtomically(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n", OwnerOnly, force);
        WriteAtomically(certificatePath, certificate.ExportCertificatePem() + "\n", Public, force);
    }

    /// <summary>A password of 32 random URL-safe characters (192 bits).</summary>
    public static string NewPassword() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');

    /// <summary>Writes a secret or public file: created under a temporary name with its final mode, then renamed over the target.</summary>
    public static void WriteAtomically(string path, string text, UnixFileMode mode, bool force) =>
        WriteAtomically(path, System.Text.Encoding.UTF8.GetBytes(text), mode, force);

    public static void WriteAtomically(string path, byte[] bytes, UnixFileMode mode, bool force)
    {
        if (!force && File.Exists(path)) throw new CertificateToolException($"{path} exists; remove it or use --force");
        string temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = mode;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: force);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    private static string EscapeCn(string name) => name.Replace("\\", "\\\\").Replace(",", "\\,").Replace("+", "\\+").Replace("=", "\\=").Replace("\"", "\\\"");

    private static DateTimeOffset Max(DateTimeOffset a, DateTime b) => a.UtcDateTime >= b ? a : new DateTimeOffset(b, TimeSpan.Zero);
    private static DateTimeOffset Min(DateTimeOffset a, DateTime b) => a.UtcDateTime <= b ? a : new DateTimeOffset(b, TimeSpan.Zero);
}

/// <summary>A mistake in what <c>timemesh cert</c> was asked to do; its message says what to do instead.</summary>
public sealed class CertificateToolException(string message) : Exception(message);
