using System.Net;
using TimeMesh.Core.Access;

namespace TimeMesh.Core.Tests;

public class AccessListTests
{
    private static IpAddress128 A(string address) => IpAddress128.FromIPAddress(IPAddress.Parse(address));

    [Fact]
    public void NothingAllowedMeansClosed()
    {
        var acl = AccessList.FromSpecs([], []);
        Assert.True(acl.IsClosed);
        Assert.False(acl.IsAllowed(A("127.0.0.1")));
        Assert.False(acl.IsAllowed(A("::1")));
    }

    [Fact]
    public void TheMostSpecificRuleWins()
    {
        var acl = AccessList.FromSpecs(["10.0.0.0/8", "10.1.2.0/24"], ["10.1.0.0/16"]);
        Assert.True(acl.IsAllowed(A("10.9.9.9")));
        Assert.False(acl.IsAllowed(A("10.1.9.9")));
        Assert.True(acl.IsAllowed(A("10.1.2.3")));
        Assert.False(acl.IsAllowed(A("11.0.0.1")));
    }

    [Fact]
    public void DenyWinsOverAllowForTheSameSubnet()
    {
        var acl = AccessList.FromSpecs(["192.168.1.0/24"], ["192.168.1.0/24"]);
        Assert.False(acl.IsAllowed(A("192.168.1.7")));
    }

    [Fact]
    public void AllCoversBothFamiliesAndMoreSpecificDenyStillApplies()
    {
        var acl = AccessList.FromSpecs(["all"], ["10.0.0.0/8", "fd00::/8"]);
        Assert.True(acl.IsAllowed(A("8.8.8.8")));
        Assert.True(acl.IsAllowed(A("2001:db8::1")));
        Assert.False(acl.IsAllowed(A("10.1.1.1")));
        Assert.False(acl.IsAllowed(A("fd12::1")));
    }

    [Fact]
    public void AnIPv6RuleNeverMatchesIPv4Clients()
    {
        var acl = AccessList.FromSpecs(["::/0"], []);
        Assert.True(acl.IsAllowed(A("::1")));
        Assert.False(acl.IsAllowed(A("127.0.0.1")));
        // A v4-mapped client address is treated as the IPv4 address it carries.
        Assert.False(acl.IsAllowed(A("::ffff:127.0.0.1")));
        Assert.True(AccessList.FromSpecs(["127.0.0.0/8"], []).IsAllowed(A("::ffff:127.0.0.1")));
    }

    [Theory]
    [InlineData("192.168", "192.168.0.0/16")]
    [InlineData("10", "10.0.0.0/8")]
    [InlineData("10.1.2.3", "10.1.2.3/32")]
    [InlineData("10.1.2.3/8", "10.0.0.0/8")]
    [InlineData("fd00::1/8", "fd00::/8")]
    [InlineData("::1", "::1/128")]
    public void ParsesChronySubnetForms(string spec, string expected) =>
        Assert.Equal(expected, Assert.Single(Subnet.ParseSpec(spec)).ToString());

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("300.1.1.1")]
    [InlineData("fd00::/129")]
    [InlineData("example.org")]
    [InlineData("10.0.0.0/")]
    public void RejectsBadSubnets(string spec)
    {
        Assert.False(Subnet.TryParseSpec(spec, out _, out string? why));
        Assert.Contains(spec, why);
    }
}
