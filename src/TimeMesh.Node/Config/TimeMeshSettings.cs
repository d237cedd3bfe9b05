using System.Net;
using System.Reflection;
using Akka.Configuration;
using TimeMesh.Core.Access;
using TimeMesh.Core.RateLimit;

namespace TimeMesh.Node.Config;

/// <summary>chrony's <c>local</c> directive.</summary>
public sealed record LocalSettings(int Stratum)
{
    public const int DefaultStratum = 10;
}

/// <summary>How the NTP socket actors run.</summary>
public sealed record NtpServerSettings(
    int LoopsPerSocket,
    int BatchSize,
    int ReceiveBufferBytes,
    bool KernelTimestamps,
    TimeSpan LoopRestartDelay);

/// <summary>
/// The node's settings, parsed once from HOCON (the embedded reference.conf under the user's file) and
/// validated: code reads these, never raw keys.
/// </summary>
public sealed record TimeMeshSettings
{
    public required IReadOnlyList<IPEndPoint> Listen { get; init; }
    public required AccessList Access { get; init; }
    public LocalSettings? Local { get; init; }
    public RateLimitSettings? RateLimit { get; init; }
    public required long ClientLogLimitBytes { get; init; }
    public required string DataDir { get; init; }
    public required NtpServerSettings NtpServer { get; init; }

    private const string Prefix = "timemesh.";

    /// <summary>The embedded reference configuration: every key with its default.</summary>
    public static Akka.Configuration.Config Reference { get; } = LoadReference();

    private static Akka.Configuration.Config LoadReference()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("TimeMesh.Node.reference.conf")
            ?? throw new InvalidOperationException("reference.conf is not embedded in TimeMesh.Node");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    /// <summary>The user's HOCON with the reference configuration as fallback.</summary>
    public static Akka.Configuration.Config WithReference(Akka.Configuration.Config user) => user.WithFallback(Reference);

    /// <summary>Parses a HOCON file; a syntax error becomes a <see cref="TimeMeshConfigException"/> naming the file.</summary>
    public static Akka.Configuration.Config LoadFile(string path)
    {
        if (!File.Exists(path)) throw new TimeMeshConfigException("--config", path, "the file does not exist");
        try
        {
            return WithReference(ConfigurationFactory.ParseString(File.ReadAllText(path)));
        }
        catch (Exception e) when (e is not TimeMeshConfigException)
        {
            throw new TimeMeshConfigException("--config", path, "the file is not valid HOCON: " + e.Message);
        }
    }

    public static TimeMeshSettings FromConfig(Akka.Configuration.Config config)
    {
        var r = new ConfigReader(WithReference(config));

        var listen = r.StringList(Prefix + "listen", "addresses with ports, e.g. [\"127.0.0.1:123\", \"[::1]:123\"]")
            .Select(text => ParseEndpoint(Prefix + "listen", text))
            .ToArray();
        if (listen.Length == 0)
            throw new TimeMeshConfigException(Prefix + "listen", "[]", "allowed: at least one address:port");
        if (listen.Distinct().Count() != listen.Length)
            throw new TimeMeshConfigException(Prefix + "listen", r.RawString(Prefix + "listen"), "each address:port may appear once");

        return new TimeMeshSettings
        {
            Listen = listen,
            Access = new AccessList(
                ParseSubnets(r, Prefix + "allow"),
                ParseSubnets(r, Prefix + "deny")),
            Local = ParseLocal(r),
            RateLimit = ParseRateLimit(r),
            ClientLogLimitBytes = r.Integer(Prefix + "clientloglimit", 128, 1L << 32),
            DataDir = r.String(Prefix + "data-dir", "allowed: a directory path"),
            NtpServer = new NtpServerSettings(
                (int)r.Integer(Prefix + "ntp-server.loops-per-socket", 1, 64),
                (int)r.Integer(Prefix + "ntp-server.batch-size", 1, 1024),
                (int)r.Bytes(Prefix + "ntp-server.receive-buffer", 65536, 1L << 30),
                r.Switch(Prefix + "ntp-server.kernel-timestamps", true),
                r.Duration(Prefix + "ntp-server.loop-restart-delay", TimeSpan.Zero, TimeSpan.FromMinutes(10))),
        };
    }

    private static IPEndPoint ParseEndpoint(string key, string text)
    {
        if (IPEndPoint.TryParse(text.Trim(), out var endpoint) && endpoint.Port is >= 0 and <= 65535 && text.Contains(':'))
        {
            // "::1:123" would parse as an address without a port; demand brackets for IPv6.
            bool bracketed = text.TrimStart().StartsWith('[');
            if (endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !bracketed)
                throw new TimeMeshConfigException(key, text, "IPv6 listen addresses take brackets, e.g. \"[::1]:123\"");
            return endpoint;
        }
        throw new TimeMeshConfigException(key, text, "allowed: an IP address and port, e.g. \"0.0.0.0:123\" or \"[::]:123\" (port 0 picks a free port)");
    }

    private static IEnumerable<Subnet> ParseSubnets(ConfigReader r, string key)
    {
        foreach (string spec in r.StringList(key, "subnets such as \"192.168.1.0/24\", \"fd00::/8\" or \"all\""))
        {
            if (!Subnet.TryParseSpec(spec, out var subnets, out string? why))
                throw new TimeMeshConfigException(key, spec, why + "; allowed: an address, a subnet or \"all\"");
            foreach (var subnet in subnets) yield return subnet;
        }
    }

    private static LocalSettings? ParseLocal(ConfigReader r)
    {
        const string key = Prefix + "local";
        if (!r.Present(key)) return null;
        if (!r.IsObject(key))
        {
            if (!r.Switch(key, false)) return null;
            return new LocalSettings(LocalSettings.DefaultStratum);
        }
        return new LocalSettings((int)r.Integer(key + ".stratum", 1, 15, LocalSettings.DefaultStratum));
    }

    private static RateLimitSettings? ParseRateLimit(ConfigReader r)
    {
        const string key = Prefix + "ratelimit";
        if (!r.Present(key)) return null;
        if (!r.IsObject(key))
        {
            if (!r.Switch(key, false)) return null;
            return RateLimitSettings.ChronyDefaults;
        }
        var d = RateLimitSettings.ChronyDefaults;
        return new RateLimitSettings(
            (int)r.Integer(key + ".interval", RateLimitSettings.MinIntervalLog2, RateLimitSettings.MaxIntervalLog2, d.IntervalLog2),
            (int)r.Integer(key + ".burst", RateLimitSettings.MinBurst, RateLimitSettings.MaxBurst, d.Burst),
            (int)r.Integer(key + ".leak", RateLimitSettings.MinLeakLog2, RateLimitSettings.MaxLeakLog2, d.LeakLog2),
            r.Switch(key + ".kod", d.KissOfDeath));
    }
}
