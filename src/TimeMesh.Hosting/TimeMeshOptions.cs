using System.Globalization;
using System.Text;
using TimeMesh.Node.Config;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Hosting;

/// <summary>An upstream NTP server (chrony's <c>server</c> directive).</summary>
public sealed record TimeMeshServer(string Address, int Port = 123)
{
    /// <summary>Send a quick burst of requests at start so the first sample comes within seconds (chrony's <c>iburst</c>); on unless set.</summary>
    public bool IBurst { get; init; } = true;
    /// <summary>Select this server over others that are as good (chrony's <c>prefer</c>).</summary>
    public bool Prefer { get; init; }
    /// <summary>log2 seconds; null: TimeMesh's default (6).</summary>
    public int? MinPollLog2 { get; init; }
    /// <summary>log2 seconds; null: TimeMesh's default (10).</summary>
    public int? MaxPollLog2 { get; init; }
}

/// <summary>Where the drift state is kept (Akka.Persistence.Sql, with TimeMesh's own plugin ids).</summary>
public sealed record TimeMeshPersistenceOptions
{
    /// <summary><c>sqlite</c> (a file in <see cref="TimeMeshOptions.DataDir"/> unless <see cref="ConnectionString"/> says otherwise) or <c>postgresql</c>.</summary>
    public string Provider { get; init; } = "sqlite";
    /// <summary>The ADO.NET connection string: required for <c>postgresql</c>; for <c>sqlite</c>, null keeps the file in the data directory.</summary>
    public string? ConnectionString { get; init; }
    /// <summary>At most one write per interval; null: 60 s.</summary>
    public TimeSpan? WriteInterval { get; init; }
}

/// <summary>
/// TimeMesh inside an application's Akka.NET cluster, rendered to the <c>timemesh</c> HOCON of
/// <c>src/TimeMesh.Node/reference.conf</c> (whose defaults fill in whatever is left null here).
/// </summary>
public sealed record TimeMeshOptions
{
    /// <summary>
    /// <see cref="MeshRole.Master"/> syncs to <see cref="Servers"/> and may lead; <see cref="MeshRole.Member"/>
    /// follows the masters. Null: no mesh, the node only syncs to its own <see cref="Servers"/> (with none it never
    /// synchronises, and warns at start). Default: <see cref="MeshRole.Member"/>.
    /// </summary>
    public MeshRole? Role { get; init; } = MeshRole.Member;

    /// <summary>Upstream NTP servers (masters; a member may have some too).</summary>
    public IReadOnlyList<TimeMeshServer> Servers { get; init; } = [];

    /// <summary>
    /// Where this node serves NTP, e.g. <c>"0.0.0.0:123"</c>, <c>"127.0.0.1:0"</c> (a free port). Empty: no NTP
    /// server (chrony's <c>port 0</c>), the node only keeps the mesh clock; a master must serve, because
    /// the members take their time from it over NTP.
    /// </summary>
    public IReadOnlyList<string> NtpListen { get; init; } = [];

    /// <summary>Who may ask this node for time (chrony's <c>allow</c>); a master must allow the members' addresses.</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];

    /// <summary>chrony's <c>local stratum N</c>: serve the own clock at this stratum while unsynchronised.</summary>
    public int? LocalStratum { get; init; }

    /// <summary>Where TimeMesh keeps its files (the default SQLite database); null: <c>data</c>.</summary>
    public string? DataDir { get; init; }

    /// <summary>Keep the drift state so a restarted node starts on its known frequency; null: not kept.</summary>
    public TimeMeshPersistenceOptions? Persistence { get; init; }

    /// <summary>
    /// The masters' NTP addresses (<c>timemesh.mesh.masters</c>, "host:port"): a member polls every one of them
    /// whatever the cluster says, so its time never depends on membership; empty: the masters the cluster advertises.
    /// </summary>
    public IReadOnlyList<string> Masters { get; init; } = [];

    /// <summary>How often the node tells the mesh its status; null: 1 s.</summary>
    public TimeSpan? StatusInterval { get; init; }

    /// <summary>How long a better master must stay better before it takes over; null: 10 s.</summary>
    public TimeSpan? Hysteresis { get; init; }

    /// <summary>
    /// The read-only monitoring endpoint (<c>timemesh.control.listen</c>, e.g. <c>"127.0.0.1:11130"</c>);
    /// null: left to the reference config.
    /// </summary>
    public string? ControlListen { get; init; }

    /// <summary>Any further <c>timemesh { ... }</c> keys, as HOCON; they win over the properties above.</summary>
    public string? ExtraHocon { get; init; }

    /// <summary>Whether this node serves NTP.</summary>
    public bool ServesNtp => NtpListen.Count > 0;

    /// <summary>The <c>timemesh</c> HOCON these options stand for (only what is set; reference.conf supplies the rest).</summary>
    public string ToHocon()
    {
        var sb = new StringBuilder();
        sb.AppendLine("timemesh {");
        if (Role is { } role) Line(sb, "role", role == MeshRole.Master ? "master" : "member");
        if (ServesNtp) Line(sb, "listen", List(NtpListen));
        if (Allow.Count > 0) Line(sb, "allow", List(Allow));
        if (LocalStratum is { } stratum) Line(sb, "local", $"{{ stratum = {stratum.ToString(CultureInfo.InvariantCulture)} }}");
        if (DataDir is not null) Line(sb, "data-dir", HoconText.Quote(DataDir));
        if (Servers.Count > 0) Line(sb, "server", "[" + string.Join(", ", Servers.Select(Server)) + "]");
        if (Masters.Count > 0) Line(sb, "mesh.masters", List(Masters));
        if (StatusInterval is { } status) Line(sb, "mesh.status-interval", Duration(status));
        if (Hysteresis is { } hysteresis) Line(sb, "mesh.hysteresis", Duration(hysteresis));
        if (Persistence is { } p)
        {
            Line(sb, "persistence.provider", HoconText.Quote(p.Provider));
            if (p.ConnectionString is not null) Line(sb, "persistence.connection-string", HoconText.Quote(p.ConnectionString));
            if (p.WriteInterval is { } w) Line(sb, "persistence.write-interval", Duration(w));
        }
        if (ControlListen is not null) Line(sb, "control.listen", HoconText.Quote(ControlListen));
        sb.AppendLine("}");
        if (!string.IsNullOrWhiteSpace(ExtraHocon)) sb.AppendLine(ExtraHocon);
        return sb.ToString();
    }

    private static void Line(StringBuilder sb, string key, string value) => sb.Append("  ").Append(key).Append(" = ").AppendLine(value);

    private static string Server(TimeMeshServer s)
    {
        var parts = new List<string>
        {
            "address = " + HoconText.Quote(s.Address),
            "port = " + s.Port.ToString(CultureInfo.InvariantCulture),
            "iburst = " + (s.IBurst ? "on" : "off"),
            "prefer = " + (s.Prefer ? "on" : "off"),
        };
        if (s.MinPollLog2 is { } min) parts.Add("minpoll = " + min.ToString(CultureInfo.InvariantCulture));
        if (s.MaxPollLog2 is { } max) parts.Add("maxpoll = " + max.ToString(CultureInfo.InvariantCulture));
        return "{ " + string.Join(", ", parts) + " }";
    }

    private static string List(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(HoconText.Quote)) + "]";

    private static string Duration(TimeSpan t) => Math.Max(0, (long)Math.Ceiling(t.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";
}
