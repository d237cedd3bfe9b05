using System.Reflection;
using Akka.Configuration.Hocon;

namespace TimeMesh.Node.Config;

/// <summary>
/// The keys a configuration file may set: every key under <c>timemesh</c> (reference.conf plus the optional
/// blocks it only describes in comments), and, under the Akka keys TimeMesh documents (the cluster address,
/// the seed nodes, Akka.Management and Cluster Bootstrap), the keys of Akka's own reference configurations.
/// </summary>
public static class ConfigKeys
{
    /// <summary>Keys that reference.conf leaves out (off by default, or one per list item).</summary>
    private static readonly string[] Optional =
    [
        "local", "local.stratum",
        "ratelimit", "ratelimit.interval", "ratelimit.burst", "ratelimit.leak", "ratelimit.kod",
        "role", "config-file",
        "cluster-tls", "cluster-tls.certificate", "cluster-tls.password", "cluster-tls.password-file", "cluster-tls.key", "cluster-tls.ca",
        "server[]", "pool[]",
        .. SourceKeys.Select(k => "server[]." + k),
        .. SourceKeys.Append("maxsources").Select(k => "pool[]." + k),
    ];

    private static string[] SourceKeys => ["address", "port", "iburst", "burst", "minpoll", "maxpoll", "prefer", "xleave", "maxunreach", "nts", "ntsport", "key"];

    /// <summary>
    /// The built-in defaults of the optional blocks, for showing the effective configuration: what
    /// TimeMeshSettings fills in when a block is present without them.
    /// </summary>
    public const string OptionalDefaults = """
        local { stratum = 10 }
        ratelimit { interval = 3, burst = 8, leak = 2, kod = off }
        source { port = 123, iburst = off, burst = off, minpoll = 6, maxpoll = 10, prefer = off, xleave = off, maxunreach = 4, nts = off, ntsport = 4460 }
        pool { maxsources = 4 }
        """;

    /// <summary>The Akka subtrees checked key by key, and how deep (0: every level).</summary>
    public static readonly IReadOnlyList<(string Prefix, int Depth)> DocumentedAkka =
    [
        ("akka.remote.dot-netty.tcp", 0),
        ("akka.remote.dot-netty.ssl", 0),
        ("akka.cluster", 1),
        ("akka.management.http", 0),
        ("akka.management.cluster.bootstrap", 0),
    ];

    private static readonly Lazy<HashSet<string>> TimeMeshKeys = new(() =>
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        AddTree(keys, "timemesh", TimeMeshSettings.Reference.GetValue("timemesh"));
        foreach (string key in Optional) keys.Add("timemesh." + key);
        return keys;
    });

    /// <summary>
    /// Akka.Management's assembly, which comes with TimeMesh.Control (Cluster Bootstrap); null in an application
    /// without it, where the akka.management keys are not checked here (timemesh.mesh.discovery, the only thing that
    /// reads them, is refused without the package, naming it).
    /// </summary>
    private static readonly Lazy<Assembly?> AkkaManagement = new(() => OptionalParts.TryLoad("Akka.Management"));

    private static readonly Lazy<HashSet<string>> AkkaKeys = new(() =>
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var sources = new List<(Assembly, string)>
        {
            (typeof(Akka.Remote.RemoteSettings).Assembly, "Akka.Remote.Configuration.Remote.conf"),
            (typeof(Akka.Cluster.Cluster).Assembly, "Akka.Cluster.Configuration.Cluster.conf"),
        };
        if (AkkaManagement.Value is { } management) sources.Add((management, "Akka.Management.Resources.reference.conf"));
        foreach (var (assembly, resource) in sources)
        {
            var config = Akka.Configuration.ConfigurationFactory.ParseString(ReadResource(assembly, resource));
            if (config.HasPath("akka")) AddTree(keys, "akka", config.GetValue("akka"));
        }
        AddTree(keys, "akka", TimeMeshSettings.Reference.GetValue("akka"));
        return keys;
    });

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"{name} is not embedded in {assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static void AddTree(HashSet<string> keys, string path, HoconValue value)
    {
        keys.Add(path);
        if (!value.IsObject()) return;
        foreach (var (name, child) in value.GetObject().Items) AddTree(keys, path + "." + name, child);
    }

    /// <summary>"timemesh.server[2].port" → "timemesh.server[].port".</summary>
    public static string Generic(string path)
    {
        // A plain scan, not a regex: this runs for every key at every start, and the first regex of a process costs
        // ~12 ms of JIT (docs/benchmark.md, start-up).
        if (path.IndexOf('[') < 0) return path;
        var sb = new System.Text.StringBuilder(path.Length);
        for (int i = 0; i < path.Length; i++)
        {
            if (path[i] == '[')
            {
                int j = i + 1;
                while (j < path.Length && char.IsAsciiDigit(path[j])) j++;
                if (j > i + 1 && j < path.Length && path[j] == ']')
                {
                    sb.Append("[]");
                    i = j;
                    continue;
                }
            }
            sb.Append(path[i]);
        }
        return sb.ToString();
    }

    /// <summary>
    /// Null when the key is known (or not one TimeMesh checks); otherwise the known key that should be
    /// suggested (or "" when none is close).
    /// </summary>
    public static string? Unknown(string path)
    {
        string generic = Generic(path);
        if (generic == "timemesh" || generic == "akka") return null;
        if (generic.StartsWith("timemesh.", StringComparison.Ordinal))
            return TimeMeshKeys.Value.Contains(generic) ? null : Nearest(generic, TimeMeshKeys.Value);
        if (generic.StartsWith("akka.", StringComparison.Ordinal))
        {
            foreach (var (prefix, depth) in DocumentedAkka)
            {
                if (!generic.StartsWith(prefix + ".", StringComparison.Ordinal)) continue;
                if (prefix.StartsWith("akka.management.", StringComparison.Ordinal) && AkkaManagement.Value is null) return null;
                string checkedPath = generic;
                if (depth > 0)
                {
                    var below = generic[(prefix.Length + 1)..].Split('.');
                    checkedPath = prefix + "." + string.Join('.', below.Take(depth));
                }
                return AkkaKeys.Value.Contains(checkedPath) ? null : Nearest(checkedPath, AkkaKeys.Value);
            }
            return null;
        }
        // Anything else at the top level is a key outside both blocks.
        return Nearest("timemesh." + generic, TimeMeshKeys.Value) is { Length: > 0 } inside ? inside : "";
    }

    /// <summary>The known key with the same parent whose last part is closest; else the closest last part anywhere; "" when none is close.</summary>
    private static string Nearest(string path, HashSet<string> known)
    {
        int dot = path.LastIndexOf('.');
        string parent = path[..dot], name = path[(dot + 1)..];
        int limit = Math.Max(2, name.Length / 3);
        string best = "";
        int bestDistance = int.MaxValue;
        foreach (string candidate in known)
        {
            int cdot = candidate.LastIndexOf('.');
            if (cdot < 0) continue;
            string cparent = candidate[..cdot], cname = candidate[(cdot + 1)..];
            int distance = Distance(name, cname) + (cparent == parent ? 0 : 1);
            if (distance < bestDistance || (distance == bestDistance && string.CompareOrdinal(candidate, best) < 0))
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        return bestDistance <= limit ? best : "";
    }

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions: "lcoal" is one step from "local").</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
