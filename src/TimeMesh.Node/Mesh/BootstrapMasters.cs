using System.Net;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// With Cluster Bootstrap there are no seed nodes, so the masters' cluster addresses are learnt from discovery: every
/// interval the contact points are looked up as the bootstrap looks them up (the config's endpoints, or the master
/// pods through the Kubernetes API) and each one's management endpoint is asked for <c>/bootstrap/seed-nodes</c>, whose
/// <c>SelfNode</c> is that master's cluster address. The reunion moves a cluster only into one that contains such an
/// address, and probes them as it probes the seeds. Addresses are kept across incarnations, at most <see cref="Max"/>.
/// </summary>
public sealed class BootstrapMasters(DiscoverySettings settings)
{
    /// <summary>At most this many contact points are asked, and this many addresses kept.</summary>
    public const int Max = 16;

    private const int MaxBodyBytes = 64 * 1024;
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        Timeout = TimeSpan.FromSeconds(2),
        MaxResponseContentBufferSize = MaxBodyBytes,
    };

    private readonly object _gate = new();
    private List<Address> _masters = new();

    /// <summary>The masters' cluster addresses last learnt (newest answers first).</summary>
    public IReadOnlyList<Address> Addresses { get { lock (_gate) return _masters.ToList(); } }

    /// <summary>The same, as the strings the reunion compares.</summary>
    public IReadOnlyCollection<string> AddressStrings { get { lock (_gate) return _masters.Select(a => a.ToString()).ToHashSet(StringComparer.Ordinal); } }

    /// <summary>Asks discovery and then every contact point; runs until the system terminates.</summary>
    public async Task RunAsync(ActorSystem system, TimeSpan interval)
    {
        var log = Logging.GetLogger(system, typeof(BootstrapMasters));
        while (!system.WhenTerminated.IsCompleted)
        {
            try
            {
                await RefreshAsync(system, log);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                log.Debug("cluster: looking up the masters' cluster addresses failed: {0}", e.Message);
            }
            await Task.WhenAny(Task.Delay(interval), system.WhenTerminated);
        }
    }

    private async Task RefreshAsync(ActorSystem system, ILoggingAdapter log)
    {
        // NodePlan made sure TimeMesh.Control (Akka.Management and its discovery) is there when discovery is on.
        var resolved = await Control.HttpPart.Endpoints!.LookupContactPoints(system, settings, TimeSpan.FromSeconds(3));
        var found = new List<Address>();
        foreach (var (address, port) in resolved.Take(Max))
        {
            string host = address;
            if (host.Contains(':') && !host.StartsWith('[')) host = $"[{host}]";
            var uri = $"http://{host}:{port ?? settings.ManagementPort}/bootstrap/seed-nodes";
            try
            {
                string body = await Http.GetStringAsync(uri);
                if (ParseSelfNode(body) is { } self) found.Add(self);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or UriFormatException)
            {
                // A master that is down or not yet listening: keep what was learnt from it before.
            }
        }
        if (found.Count == 0) return;
        lock (_gate)
        {
            var before = _masters.ToHashSet();
            _masters = found.Concat(_masters.Where(m => !found.Contains(m))).Take(Max).ToList();
            if (!before.SetEquals(_masters))
                log.Info("cluster: the masters' cluster addresses (from discovery): [{0}]", string.Join(", ", _masters));
        }
    }

    /// <summary>
    /// The contact point's own cluster address from Akka.Management's <c>/bootstrap/seed-nodes</c> answer
    /// (<c>{"SelfNode": ..., "Nodes": [...]}</c>); the address as a string or as Akka's address object.
    /// </summary>
    public static Address? ParseSelfNode(string json)
    {
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (!property.Name.Equals("SelfNode", StringComparison.OrdinalIgnoreCase)) continue;
            var v = property.Value;
            try
            {
                if (v.ValueKind == JsonValueKind.String) return Address.Parse(v.GetString()!);
                if (v.ValueKind != JsonValueKind.Object) return null;
                string? Get(string name) => v.EnumerateObject().FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) is { Value.ValueKind: JsonValueKind.String or JsonValueKind.Number } p
                    ? p.Value.ToString() : null;
                string? protocol = Get("Protocol"), systemName = Get("System"), host = Get("Host"), port = Get("Port");
                if (protocol is null || systemName is null || host is null || !int.TryParse(port, out int p)) return null;
                return new Address(protocol, systemName, host, p);
            }
            catch (Exception e) when (e is UriFormatException or FormatException or ArgumentException)
            {
                return null;
            }
        }
        return null;
    }
}
