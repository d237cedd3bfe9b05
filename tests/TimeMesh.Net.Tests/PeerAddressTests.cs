using System.Net;
using Xunit;

namespace TimeMesh.Net.Tests;

public class PeerAddressTests
{
    [Fact]
    public void IPv4_is_stored_mapped_and_round_trips()
    {
        var peer = PeerAddress.FromEndPoint(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 123));
        Assert.True(peer.IsIPv4Mapped);
        Assert.Equal(0UL, peer.High);
        Assert.Equal(0x0000_FFFF_C000_0207UL, peer.Low);
        Assert.Equal((ushort)123, peer.Port);
        Assert.Equal(0xC000_0207u, peer.IPv4);
        Assert.Equal("192.0.2.7:123", peer.ToString());
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 123), peer.ToEndPoint());
        Assert.Equal(peer, PeerAddress.FromIPv4(0xC000_0207u, 123));
    }

    [Fact]
    public void IPv4_mapped_IPv6_endpoint_equals_the_IPv4_one()
    {
        var v4 = PeerAddress.FromEndPoint(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 5));
        var mapped = PeerAddress.FromEndPoint(new IPEndPoint(IPAddress.Parse("::ffff:10.1.2.3"), 5));
        Assert.Equal(v4, mapped);
        Assert.True(v4 == mapped);
        Assert.Equal(v4.GetHashCode(), mapped.GetHashCode());
    }

    [Fact]
    public void IPv6_uses_big_endian_halves_and_brackets()
    {
        var peer = PeerAddress.FromEndPoint(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 4123));
        Assert.False(peer.IsIPv4Mapped);
        Assert.Equal(0x2001_0DB8_0000_0000UL, peer.High);
        Assert.Equal(1UL, peer.Low);
        Assert.Equal("[2001:db8::1]:4123", peer.ToString());
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 4123), peer.ToEndPoint());

        var loopback = PeerAddress.FromEndPoint(new IPEndPoint(IPAddress.IPv6Loopback, 123));
        Assert.Equal("[::1]:123", loopback.ToString());
        Assert.False(loopback.IsIPv4Mapped);
    }

    [Fact]
    public void Equality_takes_the_port_into_account()
    {
        var a = new PeerAddress(1, 2, 3);
        Assert.Equal(a, new PeerAddress(1, 2, 3));
        Assert.NotEqual(a, new PeerAddress(1, 2, 4));
        Assert.NotEqual(a, new PeerAddress(1, 3, 3));
        Assert.True(a != new PeerAddress(0, 2, 3));
        Assert.False(a.Equals((object)"x"));
    }
}
