using System.Net;
using System.Reflection;
using Akka.Configuration;
using TimeMesh.Core.Access;
using TimeMesh.Core.Discipline;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Sources;

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
    TimeSpan LoopRestartDelay)
{
    /// <summary>
    /// Serve the interleaved mode (RFC 9769, chrony's xleave) to clients that ask for it: replies are sent with kernel
    /// transmit timestamps (SO_TIMESTAMPING), whose times later replies to the same client carry. On by default, as in chrony.
    /// </summary>
    public bool Interleaved { get; init; } = true;

    /// <summary>Recent exchanges remembered for the interleaved mode (16 bytes each); a client's previous one must still be held.</summary>
    public int InterleavedExchanges { get; init; } = DefaultInterleavedExchanges;

    public const int DefaultInterleavedExchanges = 16384;
}

/// <summary>How the node's served clock is steered.</summary>
public enum ClockMode
{
    /// <summary>The OS clock plus a software correction: no privileges, the OS clock is never touched.</summary>
    Virtual,
    /// <summary>The kernel clock through adjtimex (needs CAP_SYS_TIME); opt-in.</summary>
    System,
}

/// <summary>chrony's pool directive: a name resolved into up to <see cref="MaxSources"/> servers.</summary>
public sealed record PoolSettings(string Address, int MaxSources, SourceSettings Template);

/// <summary>Where the node takes its time from and how it disciplines its clock.</summary>
public sealed record UpstreamSettings(
    IReadOnlyList<SourceSettings> Servers,
    IReadOnlyList<PoolSettings> Pools,
    SyncSettings Sync,
    ClockMode Clock)
{
    public bool HasSources => Servers.Count > 0 || Pools.Count > 0;

    /// <summary>PEM file of the CAs trusted for NTS sources (timemesh.nts.trusted-certificates); empty: the system's roots.</summary>
    public string NtsTrustedCertificatesPath { get; init; } = "";

    /// <summary>
    /// Requests to sources take T1 from the kernel's transmit timestamp (SO_TIMESTAMPING) where the kernel gives
    /// one; false always uses the user-space reading before the send call (the fallback, for tests and comparisons).
    /// </summary>
    public bool KernelTransmitTimestamps { get; init; } = true;
}

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
    public required UpstreamSettings Upstream { get; init; }
    /// <summary>The symmetric keys of <c>timemesh.keyfile</c> (chrony's format); empty when none is set.</summary>
    public Core.Auth.KeyRing Keys { get; init; } = Core.Auth.KeyRing.Empty;
    /// <summary>The node's place in a mesh; null when it runs alone.</summary>
    public Mesh.MeshSettings? Mesh { get; init; }
    /// <summary><c>timemesh.system-name</c>: the name of a standalone mesh node's cluster actor system (seed addresses carry it).</summary>
    public string SystemName { get; init; } = TimeMesh.Node.Mesh.ClusterSystemName.Default;
    /// <summary>The read-only monitoring endpoint (HTTP); off unless configured.</summary>
    public Control.ControlSettings Control { get; init; } = TimeMesh.Node.Control.ControlSettings.Off;
    /// <summary>chrony's command port (read-only); off unless configured (reference.conf turns it on at 323).</summary>
    public Control.CmdmonSettings Cmdmon { get; init; } = TimeMesh.Node.Control.CmdmonSettings.Off;
    /// <summary>NTS (RFC 8915): the key-exchange server and the trust for NTS sources.</summary>
    public Nts.NtsSettings Nts { get; init; } = new();
    /// <summary>
    /// Secret files others can read, accepted only because <c>timemesh.insecure-file-permissions = on</c>:
    /// one warning each, logged at every start (<see cref="SecretFiles"/>).
    /// </summary>
    public IReadOnlyList<string> InsecureFileWarnings { get; init; } = [];
    /// <summary>
    /// <c>timemesh.hwtimestamp</c> (chrony's hwtimestamp): the interfaces whose NIC should stamp NTP packets in hardware,
    /// "*" for every interface; empty (the default): software stamps only.
    /// </summary>
    public IReadOnlyList<string> HardwareTimestampInterfaces { get; init; } = [];

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
    /// <remarks>Idempotent: a config that already is the reference (an empty user config, given twice) is
    /// returned as it is, because Akka refuses a config as its own fallback (found by tests/fuzz).</remarks>
    public static Akka.Configuration.Config WithReference(Akka.Configuration.Config user) =>
        ReferenceEquals(user, Reference) ? Reference : user.WithFallback(Reference);

    /// <summary>
    /// Reads a HOCON file exactly or refuses it (<see cref="ConfigFileCheck"/>): a syntax slip Akka's parser
    /// would read differently, an unknown key, a bad Akka key TimeMesh documents, or settings that cannot work
    /// together become one <see cref="TimeMeshConfigException"/> listing every problem with its line. The
    /// file's path goes into <see cref="SecretFiles.ConfigFileKey"/>, so that its permissions are judged
    /// when it holds a password. The values themselves are judged by <see cref="FromConfig"/>.
    /// </summary>
    public static Akka.Configuration.Config LoadFile(string path)
    {
        if (!File.Exists(path)) throw new TimeMeshConfigException("--config", path, "the file does not exist");
        var result = ConfigFileCheck.CheckFile(path, values: false);
        if (!result.Ok) throw new TimeMeshConfigException(result);
        return result.Full!;
    }

    public static TimeMeshSettings FromConfig(Akka.Configuration.Config config)
    {
        var r = new ConfigReader(WithReference(config));
        SchedulerTick.Read(WithReference(config));

        var listen = r.StringList(Prefix + "listen", "addresses with ports, e.g. [\"127.0.0.1:123\", \"[::1]:123\"]")
            .Select(text => ParseEndpoint(Prefix + "listen", text))
            .ToArray();
        if (listen.Length == 0)
            throw new TimeMeshConfigException(Prefix + "listen", "[]", "allowed: at least one address:port");
        if (listen.Distinct().Count() != listen.Length)
            throw new TimeMeshConfigException(Prefix + "listen", r.RawString(Prefix + "listen"), "each address:port may appear once");

        // Like ssh, judge a secret file's permissions before reading it.
        var insecure = SecretFiles.Enforce(config);
        var keys = KeyFileSettings.Load(r);
        var settings = new TimeMeshSettings
        {
            InsecureFileWarnings = insecure,
            Keys = keys,
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
                r.Duration(Prefix + "ntp-server.loop-restart-delay", TimeSpan.Zero, TimeSpan.FromMinutes(10)))
            {
                Interleaved = r.Switch(Prefix + "ntp-server.interleaved", true),
                InterleavedExchanges = (int)r.Integer(Prefix + "ntp-server.interleaved-exchanges", 16, 1 << 24),
            },
            Upstream = ParseUpstream(r, keys),
            Mesh = ParseMesh(r),
            SystemName = TimeMesh.Node.Mesh.ClusterSystemName.Parse(r),
            Control = TimeMesh.Node.Control.ControlSettings.FromConfig(r),
            Cmdmon = TimeMesh.Node.Control.CmdmonSettings.FromConfig(r),
            Nts = TimeMesh.Node.Nts.NtsSettings.Parse(r),
            HardwareTimestampInterfaces = ParseHardwareTimestamp(r),
        };
        // A member with three or more pinned masters takes its first time from a majority of them.
        if (settings.Mesh is { } mesh && Core.Mesh.MeshFollowing.StartQuorum(mesh.Role, mesh.Masters.Count) is > 0 and var quorum)
            settings = settings with { Upstream = settings.Upstream with { Sync = settings.Upstream.Sync with { StartQuorum = quorum } } };
        // NTS's key exchange is TimeMesh.Nts's: a config that uses it without the package fails here, naming the key.
        TimeMesh.Node.Nts.NtsPart.RequireFor(settings);
        return settings;
    }

    /// <summary>timemesh.hwtimestamp: interface names (Linux's rule) or "*", each once.</summary>
    private static IReadOnlyList<string> ParseHardwareTimestamp(ConfigReader r)
    {
        const string key = Prefix + "hwtimestamp";
        const string allowed = "allowed: a list of interface names such as [\"eth0\"], or [\"*\"] for every interface (chrony: hwtimestamp eth0, hwtimestamp *); [] keeps software timestamps";
        var names = r.StringList(key, allowed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            if (name != "*" && TimeMesh.Net.HardwareTimestamping.CheckName(name) is { } why)
                throw new TimeMeshConfigException(key, name, why + "; " + allowed);
            if (!seen.Add(name))
                throw new TimeMeshConfigException(key, name, "each interface may appear once; " + allowed);
        }
        return names;
    }

    private static Mesh.MeshSettings? ParseMesh(ConfigReader r)
    {
        const string key = Prefix + "role";
        if (!r.Has(key)) return null;
        string role = r.String(key, "allowed: master or member");
        var meshRole = role.ToLowerInvariant() switch
        {
            "master" => Core.Mesh.MeshRole.Master,
            "member" => Core.Mesh.MeshRole.Member,
            _ => throw new TimeMeshConfigException(key, role, "allowed: master (syncs upstream, may lead) or member (follows the masters)"),
        };
        var election = new Core.Mesh.ElectionSettings();
        return new Mesh.MeshSettings(
            meshRole,
            r.Duration(Prefix + "mesh.status-interval", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1)),
            election with
            {
                HysteresisSeconds = r.Duration(Prefix + "mesh.hysteresis", TimeSpan.Zero, TimeSpan.FromHours(1)).TotalSeconds,
            })
        {
            RejoinDelay = r.Duration(Prefix + "mesh.rejoin-delay", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            NoMasterWarning = r.Duration(Prefix + "mesh.no-master-warning", TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)),
            Masters = ParseMasters(r, Prefix + "mesh.masters"),
            Discovery = TimeMesh.Node.Mesh.DiscoverySettings.Parse(r),
            Insecure = r.Switch(Prefix + "mesh.insecure", false),
            Authenticate = ParseAuthenticate(r, Prefix + "mesh.authenticate"),
            NtsPort = (int)r.Integer(Prefix + "mesh.nts-port", 1, 65535, Core.Nts.NtsIds.DefaultKePort + 1),
        };
    }

    private static Core.Mesh.MeshAuthenticationMode ParseAuthenticate(ConfigReader r, string key)
    {
        const string allowed = "allowed: auto (NTS between members and masters when timemesh.cluster-tls is set up), on (always; refuse to start without cluster-tls) or off (plain NTP inside the mesh)";
        if (!r.Has(key)) return Core.Mesh.MeshAuthenticationMode.Auto;
        string text = r.String(key, allowed);
        return text.ToLowerInvariant() switch
        {
            "auto" => Core.Mesh.MeshAuthenticationMode.Auto,
            "on" or "true" or "yes" => Core.Mesh.MeshAuthenticationMode.On,
            "off" or "false" or "no" => Core.Mesh.MeshAuthenticationMode.Off,
            _ => throw new TimeMeshConfigException(key, text, allowed),
        };
    }

    /// <summary>
    /// The masters' NTP addresses, "host:port": an IP address ("10.0.0.1:123", "[fd00::1]:123") or a name that
    /// resolves to one or more masters (a Kubernetes headless service).
    /// </summary>
    private static IReadOnlyList<TimeMesh.Node.Mesh.MasterAddress> ParseMasters(ConfigReader r, string key)
    {
        const string allowed = "allowed: the masters' NTP addresses as \"host:port\", e.g. [\"10.0.0.11:123\", \"10.0.0.12:123\"], \"[fd00::11]:123\" or \"timemesh-master.ntp.svc:123\"";
        var masters = new List<TimeMesh.Node.Mesh.MasterAddress>();
        foreach (string text in r.StringList(key, allowed))
        {
            if (!TimeMesh.Node.Mesh.MasterAddress.TryParse(text, out var master)) throw new TimeMeshConfigException(key, text, allowed);
            if (masters.Contains(master)) throw new TimeMeshConfigException(key, text, "each master may appear once");
            masters.Add(master);
        }
        return masters;
    }

    private static UpstreamSettings ParseUpstream(ConfigReader r, Core.Auth.KeyRing keys)
    {
        const string sourceKeys = "{ address = \"192.0.2.1\", port = 123, iburst = on, minpoll = 6, maxpoll = 10, prefer = off }";
        var servers = r.ObjectList(Prefix + "server", sourceKeys).Select(s => ParseSource(s, s.String("address", "allowed: a host name or IP address"), keys)).ToList();
        var pools = r.ObjectList(Prefix + "pool", "{ address = \"pool.example.org\", maxsources = 4, iburst = on }")
            .Select(p => new PoolSettings(
                p.String("address", "allowed: a host name"),
                (int)p.Integer("maxsources", 1, 16, 4),
                ParseSource(p, p.String("address", "allowed: a host name"), keys)))
            .ToList();

        var discipline = new DisciplineSettings();
        const string makestep = Prefix + "makestep";
        if (r.Present(makestep) && !r.IsObject(makestep))
        {
            if (!r.Switch(makestep, true)) discipline = discipline with { MakeStepLimit = 0 };
        }
        else if (r.Present(makestep))
        {
            discipline = discipline with
            {
                MakeStepThresholdSeconds = r.Number(makestep + ".threshold", 0, 1e9, discipline.MakeStepThresholdSeconds),
                MakeStepLimit = (int)r.Integer(makestep + ".limit", -1, int.MaxValue, discipline.MakeStepLimit),
            };
        }
        discipline = discipline with { MaxSlewRatePpm = r.Number(Prefix + "maxslewrate", 1, 500_000, discipline.MaxSlewRatePpm) };

        var selection = new SelectionSettings();
        selection = selection with
        {
            MinSources = (int)r.Integer(Prefix + "minsources", 1, 64, selection.MinSources),
            MaxDistanceSeconds = r.Number(Prefix + "maxdistance", 1e-6, 1e6, selection.MaxDistanceSeconds),
            MaxJitterSeconds = r.Number(Prefix + "maxjitter", 1e-9, 1e6, selection.MaxJitterSeconds),
            CombineLimit = r.Number(Prefix + "combinelimit", 0, 1e6, selection.CombineLimit),
            ReselectDistanceSeconds = r.Number(Prefix + "reselectdist", 0, 1e3, selection.ReselectDistanceSeconds),
        };
        var sync = new SyncSettings { Selection = selection, Discipline = discipline };
        sync = sync with { PollTarget = (int)r.Integer(Prefix + "polltarget", 6, 60, sync.PollTarget) };

        string clock = r.String(Prefix + "clock", "allowed: virtual or system");
        var mode = clock.ToLowerInvariant() switch
        {
            "virtual" => ClockMode.Virtual,
            "system" => ClockMode.System,
            _ => throw new TimeMeshConfigException(Prefix + "clock", clock, "allowed: virtual (default; the OS clock is never touched) or system (adjtimex, needs CAP_SYS_TIME)"),
        };
        string trusted = r.RawString(Prefix + "nts.trusted-certificates") ?? "";
        if (trusted.Length > 0 && !File.Exists(trusted))
            throw new TimeMeshConfigException(Prefix + "nts.trusted-certificates", trusted, "the file does not exist");
        return new UpstreamSettings(servers, pools, sync, mode)
        {
            NtsTrustedCertificatesPath = trusted,
            KernelTransmitTimestamps = r.Switch(Prefix + "kernel-tx-timestamps", true),
        };
    }

    private static SourceSettings ParseSource(ConfigReader s, string address, Core.Auth.KeyRing keys)
    {
        int minPoll = (int)s.Integer("minpoll", SourceSettings.MinPollFloor, SourceSettings.MaxPollCeiling, SourceSettings.DefaultMinPollLog2);
        int maxPoll = (int)s.Integer("maxpoll", minPoll, SourceSettings.MaxPollCeiling, Math.Max(minPoll, SourceSettings.DefaultMaxPollLog2));
        return new SourceSettings
        {
            Address = address,
            Port = (int)s.Integer("port", 1, 65535, 123),
            IBurst = s.Switch("iburst", false),
            Burst = s.Switch("burst", false),
            MinPollLog2 = minPoll,
            MaxPollLog2 = maxPoll,
            Prefer = s.Switch("prefer", false),
            Xleave = s.Switch("xleave", false),
            MaxUnreach = (int)s.Integer("maxunreach", 1, 100_000, 4),
            Nts = s.Switch("nts", false),
            NtsKePort = (int)s.Integer("ntsport", 1, 65535, Core.Nts.NtsIds.DefaultKePort),
            Key = KeyFileSettings.SourceKey(s, keys),
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
