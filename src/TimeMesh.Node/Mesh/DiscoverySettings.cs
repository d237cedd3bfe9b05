using System.Globalization;
using System.Net;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Mesh;

/// <summary>How the nodes of a mesh find each other to form one cluster (<c>timemesh.mesh.discovery.method</c>).</summary>
public enum DiscoveryMethod
{
    /// <summary>Akka's own <c>akka.cluster.seed-nodes</c> (the default; configs from before discovery).</summary>
    Seeds,
    /// <summary>Cluster Bootstrap with the masters' management endpoints listed in the config.</summary>
    Config,
    /// <summary>Cluster Bootstrap with the masters found as pods through the Kubernetes API.</summary>
    Kubernetes,
}

/// <summary>
/// <c>timemesh.mesh.discovery</c>: formation through Akka.Management's Cluster Bootstrap instead of seed nodes. Every
/// node runs Akka.Management's HTTP endpoint; the masters are the contact points (listed in the config, or the pods
/// the Kubernetes API returns for a label selector); a node joins the cluster any contact point reports, and when
/// none is in a cluster the master with the lowest contact-point address forms it once every contact point answered.
/// </summary>
public sealed record DiscoverySettings
{
    private const string Key = "timemesh.mesh.discovery";

    /// <summary>How the mesh forms (seeds, config or kubernetes).</summary>
    internal const string MethodKey = Key + ".method";

    /// <summary>Seed nodes: nothing here is used.</summary>
    public static DiscoverySettings SeedNodes { get; } = new() { Method = DiscoveryMethod.Seeds };

    public DiscoveryMethod Method { get; init; }

    /// <summary>The name the contact points are looked up under (Akka: contact-point-discovery.service-name).</summary>
    public string ServiceName { get; init; } = "timemesh-master";

    /// <summary>config: the masters' management endpoints, "host:port".</summary>
    public IReadOnlyList<(string Host, int Port)> Endpoints { get; init; } = [];

    /// <summary>How many contact points must answer before a new cluster is formed.</summary>
    public int RequiredContactPoints { get; init; } = 2;

    /// <summary>A new cluster is formed only once every discovered contact point answered.</summary>
    public bool ContactWithAllContactPoints { get; init; } = true;

    /// <summary>How long the discovered contact points must stay the same before a new cluster is formed.</summary>
    public TimeSpan StableMargin { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where this node's management endpoint listens and is announced (its cluster hostname by default).</summary>
    public string ManagementHostname { get; init; } = "";

    public int ManagementPort { get; init; } = 8558;

    /// <summary>kubernetes: the pods' label selector ("{0}" stands for the service name).</summary>
    public string LabelSelector { get; init; } = "app={0}";

    /// <summary>kubernetes: the namespace to look in; empty: the pod's own.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>kubernetes: the name of the masters' container port for the management endpoint.</summary>
    public string PortName { get; init; } = "management";

    public bool Enabled => Method != DiscoveryMethod.Seeds;

    internal static DiscoverySettings Parse(ConfigReader r)
    {
        string methodText = r.Has(Key + ".method") ? r.String(Key + ".method", "") : "seeds";
        var method = methodText.ToLowerInvariant() switch
        {
            "seeds" => DiscoveryMethod.Seeds,
            "config" => DiscoveryMethod.Config,
            "kubernetes" => DiscoveryMethod.Kubernetes,
            _ => throw new TimeMeshConfigException(Key + ".method", methodText,
                "allowed: seeds (akka.cluster.seed-nodes), config (the masters' management endpoints in discovery.endpoints) or kubernetes (the masters' pods through the Kubernetes API)"),
        };
        if (method == DiscoveryMethod.Seeds) return SeedNodes;

        var seeds = r.StringList("akka.cluster.seed-nodes", "");
        if (seeds.Count > 0)
            throw new TimeMeshConfigException("akka.cluster.seed-nodes", r.RawString("akka.cluster.seed-nodes"),
                $"must be empty with {Key}.method = {methodText.ToLowerInvariant()} (Cluster Bootstrap does not run beside seed nodes; leave seed-nodes out, or use method = seeds)");

        const string nameAllowed = "allowed: a DNS label such as \"timemesh-master\" (letters, digits, '-', '.')";
        string serviceName = r.String(Key + ".service-name", nameAllowed);
        if (Uri.CheckHostName(serviceName) != UriHostNameType.Dns)
            throw new TimeMeshConfigException(Key + ".service-name", serviceName, nameAllowed);

        var endpoints = new List<(string, int)>();
        const string endpointsAllowed = "allowed: the masters' management endpoints as \"host:port\", e.g. [\"10.0.0.11:8558\", \"10.0.0.12:8558\"]";
        foreach (string text in r.StringList(Key + ".endpoints", endpointsAllowed))
        {
            if (!MasterAddress.TryParse(text, out var endpoint)) throw new TimeMeshConfigException(Key + ".endpoints", text, endpointsAllowed);
            if (endpoints.Contains((endpoint.Host, endpoint.Port))) throw new TimeMeshConfigException(Key + ".endpoints", text, "each endpoint may appear once");
            endpoints.Add((endpoint.Host, endpoint.Port));
        }
        if (method == DiscoveryMethod.Config && endpoints.Count == 0)
            throw new TimeMeshConfigException(Key + ".endpoints", "[]", "with method = config: " + endpointsAllowed);

        int required = (int)r.Integer(Key + ".required-contact-point-nr", 1, 64, 2);
        if (method == DiscoveryMethod.Config && required > endpoints.Count)
            throw new TimeMeshConfigException(Key + ".required-contact-point-nr", required.ToString(CultureInfo.InvariantCulture),
                $"allowed: at most the number of endpoints listed ({endpoints.Count}); no cluster would ever form");

        string managementHost = r.RawString(Key + ".management.hostname") ?? "";
        if (managementHost.Length == 0)
            managementHost = NodeIdentity.ManagementHostDefault(r) ?? "";
        if (managementHost.Length == 0 || (IPAddress.TryParse(managementHost, out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any))))
            throw new TimeMeshConfigException(Key + ".management.hostname", managementHost.Length == 0 ? null : managementHost,
                "allowed: the address other nodes reach this node's management endpoint at; it defaults to the cluster address (akka.remote.dot-netty.tcp.hostname), which is empty or a wildcard here");
        if (managementHost.Contains('"') || managementHost.Contains('\\') || managementHost.Contains('\0'))
            throw new TimeMeshConfigException(Key + ".management.hostname", managementHost, "allowed: a host name or IP address");

        string selector = r.String(Key + ".kubernetes.label-selector", "allowed: a Kubernetes label selector, e.g. \"app={0}\" ({0}: the service name)");
        string ns = r.RawString(Key + ".kubernetes.namespace") ?? "";
        string portName = r.String(Key + ".kubernetes.port-name", "allowed: the name of the masters' container port for the management endpoint, e.g. \"management\"");
        foreach (var (k, v) in new[] { ("label-selector", selector), ("namespace", ns), ("port-name", portName) })
            if (v.Contains('"') || v.Contains('\\') || v.Contains('\0') || v.Contains('\n'))
                throw new TimeMeshConfigException($"{Key}.kubernetes.{k}", v, "allowed: no quotes, backslashes or line breaks");

        return new DiscoverySettings
        {
            Method = method,
            ServiceName = serviceName,
            Endpoints = endpoints,
            RequiredContactPoints = required,
            ContactWithAllContactPoints = r.Switch(Key + ".contact-with-all-contact-points", true),
            StableMargin = r.Duration(Key + ".stable-margin", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            ManagementHostname = managementHost,
            ManagementPort = (int)r.Integer(Key + ".management.port", 1, 65535, 8558),
            LabelSelector = selector,
            Namespace = ns,
            PortName = portName,
        };
    }

    /// <summary>
    /// What these settings mean in Akka.Management's and Akka.Discovery's own keys; the node puts it under the user's
    /// config, so an <c>akka.management.*</c> key the user sets wins (and keys not mapped here keep Akka's defaults).
    /// </summary>
    public Akka.Configuration.Config ToAkkaConfig()
    {
        if (!Enabled) return Akka.Configuration.Config.Empty;
        var hocon = new System.Text.StringBuilder();
        hocon.AppendLine($"akka.management.http.hostname = {HoconText.Quote(ManagementHostname)}");
        hocon.AppendLine($"akka.management.http.port = {ManagementPort}");
        hocon.AppendLine("akka.management.cluster.bootstrap.contact-point-discovery {");
        hocon.AppendLine($"  service-name = {HoconText.Quote(ServiceName)}");
        hocon.AppendLine($"  required-contact-point-nr = {RequiredContactPoints}");
        hocon.AppendLine($"  contact-with-all-contact-points = {(ContactWithAllContactPoints ? "on" : "off")}");
        hocon.AppendLine($"  stable-margin = {(long)StableMargin.TotalMilliseconds}ms");
        if (Method == DiscoveryMethod.Kubernetes) hocon.AppendLine($"  port-name = {HoconText.Quote(PortName)}");
        hocon.AppendLine("}");
        if (Method == DiscoveryMethod.Config)
        {
            // Each endpoint names its own port; no filtering on the local management port.
            hocon.AppendLine("akka.management.cluster.bootstrap.contact-point.filter-on-fallback-port = off");
            hocon.AppendLine("akka.discovery.method = config");
            hocon.AppendLine($"akka.discovery.config.services.{HoconText.Quote(ServiceName)}.endpoints = [{string.Join(", ", Endpoints.Select(e => HoconText.Quote(new MasterAddress(e.Host, e.Port).ToString())))}]");
        }
        else
        {
            hocon.AppendLine("akka.discovery.method = kubernetes-api");
            hocon.AppendLine($"akka.discovery.kubernetes-api.pod-label-selector = {HoconText.Quote(LabelSelector)}");
            if (Namespace.Length > 0) hocon.AppendLine($"akka.discovery.kubernetes-api.pod-namespace = {HoconText.Quote(Namespace)}");
        }
        return Akka.Configuration.ConfigurationFactory.ParseString(hocon.ToString());
    }

    /// <summary>
    /// The port name of the lookup the bootstrap makes (Akka.Discovery's <c>Lookup(ServiceName, LookupPortName, "tcp")</c>;
    /// its effective name is the service name: no service-namespace is set). Null with config discovery.
    /// </summary>
    public string? LookupPortName => Method == DiscoveryMethod.Kubernetes ? PortName : null;
}
