using System.Net;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Core.Tests;

public class MeshTrustTests
{
    private const string A = "akka.tcp://timemesh@10.0.0.11:4053", B = "akka.tcp://timemesh@10.0.0.12:4053", Stranger = "akka.tcp://timemesh@10.0.0.99:4053";

    [Fact]
    public void PinnedByNtpAddressOnlyTheNamedEndpointsAreTrustedMasters()
    {
        var trust = new MeshTrust(true, [IPEndPoint.Parse("10.0.0.11:123"), IPEndPoint.Parse("10.0.0.12:123")], [A, B]);
        Assert.True(trust.Trusts(MeshRole.Master, A, "10.0.0.11:123"));
        // A seed's cluster address does not help a master whose NTP address the list does not name.
        Assert.False(trust.Trusts(MeshRole.Master, A, "10.0.0.11:1123"));
        Assert.False(trust.Trusts(MeshRole.Master, Stranger, "10.0.0.99:123"));
        Assert.False(trust.Trusts(MeshRole.Master, Stranger, "not an endpoint"));
        // Members are never "not trusted": they are not followed anyway.
        Assert.True(trust.Trusts(MeshRole.Member, Stranger, "10.0.0.99:123"));
        Assert.Equal("timemesh.mesh.masters", trust.Basis);
    }

    [Fact]
    public void ANameNotResolvedYetTrustsNoMasterUntilItIs()
    {
        var trust = new MeshTrust(true, [], []);
        Assert.False(trust.Open);
        Assert.False(trust.Trusts(MeshRole.Master, A, "10.0.0.11:123"));
        var resolved = trust.WithEndpoints([IPEndPoint.Parse("[::ffff:10.0.0.11]:123")]);
        Assert.True(resolved.Trusts(MeshRole.Master, A, "10.0.0.11:123"));
    }

    [Fact]
    public void WithoutAMastersListTheSeedNodesAreTheMasters()
    {
        var trust = new MeshTrust(false, [], [A + "/", B]);
        Assert.True(trust.Trusts(MeshRole.Master, A, "10.0.0.11:123"));
        Assert.True(trust.Trusts(MeshRole.Master, B, "anything"));
        Assert.False(trust.Trusts(MeshRole.Master, Stranger, "10.0.0.99:123"));
        Assert.Equal("akka.cluster.seed-nodes", trust.Basis);
    }

    [Fact]
    public void WithNeitherListEveryMasterIsTrusted()
    {
        var trust = new MeshTrust(false, [], []);
        Assert.True(trust.Open);
        Assert.True(trust.Trusts(MeshRole.Master, Stranger, "10.0.0.99:123"));
    }
}
