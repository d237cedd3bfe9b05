using System.Net;

namespace TimeMesh.Node.Control;

/// <summary>
/// Admits connections to one listener up to a total and a per-client cap and closes the rest at once, so that
/// idle sockets from one address cannot use up what everyone else needs. Kestrel has a total cap only.
/// A client is an IP address; an IPv6 client is its /64, the smallest block a host is usually given.
/// </summary>
public sealed class ConnectionGate(int maxConnections, int maxPerClient)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, int> _perClient = new();
    private int _open;
    private long _refused;

    /// <summary>Connections open now.</summary>
    public int Open { get { lock (_lock) return _open; } }

    /// <summary>Connections closed at once because a cap was reached.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>The client a remote address counts against (null for a Unix socket peer: the total cap only).</summary>
    public static IPAddress? ClientOf(EndPoint? remote)
    {
        if (remote is not IPEndPoint { Address: var address }) return null;
        if (address.IsIPv4MappedToIPv6) return address.MapToIPv4();
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return address;
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes);
    }

    public bool TryEnter(IPAddress? client)
    {
        lock (_lock)
        {
            int mine = client is null ? 0 : _perClient.GetValueOrDefault(client);
            if (_open >= maxConnections || (client is not null && mine >= maxPerClient))
            {
                _refused++;
                return false;
            }
            _open++;
            if (client is not null) _perClient[client] = mine + 1;
            return true;
        }
    }

    public void Leave(IPAddress? client)
    {
        lock (_lock)
        {
            _open--;
            if (client is null) return;
            int left = _perClient[client] - 1;
            if (left == 0) _perClient.Remove(client);
            else _perClient[client] = left;
        }
    }
}
