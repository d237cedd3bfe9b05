using System.Diagnostics;

namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// A network namespace this test makes, joined to the test's own namespace by veth pairs (one per link, each
/// a /24 of its own: this side .1, the namespace's side .2). Links can be cut and mended to make a partition.
/// Deleted when disposed. Needs root and iproute2; fails loudly without them.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private readonly List<string> _hostEnds = new();

    public string Name { get; }

    private NetworkNamespace(string name) => Name = name;

    public static NetworkNamespace Create(string prefix)
    {
        string name = $"{prefix}{Environment.ProcessId % 10000}";
        Run("ip", "netns", "del", name, "--ignore-errors");
        Run("ip", "netns", "add", name);
        var ns = new NetworkNamespace(name);
        Run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
        return ns;
    }

    /// <summary>Adds a link: this side gets 10.X.Y.1/24, the namespace's side 10.X.Y.2/24.</summary>
    public (string HostAddress, string NamespaceAddress) AddLink(int link, string subnet24)
    {
        string host = $"{Name}h{link}", inside = $"{Name}n{link}";
        Run("ip", "link", "add", host, "type", "veth", "peer", "name", inside);
        _hostEnds.Add(host);
        Run("ip", "link", "set", inside, "netns", Name);
        Run("ip", "addr", "add", $"{subnet24}.1/24", "dev", host);
        Run("ip", "link", "set", host, "up");
        Run("ip", "netns", "exec", Name, "ip", "addr", "add", $"{subnet24}.2/24", "dev", inside);
        Run("ip", "netns", "exec", Name, "ip", "link", "set", inside, "up");
        return ($"{subnet24}.1", $"{subnet24}.2");
    }

    /// <summary>Cuts (down) or mends (up) one link, both directions at once.</summary>
    public void SetLink(int link, bool up) => Run("ip", "link", "set", $"{Name}h{link}", up ? "up" : "down");

    public static void Run(params string[] args)
    {
        var info = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args.Skip(1).Where(a => a != "--ignore-errors")) info.ArgumentList.Add(a);
        using var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {args[0]}");
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 && !args.Contains("--ignore-errors"))
            throw new InvalidOperationException($"`{string.Join(' ', args)}` failed ({p.ExitCode}): {err}");
    }

    public void Dispose()
    {
        foreach (var host in _hostEnds) Run("ip", "link", "del", host, "--ignore-errors");
        Run("ip", "netns", "del", Name, "--ignore-errors");
    }
}
