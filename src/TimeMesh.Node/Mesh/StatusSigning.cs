using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// The crypto of self-authenticating cluster messages (with cluster TLS): signs with this node's cluster-TLS key and
/// checks what others signed against the mesh CA. ECDSA keys (what <c>timemesh cert</c> issues) sign with SHA-256
/// in the IEEE P1363 form; RSA keys with SHA-256 and PSS. Each message carries the signer's whole certificate (DER):
/// nothing to look up, no first-contact state to lose, a few hundred bytes a second per node.
/// Chain validation, the expensive part, is cached per certificate (SHA-256 of its DER, at most
/// <see cref="MaxCachedCertificates"/>); validity dates, names and the signature are checked on every message.
/// Shared by the mesh and reunion actors (and across a rejoin's old and new actor systems): one lock around it all,
/// nothing at one status a second.
/// </summary>
public sealed class StatusSigning : IDisposable
{
    public const int MaxCachedCertificates = 256;

    private readonly X509Certificate2 _own;
    private readonly X509Certificate2 _ca;
    private readonly ECDsa? _ecdsa;
    private readonly RSA? _rsa;
    private readonly Dictionary<string, Checked> _cache = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>This node's certificate (DER), sent with every signed message.</summary>
    public byte[] OwnCertificate { get; }

    /// <summary>A certificate whose chain was validated once, and what the checks need of it.</summary>
    public sealed class Checked(X509Certificate2 certificate, bool chains) : IDisposable
    {
        public X509Certificate2 Certificate { get; } = certificate;
        public bool ChainsToMeshCa { get; } = chains;
        public DateTimeOffset NotBefore { get; } = certificate.NotBefore.ToUniversalTime();
        public DateTimeOffset NotAfter { get; } = certificate.NotAfter.ToUniversalTime();
        public (IReadOnlyList<System.Net.IPAddress> Addresses, IReadOnlyList<string> DnsNames) Names { get; } = RoleCertificates.Names(certificate);
        public ECDsa? EcdsaKey { get; } = certificate.GetECDsaPublicKey();
        public RSA? RsaKey { get; } = certificate.GetECDsaPublicKey() is null ? certificate.GetRSAPublicKey() : null;
        public MeshRole? Role { get; } = RoleCertificates.ReadRole(certificate);

        public bool Verifies(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
            EcdsaKey?.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
            ?? RsaKey?.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)
            ?? false;

        public void Dispose()
        {
            EcdsaKey?.Dispose();
            RsaKey?.Dispose();
            Certificate.Dispose();
        }
    }

    /// <param name="own">This node's cluster-TLS certificate with its private key.</param>
    /// <param name="ca">The mesh CA (the only trust anchor).</param>
    public StatusSigning(X509Certificate2 own, X509Certificate2 ca)
    {
        _own = own;
        _ca = ca;
        _ecdsa = own.GetECDsaPrivateKey();
        _rsa = _ecdsa is null ? own.GetRSAPrivateKey() : null;
        if (_ecdsa is null && _rsa is null)
            throw new ArgumentException($"the cluster-TLS certificate {own.Subject} has neither an ECDSA nor an RSA private key: it cannot sign statuses", nameof(own));
        OwnCertificate = own.RawData;
    }

    /// <summary>From the node's cluster-TLS settings (loads the certificate with its key and the CA).</summary>
    public static StatusSigning FromSettings(ClusterTlsSettings tls) => new(tls.LoadCertificate(), tls.LoadCa());

    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            return _ecdsa?.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                ?? _rsa!.SignData(data.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        }
    }

    /// <summary>Signs <paramref name="status"/> as this node's incarnation <paramref name="incarnation"/>, number <paramref name="sequence"/>.</summary>
    public SignedStatus Sign(TimeStatus status, long incarnation, long sequence)
    {
        byte[] payload = StatusWire.SigningPayload(status, incarnation, sequence);
        return new SignedStatus(payload, OwnCertificate, Sign(payload));
    }

    /// <summary>The certificate <paramref name="der"/>, its chain validated against the mesh CA once; null when it does not parse.</summary>
    public Checked? Check(byte[] der)
    {
        lock (_gate) return CheckLocked(der);
    }

    private Checked? CheckLocked(byte[] der)
    {
        string key = Convert.ToHexString(SHA256.HashData(der));
        if (_cache.TryGetValue(key, out var known)) return known;
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            return null;
        }
        var checkedCertificate = new Checked(certificate, ClusterTlsSettings.IssuedByCa(certificate, _ca, "a signed message", null));
        // Evicted entries are left to the GC: another actor may still be verifying with one.
        if (_cache.Count >= MaxCachedCertificates) _cache.Clear();
        _cache[key] = checkedCertificate;
        return checkedCertificate;
    }

    /// <summary>How many certificates are cached now (for tests).</summary>
    public int CachedCertificates
    {
        get { lock (_gate) return _cache.Count; }
    }

    /// <summary>
    /// Checks a signed status's crypto and reads it: the status and the evidence for <see cref="StatusAuthentication.Judge"/>,
    /// or null when the payload or certificate does not parse (then the status counts as <see cref="StatusAuthentication.Certificate"/>
    /// or <see cref="StatusAuthentication.BadSignature"/> by <paramref name="reason"/>).
    /// </summary>
    /// <param name="memberIncarnation">The cluster UID of the current member at a node address (null: none).</param>
    /// <param name="boundByAddress">Whether a node is known to hold a certificate issued for its address.</param>
    public (TimeStatus Status, StatusEvidence Evidence, Checked Certificate)? Examine(SignedStatus signed, Func<string, long?> memberIncarnation, Func<string, bool> boundByAddress, out string? reason)
    {
        reason = null;
        TimeStatus status;
        long incarnation, sequence;
        try
        {
            (status, incarnation, sequence) = StatusWire.DecodeSigned(signed.Payload);
        }
        catch (StatusFormatException)
        {
            reason = StatusAuthentication.BadSignature;
            return null;
        }
        if (Check(signed.Certificate) is not { } certificate)
        {
            reason = StatusAuthentication.Certificate;
            return null;
        }
        bool valid;
        try
        {
            lock (_gate) valid = certificate.Verifies(signed.Payload, signed.Signature);
        }
        catch (CryptographicException)
        {
            valid = false;
        }
        var evidence = new StatusEvidence(status.Node, incarnation, sequence, certificate.ChainsToMeshCa, certificate.NotBefore, certificate.NotAfter,
            certificate.Names.Addresses, certificate.Names.DnsNames, valid, memberIncarnation(status.Node), certificate.Role, boundByAddress(status.Node));
        return (status, evidence, certificate);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var c in _cache.Values) c.Dispose();
            _cache.Clear();
        }
        _ecdsa?.Dispose();
        _rsa?.Dispose();
        _own.Dispose();
        _ca.Dispose();
    }
}
