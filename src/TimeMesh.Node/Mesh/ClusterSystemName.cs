using System.Text.RegularExpressions;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// The name of a node's cluster actor system (<c>timemesh.system-name</c>): the "timemesh" in
/// <c>akka.tcp://timemesh@10.0.0.11:4053</c>. Akka.Remote delivers a message only to the system the address names, so a
/// node whose seeds carry another name never joins them; the seeds' side only logs "Dropping message … for non-local
/// recipient". This class parses the key and says so at start instead.
/// </summary>
public static partial class ClusterSystemName
{
    /// <summary>The default, and the name every standalone node had before the key existed.</summary>
    public const string Default = "timemesh";

    /// <summary>The key in the config.</summary>
    public const string Key = "timemesh.system-name";

    /// <summary>What Akka accepts as an actor system name (Akka 1.5 refuses '_' too).</summary>
    public const string Allowed = "allowed: an actor system name of letters, digits and '-', not starting with '-' (the same on every node of the cluster), e.g. \"timemesh\"";

    /// <summary>True when Akka accepts <paramref name="name"/> as an actor system name.</summary>
    public static bool IsValid(string name) => ValidName().IsMatch(name);

    internal static string Parse(ConfigReader r)
    {
        if (!r.Present(Key)) return Default;
        string name = r.String(Key, Allowed);
        if (!IsValid(name)) throw new TimeMeshConfigException(Key, name, Allowed);
        return name;
    }

    /// <summary>
    /// One message per seed whose address names another actor system than <paramref name="ownSystem"/> (a seed
    /// that is no Akka address is Akka's business and left out). Empty when every seed names this node's system.
    /// </summary>
    /// <param name="ownSystem">This node's cluster system name.</param>
    /// <param name="seeds">The seed nodes' cluster addresses (<c>akka.cluster.seed-nodes</c>).</param>
    /// <param name="fix">What the message advises.</param>
    public static IReadOnlyList<string> Mismatches(string ownSystem, IEnumerable<string> seeds, string fix)
    {
        var problems = new List<string>();
        foreach (string seed in seeds)
        {
            if (SystemOf(seed) is not { } seedSystem || seedSystem == ownSystem) continue;
            problems.Add($"the seed node {seed} is in actor system \"{seedSystem}\" but this node's cluster system is \"{ownSystem}\": "
                + $"Akka never lets them join (the seed only logs \"Dropping message … for non-local recipient\"); {fix}");
        }
        return problems;
    }

    /// <summary>The actor system name of an Akka address ("akka.tcp://timemesh@10.0.0.1:4053" → "timemesh"); null when it is none.</summary>
    public static string? SystemOf(string address)
    {
        var match = AddressSystem().Match(address);
        return match.Success ? match.Groups["system"].Value : null;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]*$")]
    private static partial Regex ValidName();

    [GeneratedRegex("^[A-Za-z0-9.+-]+://(?<system>[^@/]+)@")]
    private static partial Regex AddressSystem();
}
