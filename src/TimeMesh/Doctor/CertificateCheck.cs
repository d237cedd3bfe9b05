using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Cli.Doctor;

/// <summary>
/// The cluster TLS certificates of a mesh node: days until the node's certificate and the CA expire (a warning from
/// <see cref="ClusterTlsSettings.ExpiryWarningDays"/> days, a failure once expired: the node refuses to start), and
/// whether the certificate carries the role the config names. Without cluster-tls: roles are self-declared.
/// </summary>
public sealed class CertificateCheck(DoctorEnvironment env)
{
    public const string Name = "certificates";

    public IReadOnlyList<DoctorFinding> Run(Akka.Configuration.Config full)
    {
        var findings = new List<DoctorFinding>();
        ClusterTlsSettings? tls;
        IReadOnlyList<ClusterTlsSettings.CertificateValidity> validity;
        try
        {
            tls = ClusterTlsSettings.Parse(full);
            if (tls is null)
            {
                findings.Add(DoctorFinding.Ok(Name, "no timemesh.cluster-tls: no certificates to check; every node's role is what it says of itself (docs/security.md: timemesh cert)"));
                return findings;
            }
            validity = tls.Validity();
        }
        catch (TimeMeshConfigException e)
        {
            findings.Add(DoctorFinding.Fail(Name, e.Message, $"correct {e.Key}"));
            return findings;
        }
        var now = env.Now();
        foreach (var v in validity)
        {
            string fix = v.What == "certificate"
                ? "issue a new one: timemesh cert issue --role ... --name ... --ip ... (and restart the node)"
                : "a new CA (timemesh cert init --force) and a new certificate for every node";
            if (v.ExpiredAt(now)) findings.Add(DoctorFinding.Fail(Name, v.Describe(now) + ": timemesh run refuses to start", fix));
            else if (v.ExpiresSoon(now)) findings.Add(DoctorFinding.Warn(Name, v.Describe(now) + $" (under {ClusterTlsSettings.ExpiryWarningDays} days)", fix));
            else findings.Add(DoctorFinding.Ok(Name, v.Describe(now)));
        }
        var own = validity[0].Role;
        string configured = full.GetString("timemesh.role", "").ToLowerInvariant();
        if (own is null)
            findings.Add(DoctorFinding.Warn(Name, $"the certificate carries no role ({Core.Mesh.RoleCertificates.RoleUriPrefix}master or member): the mesh never takes this node for a master",
                $"reissue it: timemesh cert issue --role {configured} ..."));
        else if (own.Value.ToString().ToLowerInvariant() != configured)
            findings.Add(DoctorFinding.Warn(Name, $"the config says role {configured} but the certificate says {own.Value.ToString().ToLowerInvariant()}; the mesh takes a node for a master only when both say master",
                "make them agree: reissue the certificate or change timemesh.role"));
        return findings;
    }
}
