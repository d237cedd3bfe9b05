using System.Text;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace TimeMesh.Node.Config;

/// <summary>What <see cref="ConfigFileCheck"/> found in one file.</summary>
public sealed record ConfigCheckResult(
    string Source,
    IReadOnlyList<ConfigProblem> Problems,
    IReadOnlyList<string> Notes,
    Akka.Configuration.Config? Full,
    IReadOnlyDictionary<string, KeyOrigin> Origins)
{
    public bool Ok => Problems.Count == 0;

    /// <summary>Every problem, one a line, "FILE:LINE:COLUMN: KEY: MESSAGE".</summary>
    public string Describe() => string.Join('\n', Problems.Select(p => p.Format(Source)));
}

/// <summary>
/// Reads a configuration file exactly or refuses it: <see cref="HoconLint"/> first (what Akka's parser would
/// read differently), then every key against <see cref="ConfigKeys"/>, then the Akka keys TimeMesh documents
/// and the settings that only make sense together; with <c>values: true</c> also every value, as the node
/// reads them (what <c>timemesh check-config</c> does). All problems are collected, not only the first.
/// </summary>
public static partial class ConfigFileCheck
{
    public static ConfigCheckResult CheckFile(string path, bool values)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
            return new ConfigCheckResult(path, [new ConfigProblem(0, 0, "", "the file does not exist")], [], null, new Dictionary<string, KeyOrigin>());
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ConfigCheckResult(path, [new ConfigProblem(0, 0, "", "cannot read it: " + e.Message)], [], null, new Dictionary<string, KeyOrigin>());
        }
        return CheckText(text, path, values, configFile: full);
    }

    /// <param name="text">The file's text.</param>
    /// <param name="source">The name problems carry (the path as the user gave it).</param>
    /// <param name="values">Also read every value as the node does (settings, persistence, cluster transport).</param>
    /// <param name="configFile">The file's full path, set as timemesh.config-file (its permissions are judged when it holds a password).</param>
    public static ConfigCheckResult CheckText(string text, string source, bool values, string? configFile = null)
    {
        var lint = HoconLint.Read(text);
        var problems = new List<ConfigProblem>(lint.Problems);
        var origins = new Dictionary<string, KeyOrigin>(StringComparer.Ordinal);
        foreach (var key in lint.Keys) origins[key.Path] = key;

        // Unknown keys: the first unknown part of a path only ("lcoal", not also "lcoal.stratum").
        var unknownPrefixes = new List<string>();
        foreach (var key in lint.Keys)
        {
            if (unknownPrefixes.Any(u => key.Path.StartsWith(u + ".", StringComparison.Ordinal) || key.Path.StartsWith(u + "[", StringComparison.Ordinal))) continue;
            string? nearest = ConfigKeys.Unknown(key.Path);
            if (nearest is null) continue;
            unknownPrefixes.Add(key.Path);
            problems.Add(new ConfigProblem(key.Line, key.Column, key.Path, UnknownMessage(key.Path, nearest)));
        }

        Akka.Configuration.Config? full = null;
        // Akka's parser reads text with a structural problem differently (or never returns: HoconText), so it
        // reads only text the lint passed.
        if (lint.Problems.Count == 0)
        {
            if (!HoconText.TryParseWithin(lint.NormalisedText, HoconText.DefaultLimit, out var user, out var error))
                problems.Add(new ConfigProblem(0, 0, "", $"the HOCON parser did not finish within {HoconText.DefaultLimit.TotalSeconds:0} s"));
            else if (error is not null)
                problems.Add(new ConfigProblem(0, 0, "", "the file is not valid HOCON: " + error.Message));
            else
            {
                // The lint and Akka's parser must agree on every key written.
                foreach (var key in lint.Keys)
                {
                    if (key.Path.Contains('[') || LooksUp(user!, key.Path)) continue;
                    if (!HasPathOrNull(user!, key.Path))
                        problems.Add(new ConfigProblem(key.Line, key.Column, key.Path, "Akka's HOCON parser did not read this key as written; please report this file"));
                }
                Func<Akka.Configuration.Config, Akka.Configuration.Config> fileLayer = configFile is null ? c => c : c =>
                    ConfigurationFactory.ParseString($"{SecretFiles.ConfigFileKey} = {HoconText.Quote(configFile)}").WithFallback(c);
                full = TimeMeshSettings.WithReference(fileLayer(user!));
                if (problems.Count == 0) problems.AddRange(CheckTogether(full, origins, values));
                if (values && problems.Count == 0)
                {
                    // CheckValues takes keys out of the tree it reads: a parse of its own.
                    var copy = ConfigurationFactory.ParseString(lint.NormalisedText);
                    problems.AddRange(CheckValues(copy, fileLayer, origins));
                }
            }
        }
        problems.Sort((a, b) => a.Line != b.Line ? a.Line.CompareTo(b.Line) : a.Column.CompareTo(b.Column));
        return new ConfigCheckResult(source, problems, lint.Notes, problems.Count == 0 ? full : null, origins);
    }

    // Akka's path splitter throws on some quoted keys the lint accepts (ArgumentOutOfRangeException from
    // SplitDottedPathHonouringQuotes, found by tests/fuzz): such a key is one Akka did not read as written.
    private static bool LooksUp(Akka.Configuration.Config user, string path)
    {
        try
        {
            return user.HasPath(path);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static bool HasPathOrNull(Akka.Configuration.Config user, string path)
    {
        try
        {
            // "key = null" is written yet HasPath says no.
            return user.GetValue(path) is not null;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static string UnknownMessage(string path, string nearest)
    {
        string generic = ConfigKeys.Generic(path);
        bool outside = !generic.StartsWith("timemesh.", StringComparison.Ordinal) && !generic.StartsWith("akka.", StringComparison.Ordinal);
        if (outside)
        {
            string hint = nearest.Length > 0 ? $"; it belongs in timemesh {{ }} as {nearest}: did the timemesh block end early?" : "";
            return "unknown key outside timemesh { } and akka { }" + hint;
        }
        if (nearest.Length == 0)
            return "unknown key; src/TimeMesh.Node/reference.conf lists every key (docs/configuration.md)";
        string parent = path[..path.LastIndexOf('.')];
        string nearestParent = nearest[..nearest.LastIndexOf('.')];
        string suggestion = ConfigKeys.Generic(parent) == nearestParent ? nearest[(nearest.LastIndexOf('.') + 1)..] : nearest;
        return $"unknown key; did you mean `{suggestion}`?";
    }

    /// <summary>Problems of one key, or of keys together, that the settings classes do not judge (or judge only once the node runs).</summary>
    private static IEnumerable<ConfigProblem> CheckTogether(Akka.Configuration.Config full, IReadOnlyDictionary<string, KeyOrigin> origins, bool values)
    {
        var problems = new List<ConfigProblem>();
        void Add(string key, string message)
        {
            var origin = OriginOf(origins, key);
            problems.Add(new ConfigProblem(origin?.Line ?? 0, origin?.Column ?? 0, key, message));
        }

        foreach (string key in new[] { "akka.remote.dot-netty.tcp.port", "akka.remote.dot-netty.tcp.public-port", "akka.remote.dot-netty.tcp.bind-port", "akka.management.http.port" })
        {
            if (!origins.ContainsKey(key) || !full.HasPath(key)) continue;
            string raw = SafeString(full, key);
            if (!int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port > 65535)
                Add(key, $"value {raw}: allowed: a port from 0 to 65535");
        }

        var seeds = new List<(string Host, int Port)>();
        var seedTexts = new List<string>();
        const string seedKey = "akka.cluster.seed-nodes";
        if (origins.ContainsKey(seedKey) && full.HasPath(seedKey) && !full.GetValue(seedKey).IsEmpty)
        {
            var seedValue = full.GetValue(seedKey);
            if (!seedValue.IsArray())
                Add(seedKey, "allowed: a list of cluster addresses, e.g. [\"akka.tcp://timemesh@10.0.0.11:4053\"]");
            else
            {
                foreach (var item in seedValue.GetArray())
                {
                    string seed = item.IsString() ? item.GetString() : "{...}";
                    var match = SeedAddress().Match(seed);
                    if (!match.Success)
                    {
                        string why = BareIpv6Seed().IsMatch(seed)
                            ? "an IPv6 address takes brackets: \"akka.tcp://timemesh@[fd00::11]:4053\""
                            : "allowed: \"akka.tcp://timemesh@HOST:PORT\" (akka.ssl.tcp with cluster-tls)";
                        Add(seedKey, $"value \"{seed}\": {why}");
                        continue;
                    }
                    int port = int.Parse(match.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    if (port is < 1 or > 65535) Add(seedKey, $"value \"{seed}\": the port must be from 1 to 65535");
                    else
                    {
                        seeds.Add((match.Groups["host"].Value.Trim('[', ']'), port));
                        seedTexts.Add(seed);
                    }
                }
            }
        }

        if (!values) return problems;

        // What cannot work, though each key is fine: check-config, doctor and import-chrony refuse it, `timemesh
        // run` starts (a test mesh may start a master with no time to give).
        string role = full.HasPath("timemesh.role") ? SafeString(full, "timemesh.role").ToLowerInvariant() : "";
        if (role == "master")
        {
            bool upstream = NonEmptyList(full, "timemesh.server") || NonEmptyList(full, "timemesh.pool");
            bool local = full.HasPath("timemesh.local") && (full.GetValue("timemesh.local").IsObject() || SafeString(full, "timemesh.local").ToLowerInvariant() is "on" or "true" or "yes");
            if (!upstream && !local)
                Add("timemesh.role", "a master with no server, no pool and no local has no time to give its members (it serves stratum 16 forever): add server = [ { address = ... } ] or local { stratum = 10 }");
        }
        string systemName = full.HasPath(Mesh.ClusterSystemName.Key) ? SafeString(full, Mesh.ClusterSystemName.Key) : Mesh.ClusterSystemName.Default;
        if (role.Length > 0 && Mesh.ClusterSystemName.IsValid(systemName))
            foreach (string mismatch in Mesh.ClusterSystemName.Mismatches(systemName, seedTexts, $"set {Mesh.ClusterSystemName.Key} to the seeds' name, or correct the seed"))
                Add(seedKey, mismatch);
        if (role.Length > 0 && seeds.Count > 0 && origins.ContainsKey("timemesh.mesh.masters"))
        {
            var masterHosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var item in full.GetValue("timemesh.mesh.masters").GetArray().Where(v => v.IsString()))
                if (Mesh.MasterAddress.TryParse(item.GetString(), out var master)) masterHosts.Add(master.Host.Trim('[', ']'));
            if (masterHosts.Count > 0 && !seeds.Any(s => masterHosts.Contains(s.Host)))
                Add(seedKey, $"no seed node is on a master's host ({string.Join(", ", masterHosts)}, from timemesh.mesh.masters): the seeds must be masters' cluster addresses");
        }
        return problems;
    }

    private static bool NonEmptyList(Akka.Configuration.Config full, string key) =>
        full.HasPath(key) && full.GetValue(key) is { } v && !v.IsEmpty && v.IsArray() && v.GetArray().Count > 0;

    private static string SafeString(Akka.Configuration.Config full, string key)
    {
        try
        {
            var value = full.GetValue(key);
            return value.IsObject() ? "{...}" : value.IsArray() ? "[...]" : value.GetString() ?? "";
        }
        catch (Exception)
        {
            return "";
        }
    }

    [GeneratedRegex(@"^akka(\.ssl)?\.tcp://[A-Za-z0-9][A-Za-z0-9_-]*@(?<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?<port>[0-9]{1,5})/?$")]
    private static partial Regex SeedAddress();

    [GeneratedRegex(@"@[0-9A-Fa-f]*:[0-9A-Fa-f]*:")]
    private static partial Regex BareIpv6Seed();

    /// <summary>The origin of a key, or of the nearest enclosing key the file wrote.</summary>
    public static KeyOrigin? OriginOf(IReadOnlyDictionary<string, KeyOrigin> origins, string key)
    {
        for (string path = key; path.Length > 0;)
        {
            if (origins.TryGetValue(path, out var origin)) return origin;
            int cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
            if (cut <= 0) break;
            path = path[..cut];
        }
        return null;
    }

    /// <summary>
    /// Every value as the node reads it. The settings classes stop at the first bad value; so that every
    /// problem is found, each bad key is taken out of the file's tree and the reading repeated.
    /// </summary>
    private static IEnumerable<ConfigProblem> CheckValues(Akka.Configuration.Config user, Func<Akka.Configuration.Config, Akka.Configuration.Config> fileLayer, IReadOnlyDictionary<string, KeyOrigin> origins)
    {
        var problems = new List<ConfigProblem>();
        for (int round = 0; round < 50; round++)
        {
            var full = TimeMeshSettings.WithReference(fileLayer(user));
            TimeMeshConfigException? failure = null;
            try
            {
                var settings = TimeMeshSettings.FromConfig(full);
                if (settings.Upstream.HasSources || settings.Mesh is not null) Persistence.PersistenceSettings.FromConfig(full);
                StatusPage.HistorySettings.FromConfig(full);
                if (settings.Mesh is { } mesh)
                {
                    bool tls = full.HasPath("timemesh.cluster-tls") && full.GetValue("timemesh.cluster-tls").IsObject();
                    Mesh.ClusterTransport.FromConfig(full, tls, mesh.Insecure);
                    if (tls) Mesh.ClusterTlsSettings.Parse(full);
                }
            }
            catch (TimeMeshConfigException e)
            {
                failure = e;
            }
            if (failure is null) break;
            var origin = OriginOf(origins, failure.Key);
            string message = failure.Message.StartsWith("invalid configuration: ", StringComparison.Ordinal)
                ? failure.Message["invalid configuration: ".Length..]
                : failure.Message;
            if (message.StartsWith(failure.Key + " = ", StringComparison.Ordinal)) message = "value " + message[(failure.Key.Length + 3)..];
            problems.Add(new ConfigProblem(origin?.Line ?? 0, origin?.Column ?? 0, failure.Key, message));
            if (!Remove(user, failure.Key)) break;
        }
        return problems;
    }

    /// <summary>Takes a key ("timemesh.server[1].port") out of the parsed tree; false when it is not there.</summary>
    private static bool Remove(Akka.Configuration.Config user, string key)
    {
        var parts = Regex.Split(key, @"\.|(?=\[)").Where(p => p.Length > 0).ToArray();
        HoconValue? current = user.Root;
        for (int i = 0; i < parts.Length; i++)
        {
            if (current is null) return false;
            string part = parts[i];
            bool last = i == parts.Length - 1;
            if (part.StartsWith('['))
            {
                if (!current.IsArray() || !int.TryParse(part.Trim('[', ']'), out int index)) return false;
                var items = current.GetArray();
                if (index >= items.Count) return false;
                if (last) return false;
                current = items[index];
                continue;
            }
            if (!current.IsObject()) return false;
            var obj = current.GetObject();
            if (!obj.Items.TryGetValue(part, out var child)) return false;
            if (last) return obj.Items.Remove(part);
            current = child;
        }
        return false;
    }

    /// <summary>
    /// The effective configuration: every timemesh key with its value (defaults filled in, the optional
    /// blocks the file sets with their built-in defaults) and where it came from, then the Akka keys the file sets.
    /// </summary>
    public static string RenderEffective(ConfigCheckResult result)
    {
        var full = result.Full ?? throw new InvalidOperationException("the configuration has problems");
        var defaults = ConfigurationFactory.ParseString(ConfigKeys.OptionalDefaults);
        var lines = new List<(string Key, string Value, string Origin)>();
        void Walk(string path, HoconValue value, string? defaultPath)
        {
            if (value.IsObject())
            {
                var items = value.GetObject().Items;
                var names = new SortedSet<string>(items.Keys, StringComparer.Ordinal);
                if (defaultPath is not null && defaults.HasPath(defaultPath))
                    foreach (var name in defaults.GetValue(defaultPath).GetObject().Items.Keys) names.Add(name);
                foreach (string name in names)
                {
                    if (name == "config-file") continue;
                    if (items.TryGetValue(name, out var child)) Walk(path + "." + name, child, defaultPath is null ? null : defaultPath + "." + name);
                    else lines.Add((path + "." + name, Render(defaults.GetValue(defaultPath + "." + name)), "built-in default"));
                }
                return;
            }
            if (value.IsArray() && value.GetArray().Any(v => v.IsObject()) && (path.EndsWith(".server") || path.EndsWith(".pool")))
            {
                var items = value.GetArray();
                for (int i = 0; i < items.Count; i++)
                {
                    string itemPath = $"{path}[{i}]";
                    var template = ConfigurationFactory.ParseString(ConfigKeys.OptionalDefaults).GetValue("source").GetObject().Items.ToDictionary();
                    if (path.EndsWith(".pool")) template["maxsources"] = defaults.GetValue("pool.maxsources");
                    var own = items[i].IsObject() ? items[i].GetObject().Items : new Dictionary<string, HoconValue>();
                    foreach (string name in new SortedSet<string>(own.Keys.Concat(template.Keys), StringComparer.Ordinal))
                    {
                        if (own.TryGetValue(name, out var v)) lines.Add(($"{itemPath}.{name}", Render(v), OriginText(result, $"{itemPath}.{name}")));
                        else lines.Add(($"{itemPath}.{name}", Render(template[name]), "built-in default"));
                    }
                }
                return;
            }
            lines.Add((path, Render(value), OriginText(result, path)));
        }
        var root = full.GetValue("timemesh").GetObject().Items;
        foreach (string name in new SortedSet<string>(root.Keys, StringComparer.Ordinal))
        {
            if (name == "config-file") continue;
            Walk("timemesh." + name, root[name], name is "local" or "ratelimit" ? name : null);
        }
        foreach (var origin in result.Origins.Values.Where(o => o.Path.StartsWith("akka.", StringComparison.Ordinal) && !o.IsObject && !o.Path.Contains('[')))
            if (LooksUp(full, origin.Path)) lines.Add((origin.Path, Render(full.GetValue(origin.Path)), OriginText(result, origin.Path)));

        int width = Math.Min(60, lines.Max(l => l.Key.Length + 3 + l.Value.Length));
        var text = new StringBuilder();
        foreach (var (key, value, origin) in lines)
        {
            string assignment = $"{key} = {value}";
            text.Append(assignment.PadRight(width)).Append("  # ").Append(origin).Append('\n');
        }
        return text.ToString();
    }

    private static string OriginText(ConfigCheckResult result, string path) =>
        result.Origins.TryGetValue(path, out var origin) ? $"{result.Source}:{origin.Line}" : "default (reference.conf)";

    private static string Render(HoconValue value)
    {
        if (value.IsObject())
            return "{ " + string.Join(", ", value.GetObject().Items.Select(kv => $"{kv.Key} = {Render(kv.Value)}")) + " }";
        if (value.IsArray()) return "[" + string.Join(", ", value.GetArray().Select(Render)) + "]";
        if (value.IsEmpty) return "[]";
        string? s = value.GetString();
        if (s is null) return "[]"; // Akka's HOCON does not call an empty list a list
        bool plain = s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_');
        return plain ? s : HoconText.Quote(s);
    }
}
