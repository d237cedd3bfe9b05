using System.Security.Cryptography.X509Certificates;
using System.Text;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using TimeMesh.Core.Nts;

namespace TimeMesh.Nts;

/// <summary>
/// TLS 1.3 for NTS-KE through BouncyCastle: .NET's SslStream offers no TLS keying-material exporter
/// (RFC 5705 / 8446 section 7.5), which NTS needs to derive its keys, and BouncyCastle's TLS does.
/// </summary>
internal static class NtsTls
{
    public static readonly ProtocolName Alpn = ProtocolName.AsUtf8Encoding(NtsIds.Alpn);

    /// <summary>The C2S and S2C keys (RFC 8915 section 5.1) from a finished handshake.</summary>
    public static (byte[] C2S, byte[] S2C) ExportKeys(TlsContext context) => (
        context.ExportKeyingMaterial(NtsIds.ExporterLabel, NtsIds.ExporterContext(serverToClient: false), AesSivCmac256.KeyLength),
        context.ExportKeyingMaterial(NtsIds.ExporterLabel, NtsIds.ExporterContext(serverToClient: true), AesSivCmac256.KeyLength));

    public static bool NegotiatedNtsKe(TlsContext context) =>
        context.SecurityParameters.ApplicationProtocol is { } p && p.Equals(Alpn);

    /// <summary>What signs this side's handshake: the certificate chain and the key, with the scheme the key's type implies.</summary>
    public static TlsCredentials Signer(TlsContext context, BcTlsCrypto crypto, NtsServerCredentials credentials, byte[] requestContext)
    {
        var tlsCertificates = credentials.ChainDer.Select(der => new CertificateEntry(crypto.CreateCertificate(der), null)).ToArray();
        var certificate = new Certificate(requestContext, tlsCertificates);
        var scheme = credentials.PrivateKey is ECPrivateKeyParameters ec
            ? ec.Parameters.Curve.FieldSize switch
            {
                384 => SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha384, SignatureAlgorithm.ecdsa),
                521 => SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha512, SignatureAlgorithm.ecdsa),
                _ => SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa),
            }
            : SignatureAndHashAlgorithm.rsa_pss_rsae_sha256;
        return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(context), crypto, credentials.PrivateKey, certificate, scheme);
    }
}

/// <summary>The server's certificate chain and key, loaded once from PEM files.</summary>
internal sealed class NtsServerCredentials
{
    public required byte[][] ChainDer { get; init; }
    public required AsymmetricKeyParameter PrivateKey { get; init; }

    public static NtsServerCredentials Load(string certificatePath, string keyPath)
    {
        var chain = new List<byte[]>();
        using (var reader = new StreamReader(certificatePath))
        {
            var pem = new Org.BouncyCastle.Utilities.IO.Pem.PemReader(reader);
            while (pem.ReadPemObject() is { } o)
            {
                if (o.Type == "CERTIFICATE") chain.Add(o.Content);
            }
        }
        if (chain.Count == 0) throw new InvalidDataException($"{certificatePath} holds no PEM certificate");
        object? key;
        using (var reader = new StreamReader(keyPath))
        {
            key = new Org.BouncyCastle.OpenSsl.PemReader(reader).ReadObject();
        }
        var privateKey = key switch
        {
            AsymmetricCipherKeyPair pair => pair.Private,
            AsymmetricKeyParameter { IsPrivate: true } p => p,
            _ => throw new InvalidDataException($"{keyPath} holds no unencrypted PEM private key"),
        };
        if (privateKey is not (ECPrivateKeyParameters or RsaKeyParameters))
            throw new InvalidDataException($"{keyPath}: only ECDSA and RSA keys are supported");
        return new NtsServerCredentials { ChainDer = chain.ToArray(), PrivateKey = privateKey };
    }
}

/// <summary>The TLS server side of one NTS-KE connection: TLS 1.3 only, ALPN ntske/1 only.</summary>
/// <remarks>With <paramref name="meshClients"/> (the mesh's NTS-KE), a client certificate from the mesh CA is required.</remarks>
internal sealed class NtsKeTlsServer(BcTlsCrypto crypto, NtsServerCredentials credentials, MeshNtsCredentials? meshClients = null) : DefaultTlsServer(crypto)
{
    public TlsContext Context => m_context;

    /// <summary>The NTS keys, exported when the handshake completes (BouncyCastle allows it only then).</summary>
    public (byte[] C2S, byte[] S2C)? Keys { get; private set; }
    public bool AgreedNtsKe { get; private set; }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        AgreedNtsKe = NtsTls.NegotiatedNtsKe(m_context);
        if (AgreedNtsKe) Keys = NtsTls.ExportKeys(m_context);
    }

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.TLSv13.Only();

    protected override IList<ProtocolName> GetProtocolNames() => [NtsTls.Alpn];

    public override TlsCredentials GetCredentials() => NtsTls.Signer(m_context, crypto, credentials, TlsUtilities.EmptyBytes);

    public override Org.BouncyCastle.Tls.CertificateRequest? GetCertificateRequest() => meshClients is null
        ? null
        : new Org.BouncyCastle.Tls.CertificateRequest(TlsUtilities.EmptyBytes, TlsUtilities.GetDefaultSupportedSignatureAlgorithms(m_context), null, null);

    /// <summary>The mesh client's certificate: any role, but from the mesh CA (BouncyCastle has checked it holds the key).</summary>
    public override void NotifyClientCertificate(Certificate clientCertificate)
    {
        if (meshClients is null) return;
        meshClients.CheckChain(clientCertificate, "the client").Dispose();
    }

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
    {
        // Failed handshakes are counted by the server; BouncyCastle's console output is not wanted.
    }
}

/// <summary>
/// The TLS client side of an NTS-KE connection: TLS 1.3, ALPN ntske/1, and the server's certificate checked
/// with .NET's chain engine against the trusted CA file (or the system's roots) and the server's name.
/// </summary>
/// <remarks>
/// With <paramref name="mesh"/> (a mesh master), the master's certificate is checked against the mesh CA alone, for the
/// master role and for one of <paramref name="meshNames"/>, and this node presents its own cluster certificate.
/// </remarks>
internal sealed class NtsKeTlsClient(BcTlsCrypto crypto, string host, X509Certificate2Collection? trusted,
    MeshNtsCredentials? mesh = null, IReadOnlyList<string>? meshNames = null) : DefaultTlsClient(crypto)
{
    public TlsContext Context => m_context;

    /// <summary>The NTS keys, exported when the handshake completes (BouncyCastle allows it only then).</summary>
    public (byte[] C2S, byte[] S2C)? Keys { get; private set; }
    public bool AgreedNtsKe { get; private set; }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        AgreedNtsKe = NtsTls.NegotiatedNtsKe(m_context);
        if (AgreedNtsKe) Keys = NtsTls.ExportKeys(m_context);
    }

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.TLSv13.Only();

    protected override IList<ProtocolName> GetProtocolNames() => [NtsTls.Alpn];

    protected override IList<ServerName>? GetSniServerNames() =>
        System.Net.IPAddress.TryParse(host, out _) ? null : [new ServerName(NameType.host_name, Encoding.ASCII.GetBytes(host))];

    public override TlsAuthentication GetAuthentication() => mesh is null
        ? new Authentication(host, trusted)
        : new MeshAuthentication(this, mesh, meshNames ?? [host]);

    private sealed class MeshAuthentication(NtsKeTlsClient client, MeshNtsCredentials mesh, IReadOnlyList<string> names) : TlsAuthentication
    {
        public TlsCredentials GetClientCredentials(Org.BouncyCastle.Tls.CertificateRequest certificateRequest) =>
            NtsTls.Signer(client.m_context, (BcTlsCrypto)client.Crypto, mesh.Own, certificateRequest.GetCertificateRequestContext() ?? TlsUtilities.EmptyBytes);

        public void NotifyServerCertificate(TlsServerCertificate serverCertificate) => mesh.CheckMaster(serverCertificate.Certificate, names);
    }

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
    {
    }

    private sealed class Authentication(string host, X509Certificate2Collection? trusted) : TlsAuthentication
    {
        public TlsCredentials GetClientCredentials(Org.BouncyCastle.Tls.CertificateRequest certificateRequest) => null!;

        public void NotifyServerCertificate(TlsServerCertificate serverCertificate)
        {
            var list = serverCertificate.Certificate;
            if (list.IsEmpty) throw new TlsFatalAlert(AlertDescription.bad_certificate, "no server certificate");
            using var leaf = X509CertificateLoader.LoadCertificate(list.GetCertificateAt(0).GetEncoded());
            using var chain = new X509Chain();
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (trusted is not null)
            {
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
            }
            for (int i = 1; i < list.Length; i++) chain.ChainPolicy.ExtraStore.Add(X509CertificateLoader.LoadCertificate(list.GetCertificateAt(i).GetEncoded()));
            if (!chain.Build(leaf))
                throw new TlsFatalAlert(AlertDescription.bad_certificate,
                    "certificate not trusted: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim())));
            if (!leaf.MatchesHostname(host, allowWildcards: true, allowCommonName: false))
                throw new TlsFatalAlert(AlertDescription.bad_certificate, $"certificate is not for {host}");
        }
    }
}
