namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// A LAN of network namespaces on one bridge, as the chaos suite builds it: the bridge lives in a namespace of its
/// own (<c>PREFIXbr</c>), every host is a namespace (<c>PREFIXname</c>) with <c>eth0</c> at <c>SUBNET.n/24</c>, and
/// this test process sits on the LAN too, at <c>SUBNET.1</c> (a veth from its own namespace to the bridge), so
/// it can reach every host and run upstream servers the hosts reach. PREFIX is the task's prefix and this
/// process's id. Deleting the namespaces removes the veths and the bridge; leftovers of a crashed run of the same
/// prefix are removed at the start. Needs root and iproute2.
/// </summary>
public sealed class TestLan : IDisposable
{
    private readonly List<string> _namespaces = new();
    private readonly string _prefix;

    /// <summary>The first three octets of the LAN, e.g. "10.234.5".</summary>
    public string Subnet24 { get; }

    /// <summary>This test process's own address on the LAN.</summary>
    public string Gateway => Subnet24 + ".1";

    private string BridgeNs => _prefix + "br";
    private string GatewayLink => _prefix + "g";

    public TestLan(string prefix, string subnet24)
    {
        _prefix = $"{prefix}{Environment.ProcessId % 10000}";
        Subnet24 = subnet24;
        NetworkNamespace.Run("ip", "link", "del", GatewayLink, "--ignore-errors");
        NetworkNamespace.Run("ip", "netns", "del", BridgeNs, "--ignore-errors");
        NetworkNamespace.Run("ip", "netns", "add", BridgeNs);
        _namespaces.Add(BridgeNs);
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "set", "lo", "up");
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "add", "br0", "type", "bridge");
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "set", "br0", "up");
        NetworkNamespace.Run("ip", "link", "add", GatewayLink, "type", "veth", "peer", "name", "vgw", "netns", BridgeNs);
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "set", "vgw", "master", "br0");
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "set", "vgw", "up");
        NetworkNamespace.Run("ip", "addr", "add", Gateway + "/24", "dev", GatewayLink);
        NetworkNamespace.Run("ip", "link", "set", GatewayLink, "up");
    }

    /// <summary>Adds a host: namespace PREFIX+name with eth0 at SUBNET.octet; returns (namespace, address).</summary>
    public (string Namespace, string Address) AddHost(string name, int octet)
    {
        string ns = _prefix + name;
        string address = $"{Subnet24}.{octet}";
        NetworkNamespace.Run("ip", "netns", "del", ns, "--ignore-errors");
        NetworkNamespace.Run("ip", "netns", "add", ns);
        _namespaces.Add(ns);
        NetworkNamespace.Run("ip", "-n", ns, "link", "set", "lo", "up");
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "add", "v" + name, "type", "veth", "peer", "name", "eth0", "netns", ns);
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "set", "v" + name, "master", "br0");
        NetworkNamespace.Run("ip", "-n", BridgeNs, "link", "set", "v" + name, "up");
        NetworkNamespace.Run("ip", "-n", ns, "addr", "add", address + "/24", "dev", "eth0");
        NetworkNamespace.Run("ip", "-n", ns, "link", "set", "eth0", "up");
        return (ns, address);
    }

    public void Dispose()
    {
        // The processes in the hosts were started (and are killed) by the tests; the namespaces go last.
        foreach (string ns in Enumerable.Reverse(_namespaces)) NetworkNamespace.Run("ip", "netns", "del", ns, "--ignore-errors");
        NetworkNamespace.Run("ip", "link", "del", GatewayLink, "--ignore-errors");
    }
}
