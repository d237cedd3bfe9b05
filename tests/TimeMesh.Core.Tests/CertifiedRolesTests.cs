using TimeMesh.Core.Mesh;

namespace TimeMesh.Core.Tests;

public class CertifiedRolesTests
{
    private static TimeStatus Status(string node, MeshRole role, byte stratum, bool claims = false) => new()
    {
        Node = node, Role = role, NtpEndpoint = "127.0.0.1:123", Stratum = stratum, RootDistanceSeconds = 0.001,
        UpstreamSynchronised = true, Serving = true, ReferenceId = 1, ClaimsLeadership = claims,
    };

    [Fact]
    public void Only_a_master_certificate_makes_a_master_and_the_election_never_picks_the_others()
    {
        var certified = new Dictionary<string, CertifiedRole> { ["a"] = CertifiedRole.Master, ["c"] = CertifiedRole.Member, ["d"] = CertifiedRole.None };
        var statuses = new[]
        {
            Status("a", MeshRole.Master, 6),
            Status("b", MeshRole.Member, 7),
            Status("c", MeshRole.Master, 1, claims: true), // a member certificate
            Status("d", MeshRole.Master, 1, claims: true), // no role in its certificate
            Status("e", MeshRole.Master, 1, claims: true), // not dialled yet
        };
        var (judged, refused) = CertifiedRoles.Judge(statuses, n => certified.GetValueOrDefault(n, CertifiedRole.NotSeen));
        Assert.Equal(["c", "d", "e"], refused.Select(r => r.Status.Node));
        Assert.Equal([CertifiedRole.Member, CertifiedRole.None, CertifiedRole.NotSeen], refused.Select(r => r.Certified));
        Assert.Equal(["a"], judged.Where(s => s.Role == MeshRole.Master).Select(s => s.Node));
        Assert.DoesNotContain(judged, s => s.Node != "a" && s.ClaimsLeadership);
        Assert.Equal("a", new LeaderElection(new ElectionSettings()).Elect(judged, 0));
        // Self-declared, c would lead.
        Assert.Equal("c", new LeaderElection(new ElectionSettings()).Elect(statuses, 0));
    }
}
