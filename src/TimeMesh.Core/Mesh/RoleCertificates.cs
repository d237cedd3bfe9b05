using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace TimeMesh.Core.Mesh;

/// <summary>
/// How a mesh CA signs a node's role into its certificate: a URI subject alternative name
/// <c>timemesh:role:master</c> or <c>timemesh:role:member</c> (readable with any certificate tool, e.g.
/// <c>openssl x509 -noout -ext subjectAltName</c>). A certificate with no such name, or with both, carries no role.
/// Pure functions of the certificate's bytes: no clock, no files.
/// </summary>
public static class RoleCertificates
{
    /// <summary>The start of every role URI in a subject alternative name; the role's lower-case name follows.</summary>
    public const string RoleUriPrefix = "timemesh:role:";

    /// <summary>The URI a CA puts in a node's certificate to grant <paramref name="role"/>: <c>timemesh:role:master</c> or <c>timemesh:role:member</c>.</summary>
    public static string RoleUri(MeshRole role) => RoleUriPrefix + role.ToString().ToLowerInvariant();

    /// <summary>The role the certificate carries; null when it carries none or more than one.</summary>
    public static MeshRole? ReadRole(X509Certificate2 certificate)
    {
        var roles = Uris(certificate)
            .Where(u => u.StartsWith(RoleUriPrefix, StringComparison.Ordinal))
            .Select(u => u[RoleUriPrefix.Length..] switch { "master" => MeshRole.Master, "member" => (MeshRole?)MeshRole.Member, _ => null })
            .Distinct()
            .ToList();
        return roles.Count == 1 ? roles[0] : null;
    }

    /// <summary>The URI names of the certificate's subject alternative name extension.</summary>
    public static IReadOnlyList<string> Uris(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != "2.5.29.17") continue;
            try
            {
                var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
                while (names.HasData)
                {
                    if (names.PeekTag() == uriTag) uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                    else names.ReadEncodedValue();
                }
            }
            catch (AsnContentException)
            {
                // A malformed extension names nothing.
            }
        }
        return uris;
    }

    /// <summary>The IP addresses and DNS names the certificate is issued for.</summary>
    public static (IReadOnlyList<IPAddress> Addresses, IReadOnlyList<string> DnsNames) Names(X509Certificate2 certificate)
    {
        var addresses = new List<IPAddress>();
        var dns = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is not X509SubjectAlternativeNameExtension san) continue;
            try
            {
                addresses.AddRange(san.EnumerateIPAddresses());
                dns.AddRange(san.EnumerateDnsNames());
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
            }
        }
        return (addresses, dns);
    }

    /// <summary>
    /// Whether the certificate is issued for <paramref name="host"/>: an IP address among its IP names (an IPv4-mapped
    /// IPv6 address counts as its IPv4 address), or a host name equal to one of its DNS names (no wildcards).
    /// </summary>
    public static bool NamesHost(X509Certificate2 certificate, string host)
    {
        var (addresses, dns) = Names(certificate);
        return StatusAuthentication.NamesHost(addresses, dns, host);
    }
}
