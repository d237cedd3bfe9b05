using System.Globalization;
using System.Text;
using TimeMesh.Node.Control;

namespace TimeMesh.Cli.Commands;

/// <summary>
/// Turns the monitoring endpoint's reports into text laid out as chronyc 4.3 prints them (columns, symbols,
/// units, number rounding), so that people and scripts used to chronyc read them at once. Names are shown as
/// the node knows them (like <c>chronyc -n</c>); no DNS lookups.
/// </summary>
public static class ChronycFormat
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public const string SourcesLegend = """

          .-- Source mode  '^' = server, '=' = peer, '#' = local clock.
         / .- Source state '*' = current best, '+' = combined, '-' = not combined,
        | /             'x' = may be in error, '~' = too variable, '?' = unusable.
        ||                                                 .- xxxx [ yyyy ] +/- zzzz
        ||      Reachability register (octal) -.           |  xxxx = adjusted offset,
        ||      Log2(Polling interval) --.      |          |  yyyy = measured offset,
        ||                                \     |          |  zzzz = estimated error.
        ||                                 |    |           \

        """;

    public const string SourceStatsLegend = """
                                     .- Number of sample points in measurement set.
                                    /    .- Number of residual runs with same sign.
                                   |    /    .- Length of measurement set (time).
                                   |   |    /      .- Est. clock freq error (ppm).
                                   |   |   |      /           .- Est. error in freq.
                                   |   |   |     |           /         .- Est. offset.
                                   |   |   |     |          |          |   On the -.
                                   |   |   |     |          |          |   samples. \
                                   |   |   |     |          |          |             |

        """;

    public static string Sources(SourcesDto report, bool verbose)
    {
        var text = new StringBuilder();
        if (verbose) text.Append(SourcesLegend);
        Header(text, "MS Name/IP address         Stratum Poll Reach LastRx Last sample               ");
        foreach (var s in report.Sources)
        {
            text.Append(ModeSymbol(s.Mode)).Append(StateSymbol(s.State)).Append(' ')
                .Append(Truncate(s.Name, 25).PadRight(27)).Append("  ")
                .Append(Int(s.Stratum, 2)).Append("  ")
                .Append(Int(s.PollLog2, 2)).Append("   ")
                .Append(Convert.ToString(s.Reach & 0xFF, 8).PadLeft(3)).Append("  ")
                .Append(Interval(s.LastRxAgoSeconds)).Append("  ")
                .Append(SignedDuration(s.AdjustedOffsetSeconds)).Append('[').Append(SignedDuration(s.MeasuredOffsetSeconds)).Append("] +/- ")
                .Append(Duration(s.ErrorSeconds)).Append('\n');
        }
        return text.ToString();
    }

    public static string SourceStats(SourceStatsListDto report, bool verbose)
    {
        var text = new StringBuilder();
        if (verbose) text.Append(SourceStatsLegend);
        Header(text, "Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev");
        foreach (var s in report.Sources)
        {
            text.Append(Truncate(s.Name, 25).PadRight(25)).Append(' ')
                .Append(Int(s.Samples, 3)).Append(' ')
                .Append(Int(s.Runs, 3)).Append("  ")
                .Append(Interval(s.SpanSeconds)).Append(' ')
                .Append(Ppm(s.FrequencyPpm, signed: true)).Append(' ')
                .Append(Ppm(s.SkewPpm, signed: false)).Append("  ")
                .Append(SignedDuration(s.OffsetSeconds)).Append("  ")
                .Append(Duration(s.StdDevSeconds)).Append('\n');
        }
        return text.ToString();
    }

    public static string Tracking(TrackingDto t)
    {
        var refTime = t.RefTimeUnixNs == 0 ? DateTime.UnixEpoch : DateTime.UnixEpoch.AddTicks(t.RefTimeUnixNs / 100);
        // chronyc names the reference by its address when it has one, else by the id's printable characters.
        string name = t.ReferenceName.Length > 0 ? t.ReferenceName : RefIdText(t.ReferenceId);
        return new StringBuilder()
            .Append("Reference ID    : ").Append(t.ReferenceId.ToString("X8", C)).Append(" (").Append(name).Append(")\n")
            .Append("Stratum         : ").Append(t.Stratum.ToString(C)).Append('\n')
            .Append("Ref time (UTC)  : ").Append(refTime.ToString("ddd MMM dd HH:mm:ss yyyy", C)).Append('\n')
            .Append("System time     : ").Append(Fixed(Math.Abs(t.SystemTimeOffsetSeconds), 9)).Append(" seconds ")
                .Append(t.SystemTimeOffsetSeconds < 0 ? "slow" : "fast").Append(" of NTP time\n")
            .Append("Last offset     : ").Append(Signed(Fixed(t.LastOffsetSeconds, 9), t.LastOffsetSeconds)).Append(" seconds\n")
            .Append("RMS offset      : ").Append(Fixed(t.RmsOffsetSeconds, 9)).Append(" seconds\n")
            .Append("Frequency       : ").Append(Fixed(Math.Abs(t.FrequencyPpm), 3)).Append(" ppm ")
                .Append(t.FrequencyPpm > 0 ? "fast" : "slow").Append('\n')
            .Append("Residual freq   : ").Append(Signed(Fixed(t.ResidualFrequencyPpm, 3), t.ResidualFrequencyPpm)).Append(" ppm\n")
            .Append("Skew            : ").Append(Fixed(t.SkewPpm, 3)).Append(" ppm\n")
            .Append("Root delay      : ").Append(Fixed(t.RootDelaySeconds, 9)).Append(" seconds\n")
            .Append("Root dispersion : ").Append(Fixed(t.RootDispersionSeconds, 9)).Append(" seconds\n")
            .Append("Update interval : ").Append(Fixed(t.UpdateIntervalSeconds, 1)).Append(" seconds\n")
            .Append("Leap status     : ").Append(t.Leap switch
            {
                "normal" => "Normal",
                "insert_second" => "Insert second",
                "delete_second" => "Delete second",
                "not_synchronised" => "Not synchronised",
                _ => "Invalid",
            }).Append('\n')
            .Append(t.TransmitTimestamping is { } tx
                // Not a chronyc line: how this node's requests were stamped (chronyd always uses kernel stamps where it can).
                ? $"TX timestamps   : {tx} ({t.KernelTransmitTimestamps.ToString(C)} kernel, {t.UserSpaceTransmitTimestamps.ToString(C)} user-space"
                  + (t.HardwareTimestamping is null ? "" : $", {t.HardwareTransmitTimestamps.ToString(C)} of them hardware") + ")\n"
                : "")
            .Append(t.HardwareTimestamping is { } hw
                // Not a chronyc line: what timemesh.hwtimestamp (chrony's hwtimestamp) got on each interface.
                ? $"HW timestamps   : {hw} ({HardwareInterfaces(t.HardwareTimestampingInterfaces)})\n"
                : "")
            .ToString();
    }

    public static string Clients(ClientsDto report)
    {
        var text = new StringBuilder();
        Header(text, "Hostname                      NTP   Drop Int IntL Last     Cmd   Drop Int  Last");
        foreach (var c in report.Clients)
        {
            // The command columns stay empty: the endpoint is HTTP and does not log per-client requests.
            text.Append(Truncate(c.Address, 25).PadRight(25)).Append("  ")
                .Append(Int(c.NtpPackets, 6)).Append("  ")
                .Append(Int(c.NtpDropped, 5)).Append("  ")
                .Append(Log2Interval(c.NtpIntervalLog2)).Append("  ")
                .Append(Log2Interval(null)).Append("  ")
                .Append(Interval(c.LastNtpAgoSeconds)).Append("  ")
                .Append(Int(0, 6)).Append("  ")
                .Append(Int(0, 5)).Append("  ")
                .Append(Log2Interval(null)).Append("  ")
                .Append(Interval(null)).Append('\n');
        }
        return text.ToString();
    }

    public static string ServerStats(ServerStatsDto s) => new StringBuilder()
        .Append("NTP packets received       : ").Append(s.NtpPacketsReceived.ToString(C)).Append('\n')
        .Append("NTP packets dropped        : ").Append(s.NtpPacketsDropped.ToString(C)).Append('\n')
        .Append("Command packets received   : ").Append(s.ControlRequests.ToString(C)).Append('\n')
        .Append("Command packets dropped    : 0\n")
        .Append("Client log records dropped : ").Append(s.ClientLogRecordsDropped.ToString(C)).Append('\n')
        .Append("NTS-KE connections accepted: 0\n")
        .Append("NTS-KE connections dropped : 0\n")
        .Append("Authenticated NTP packets  : ").Append(s.AuthenticatedNtpPackets.ToString(C)).Append('\n')
        .Append("Interleaved NTP packets    : ").Append(s.InterleavedNtpPackets.ToString(C)).Append('\n')
        .Append("NTP timestamps held        : ").Append(s.NtpTimestampsHeld.ToString(C)).Append('\n')
        .Append("NTP timestamp span         : ").Append(s.NtpTimestampSpanSeconds.ToString(C)).Append('\n')
        .ToString();

    /// <summary>chronyc ntpdata's layout, one block per source (the local address is not known: requests leave from random ports).</summary>
    public static string NtpData(NtpDataListDto list)
    {
        var text = new StringBuilder();
        foreach (var n in list.Sources)
        {
            text.Append('\n')
                .Append("Remote address  : ").Append(n.Name).Append('\n')
                .Append("Remote port     : ").Append(n.RemotePort.ToString(C)).Append('\n')
                .Append("Local address   : ").Append(n.LocalAddress ?? "-").Append('\n')
                .Append("Leap status     : ").Append(n.Leap switch { 0 => "Normal", 1 => "Insert second", 2 => "Delete second", _ => "Not synchronised" }).Append('\n')
                .Append("Version         : ").Append(n.Version.ToString(C)).Append('\n')
                .Append("Mode            : ").Append(n.Mode == 4 ? "Server" : n.Mode == 0 ? "Invalid" : n.Mode.ToString(C)).Append('\n')
                .Append("Stratum         : ").Append(n.Stratum.ToString(C)).Append('\n')
                .Append("Poll interval   : ").Append(n.PollLog2.ToString(C)).Append(" (").Append(Math.Pow(2, n.PollLog2).ToString("F0", C)).Append(" seconds)\n")
                .Append("Precision       : ").Append(n.PrecisionLog2.ToString(C)).Append(" (").Append(Math.Pow(2, n.PrecisionLog2).ToString("F9", C)).Append(" seconds)\n")
                .Append("Root delay      : ").Append(n.RootDelaySeconds.ToString("F6", C)).Append(" seconds\n")
                .Append("Root dispersion : ").Append(n.RootDispersionSeconds.ToString("F6", C)).Append(" seconds\n")
                .Append("Reference ID    : ").Append(n.ReferenceId.ToString("X8", C)).Append(" (").Append(n.Stratum <= 1 ? RefIdText(n.ReferenceId) : "").Append(")\n")
                .Append("Reference time  : ").Append(n.RefTimeUnixNs == 0 ? "Thu Jan 01 00:00:00 1970" : DateTimeOffset.FromUnixTimeMilliseconds(n.RefTimeUnixNs / 1_000_000).UtcDateTime.ToString("ddd MMM dd HH:mm:ss yyyy", C)).Append('\n')
                .Append("Offset          : ").Append(n.OffsetSeconds >= 0 ? "+" : "").Append(n.OffsetSeconds.ToString("F9", C)).Append(" seconds\n")
                .Append("Peer delay      : ").Append(n.DelaySeconds.ToString("F9", C)).Append(" seconds\n")
                .Append("Peer dispersion : ").Append(n.DispersionSeconds.ToString("F9", C)).Append(" seconds\n")
                .Append("Response time   : ").Append(n.ResponseTimeSeconds.ToString("F9", C)).Append(" seconds\n")
                .Append("Interleaved     : ").Append(n.Interleaved ? "Yes" : "No").Append('\n')
                .Append("Authenticated   : ").Append(n.Authenticated ? "Yes" : "No").Append('\n')
                .Append("Total TX        : ").Append(n.TotalTx.ToString(C)).Append('\n')
                .Append("Total RX        : ").Append(n.TotalRx.ToString(C)).Append('\n')
                .Append("Total valid RX  : ").Append(n.TotalValidRx.ToString(C)).Append('\n')
                .Append("Total good RX   : ").Append(n.TotalGoodRx.ToString(C)).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>
    /// Our own view (chronyc has none), in chronyc's manner: a two-symbol column, a header ruled with '=',
    /// durations in chronyc's units.
    /// </summary>
    public static string Mesh(MeshDto mesh)
    {
        if (!mesh.IsMeshNode) return "This node is not a mesh node: it runs alone (no timemesh.role in its configuration).\n";
        var text = new StringBuilder();
        if (mesh.ClusterTransport == "insecure")
            text.Append("WARNING: the cluster transport runs WITHOUT TLS (timemesh.mesh.insecure = on): anyone who reaches the cluster port can join.\n");
        if (!mesh.Joined)
            text.Append("This node is not joined to a cluster: it names no leader and takes time from the masters its config names, over NTP.\n");
        int reachable = mesh.Nodes.Count(n => n.Reachable);
        text.Append("Mesh of ").Append(mesh.Nodes.Count).Append(mesh.Nodes.Count == 1 ? " node" : " nodes").Append(", ")
            .Append(reachable).Append(" reachable; leader ").Append(!mesh.Joined ? "none (not joined)" : mesh.Leader is null ? "none" : ShortNode(mesh.Leader))
            .Append("; this node ").Append(mesh.Self is null ? "?" : ShortNode(mesh.Self)).Append(" (").Append(mesh.Role ?? "?").Append(")\n\n");
        Header(text, "LS Node                  Role    Reach NTP address           Stratum Root dist Follows                 Age");
        foreach (var n in mesh.Nodes)
        {
            string follows = n.Follows is null ? (n.Serving == true ? "own clock" : "-") : n.Follows == "upstream" ? "upstream" : ShortNode(n.Follows);
            text.Append(n.IsLeader ? '*' : ' ').Append(n.IsSelf ? '>' : !n.Trusted ? '?' : ' ').Append(' ')
                .Append(Truncate(ShortNode(n.Node), 21).PadRight(21)).Append(' ')
                .Append((n.Role ?? "?").PadRight(7)).Append(' ')
                .Append((n.Reachable ? "yes" : "no").PadRight(5)).Append(' ')
                .Append(Truncate(n.NtpEndpoint ?? "-", 21).PadRight(21)).Append(' ')
                .Append((n.Stratum is { } st ? st.ToString(C) : "-").PadLeft(7)).Append(' ')
                .Append((n.RootDistanceSeconds is { } d ? Duration(d) : "-").PadLeft(9)).Append(' ')
                .Append(Truncate(follows, 21).PadRight(21)).Append(' ')
                .Append((n.StatusAgeSeconds is { } age ? Fixed(age, 1) + "s" : "-").PadLeft(5)).Append('\n');
        }
        text.Append("\nL: '*' = leader.  S: '>' = this node.  Follows: the node whose time it serves (by reference id),\n")
            .Append("'upstream' = a source outside the mesh, 'own clock' = local stratum or holdover.\n");
        var untrusted = mesh.Nodes.Where(n => !n.Trusted).ToList();
        if (untrusted.Count > 0)
            text.Append("S: '?' = not trusted: claims to be a master but this node's config does not name it; never polled or elected: ")
                .Append(string.Join(", ", untrusted.Select(n => ShortNode(n.Node)))).Append('\n');
        if (mesh.MeshNtp is not null) text.Append(mesh.MeshNtp switch
        {
            "nts" => "\nMesh NTP: authenticated (NTS with the cluster certificates; replies that are not authenticated are dropped).\n",
            "plain-by-choice" => "\nMesh NTP: NOT authenticated (timemesh.mesh.authenticate = off): anyone on the path can answer in a master's name.\n",
            _ => "\nMesh NTP: plain (no cluster TLS to authenticate with).\n",
        });
        if (mesh.MeshNts.Count > 0)
        {
            text.Append('\n');
            Header(text, "Master                 KE ok  KE fail Cookies  Authenticated     Rejected Last key-exchange error");
            foreach (var n in mesh.MeshNts)
            {
                text.Append(Truncate(n.Master, 21).PadRight(21)).Append(' ')
                    .Append(Int(n.KeyExchanges, 6)).Append(' ').Append(Int(n.KeyExchangeFailures, 8)).Append(' ').Append(Int(n.Cookies, 7)).Append(' ')
                    .Append(Int(n.Authenticated, 14)).Append(' ').Append(Int(n.Rejected, 12)).Append(' ')
                    .Append(n.LastKeyExchangeError is { } e ? Truncate(e, 60) : "-").Append('\n');
            }
        }
        return text.ToString();
    }

    /// <summary>"akka.tcp://timemesh@127.0.0.1:4053" → "127.0.0.1:4053": the system name is the same everywhere.</summary>
    public static string ShortNode(string node)
    {
        int at = node.LastIndexOf('@');
        return at >= 0 && node.Contains("://") ? node[(at + 1)..] : node;
    }

    private static void Header(StringBuilder text, string header) =>
        text.Append(header).Append('\n').Append('=', header.Length).Append('\n');

    private static char ModeSymbol(string mode) => mode switch { "server" => '^', "peer" => '=', "local" => '#', _ => ' ' };

    private static char StateSymbol(string state) => state switch
    {
        "selected" => '*',
        "combined" => '+',
        "not_combined" => '-',
        "falseticker" => 'x',
        "too_variable" => '~',
        "unusable" => '?',
        _ => ' ',
    };

    /// <summary>chronyc cuts long host names to the column and marks the cut with '>'.</summary>
    private static string Truncate(string name, int width) => name.Length <= width ? name : name[..(width - 1)] + ">";

    private static string Int(long value, int width) => value.ToString(C).PadLeft(width);

    /// <summary>The printable characters of a reference id ("LOCL", "" for 127.127.1.1).</summary>
    public static string RefIdText(uint id)
    {
        var text = new StringBuilder(4);
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            char c = (char)((id >> shift) & 0xFF);
            if (c is >= ' ' and <= '~') text.Append(c);
        }
        return text.ToString();
    }

    /// <summary>A whole number of seconds in four columns, switching to m, h, d, y as chronyc does; "-" for none.</summary>
    public static string Interval(double? seconds)
    {
        if (seconds is not { } value || value < 0 || double.IsNaN(value)) return "   -";
        ulong s = value >= uint.MaxValue ? uint.MaxValue - 1UL : (ulong)value;
        if (s < 1200) return s.ToString(C).PadLeft(4);
        if (s < 36000) return (s / 60).ToString(C).PadLeft(3) + "m";
        if (s < 345600) return (s / 3600).ToString(C).PadLeft(3) + "h";
        ulong days = s / 86400;
        return days > 999 ? (days / 365).ToString(C).PadLeft(3) + "y" : days.ToString(C).PadLeft(3) + "d";
    }

    /// <summary>A log2 interval in two columns; " -" when unknown.</summary>
    public static string Log2Interval(int? log2) => log2 is { } v && v < 127 ? v.ToString(C).PadLeft(2) : " -";

    /// <summary>An unsigned duration with chronyc's unit steps (ns, us, ms, s, m, h, d, y), 6 columns.</summary>
    public static string Duration(double seconds) => ScaledDuration(Math.Abs(seconds), signed: false);

    /// <summary>A signed duration with chronyc's unit steps, 7 columns.</summary>
    public static string SignedDuration(double seconds) => ScaledDuration(seconds, signed: true);

    private static string ScaledDuration(double value, bool signed)
    {
        double x = Math.Abs(value);
        int width = signed ? 5 : 4;
        if (x < 9999.5e-9) return Number(value * 1e9, 0, width, signed) + "ns";
        if (x < 9999.5e-6) return Number(value * 1e6, 0, width, signed) + "us";
        if (x < 9999.5e-3) return Number(value * 1e3, 0, width, signed) + "ms";
        width++;
        if (x < 999.5) return Number(value, 1, width, signed) + "s";
        if (x < 99999.5) return Number(value, 0, width, signed) + "s";
        if (x < 99999.5 * 60) return Number(value / 60, 0, width, signed) + "m";
        if (x < 99999.5 * 3600) return Number(value / 3600, 0, width, signed) + "h";
        if (x < 99999.5 * 3600 * 24) return Number(value / (3600 * 24), 0, width, signed) + "d";
        return Number(value / (3600 * 24 * 365), 0, width, signed) + "y";
    }

    /// <summary>A frequency in ppm, 10 columns, 3 decimals (no decimals from 99999.5 on).</summary>
    public static string Ppm(double ppm, bool signed) => Number(ppm, Math.Abs(ppm) < 99999.5 ? 3 : 0, 10, signed);

    private static string Number(double value, int decimals, int width, bool signed)
    {
        string text = Fixed(value, decimals);
        if (signed) text = Signed(text, value);
        return text.PadLeft(width);
    }

    /// <summary>Puts '+' before a number that has no '-' (C's "%+f": "+0.000" also for zero).</summary>
    /// <summary>"eth0: hardware, /dev/ptp0, receive filter 1; lo: no hardware timestamping (...)" (a fallback's reason names its interface).</summary>
    private static string HardwareInterfaces(IReadOnlyList<HardwareTimestampingDto>? interfaces) =>
        interfaces is null || interfaces.Count == 0
            ? "no interface"
            : string.Join("; ", interfaces.Select(i => i.Mode == "hardware" ? $"{i.Interface}: hardware, {i.Clock}" : i.Reason ?? $"{i.Interface}: kernel"));

    private static string Signed(string formatted, double value) =>
        formatted.StartsWith('-') || double.IsNaN(value) ? formatted : "+" + formatted;

    /// <summary>
    /// C's "%.Nf": the exact binary value rounded to N decimals, a tie to even (glibc), and "-0" kept for a
    /// negative value that rounds to zero. .NET rounds ties away from zero, so ties are settled here.
    /// </summary>
    public static string Fixed(double value, int decimals)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        // Far more digits than a double carries at these magnitudes: enough to see whether the rest is an exact half.
        string exact = Math.Abs(value).ToString("F" + (decimals + 40), C);
        int point = exact.IndexOf('.');
        string kept = exact[..(point + 1 + decimals)];
        string rest = exact[(point + 1 + decimals)..];
        bool roundUp = rest[0] > '5' || (rest[0] == '5' && (rest.AsSpan(1).ContainsAnyExcept('0') || IsOdd(kept)));
        string digits = kept.TrimEnd('.');
        if (roundUp) digits = Increment(digits);
        if (decimals == 0) digits = digits.TrimEnd('.');
        return (value < 0 || (value == 0 && double.IsNegative(value)) ? "-" : "") + digits;
    }

    private static bool IsOdd(string kept)
    {
        char last = kept[^1] == '.' ? kept[^2] : kept[^1];
        return (last - '0') % 2 == 1;
    }

    private static string Increment(string digits)
    {
        var chars = digits.ToCharArray();
        for (int i = chars.Length - 1; i >= 0; i--)
        {
            if (chars[i] == '.') continue;
            if (chars[i] < '9')
            {
                chars[i]++;
                return new string(chars);
            }
            chars[i] = '0';
        }
        return "1" + new string(chars);
    }
}
