using System.Net;
using System.Net.Sockets;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// Refuses a cluster port that another process already listens on, before Akka binds it.
/// </summary>
/// <remarks>
/// Akka's TCP transport asks .NET for SO_REUSEADDR, and on Linux .NET sets SO_REUSEPORT with it. Two processes of
/// one user can then listen on the same cluster port at once, and the kernel hands each incoming connection to
/// either of them: a second node started with the first one's port (a copied config, a unit started twice)
/// would silently take half of its cluster connections. The check binds the port once with SO_REUSEADDR alone,
/// which Linux refuses while any socket listens there and grants over connections left in TIME_WAIT by a
/// restart. What is left is the moment between the check and Akka's own bind.
/// </remarks>
public static class ClusterPort
{
    private const int SolSocket = 1, SoReuseAddr = 2;

    /// <summary>
    /// The address and port Akka's TCP transport binds for the node <paramref name="identity"/> describes
    /// (<c>bind-hostname</c>/<c>bind-port</c> when set, else <c>hostname</c>/<c>port</c>), with the key that set
    /// the port; null outside a mesh, when the port is 0 (the kernel picks one) or the host is not an address this
    /// check can bind (empty, or a name that does not resolve): Akka's own bind judges those.
    /// </summary>
    public static (IPEndPoint Endpoint, string Key)? BindEndpoint(NodeIdentity identity)
    {
        if (!identity.InMesh || identity.BindPort is <= 0 or > 65535) return null;
        string host = identity.BindHostname;
        if (string.IsNullOrWhiteSpace(host)) return null;
        if (!IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            try { address = Dns.GetHostAddresses(host).FirstOrDefault(); }
            catch (SocketException) { return null; }
            if (address is null) return null;
        }
        return (new IPEndPoint(address, identity.BindPort), identity.BindPortKey);
    }

    /// <summary>
    /// Throws a <see cref="TimeMeshConfigException"/> naming the port key when a socket already listens on the
    /// cluster port of the node <paramref name="identity"/> describes; returns quietly when it is free or not checkable.
    /// </summary>
    public static void EnsureFree(NodeIdentity identity)
    {
        if (BindEndpoint(identity) is not var (endpoint, key)) return;
        using var probe = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        // SocketOptionName.ReuseAddress would set SO_REUSEPORT too on Linux and share the port; the raw option does not.
        probe.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
        try
        {
            probe.Bind(endpoint);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new TimeMeshConfigException(key, endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"another process already listens on {endpoint} (another node on this host needs a cluster port of its own)");
        }
        catch (SocketException)
        {
            // Not ours to judge (an address this host does not have, a permission): Akka's bind reports it.
        }
    }
}
