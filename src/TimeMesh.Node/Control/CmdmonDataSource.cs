using System.Net;
using TimeMesh.Core.Access;
using TimeMesh.Core.Cmdmon;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Node.Control;

/// <summary>
/// The node's reports for the command port: the same queries <c>timemesh sources/sourcestats/tracking/clients/serverstats
/// --json</c> read (<see cref="NodeQueries"/>), put into the protocol's records. Nothing is computed twice.
/// </summary>
internal sealed class CmdmonDataSource(NodeQueries queries, Func<CmdmonListener> listener, Func<long> controlRequests)
{
    public async Task<CmdmonData> FetchAsync(CmdmonNeed need) => need switch
    {
        CmdmonNeed.Sources => new CmdmonData { Sources = Sources(await queries.SourcesAsync()) },
        CmdmonNeed.SourceStats => new CmdmonData { SourceStats = SourceStats(await queries.SourceStatsAsync()) },
        CmdmonNeed.Tracking => new CmdmonData { Tracking = Tracking(await queries.TrackingAsync()) },
        CmdmonNeed.ServerStats => new CmdmonData { ServerStats = ServerStats(await queries.ServerStatsAsync(controlRequests()), listener()) },
        CmdmonNeed.Clients => new CmdmonData { Clients = Clients(await queries.ClientsAsync(), listener()) },
        CmdmonNeed.NtpData => new CmdmonData { NtpData = NtpData(await queries.NtpDataAsync()) },
        _ => new CmdmonData(),
    };

    /// <summary>
    /// A source's address from the name the node knows it by ("192.0.2.1", "192.0.2.1:1123", "[2001:db8::1]:123");
    /// a host name that is not an address is sent as chrony sends a source without an address: an id (index + 1).
    /// </summary>
    public static CmdmonAddress AddressOf(string name, int index)
    {
        if (IPAddress.TryParse(name, out var ip) || (IPEndPoint.TryParse(name, out var endpoint) && (ip = endpoint.Address) is not null))
            return CmdmonAddress.FromIp(IpAddress128.FromIPAddress(ip));
        return CmdmonAddress.FromId((uint)index + 1);
    }

    public static IReadOnlyList<CmdmonSource> Sources(SourcesDto dto) => dto.Sources.Select((s, i) => new CmdmonSource(
        AddressOf(s.Name, i), s.Name, State(s.State), s.Stratum, s.PollLog2, (byte)s.Reach,
        s.LastRxAgoSeconds is { } ago ? (uint)Math.Clamp(Math.Floor(ago), 0, uint.MaxValue - 1) : null,
        s.AdjustedOffsetSeconds, s.MeasuredOffsetSeconds, s.ErrorSeconds)).ToList();

    public static IReadOnlyList<CmdmonSourceStats> SourceStats(SourceStatsListDto dto) => dto.Sources.Select((s, i) =>
    {
        var address = AddressOf(s.Name, i);
        return new CmdmonSourceStats(address, address.IsIp ? ReferenceIds.FromAddress(address.Address.ToIPAddress()) : 0,
            s.Samples, s.Runs, (uint)Math.Clamp(Math.Round(s.SpanSeconds), 0, uint.MaxValue),
            s.FrequencyPpm, s.SkewPpm, s.OffsetSeconds, s.StdDevSeconds, s.StdDevSeconds);
    }).ToList();

    public static CmdmonTracking Tracking(TrackingDto t) => new(
        t.ReferenceId,
        t.ReferenceName.Length == 0 ? CmdmonAddress.Unspecified : AddressOf(t.ReferenceName, 0) is { IsIp: true } a ? a : CmdmonAddress.Unspecified,
        t.Stratum,
        t.Leap switch
        {
            "normal" => LeapIndicator.NoWarning,
            "insert_second" => LeapIndicator.InsertSecond,
            "delete_second" => LeapIndicator.DeleteSecond,
            _ => LeapIndicator.Unsynchronised,
        },
        t.RefTimeUnixNs,
        t.SystemTimeOffsetSeconds,
        t.LastOffsetSeconds,
        t.RmsOffsetSeconds,
        t.FrequencyPpm,
        t.ResidualFrequencyPpm,
        t.SkewPpm,
        t.RootDelaySeconds,
        t.RootDispersionSeconds,
        t.UpdateIntervalSeconds);

    public static CmdmonServerStats ServerStats(ServerStatsDto s, CmdmonListener cmd) => new(
        s.NtpPacketsReceived, 0, cmd.Received, s.NtpPacketsDropped, 0, cmd.Dropped, s.ClientLogRecordsDropped, s.AuthenticatedNtpPackets)
    {
        NtpInterleavedHits = s.InterleavedNtpPackets,
        NtpTimestamps = s.NtpTimestampsHeld,
        NtpSpanSeconds = s.NtpTimestampSpanSeconds,
    };

    /// <summary>NTP clients (the server's client log) and command-port clients (the listener's), one line per address.</summary>
    public static IReadOnlyList<CmdmonClient> Clients(ClientsDto ntp, CmdmonListener cmd)
    {
        long now = CmdmonListener.NowNs();
        var commandClients = cmd.Log.Snapshot().ToDictionary(c => c.Address);
        var lines = new List<CmdmonClient>();
        foreach (var c in ntp.Clients)
        {
            var address = IpAddress128.FromIPAddress(IPAddress.Parse(c.Address));
            commandClients.Remove(address, out var command);
            lines.Add(new CmdmonClient(CmdmonAddress.FromIp(address), c.NtpPackets, c.NtpDropped, c.NtpIntervalLog2,
                (uint)Math.Clamp(Math.Floor(c.LastNtpAgoSeconds), 0, uint.MaxValue - 1),
                command.Hits, command.Drops, command.Hits > 0 ? Interval(command) : null, command.Hits > 0 ? Ago(command, now) : null));
        }
        foreach (var command in commandClients.Values.OrderBy(c => c.Address.High).ThenBy(c => c.Address.Low))
        {
            lines.Add(new CmdmonClient(CmdmonAddress.FromIp(command.Address), 0, 0, null, null,
                command.Hits, command.Drops, Interval(command), Ago(command, now)));
        }
        return lines;
    }

    private static int? Interval(Core.RateLimit.ClientLog.ClientEntry c) =>
        c.Hits > 1 && c.LastHitNs > c.FirstHitNs ? (int)Math.Round(Math.Log2((c.LastHitNs - c.FirstHitNs) * 1e-9 / (c.Hits - 1))) : null;

    private static uint Ago(Core.RateLimit.ClientLog.ClientEntry c, long nowNs) => (uint)Math.Clamp((nowNs - c.LastHitNs) / 1_000_000_000L, 0, uint.MaxValue - 1);

    private static SourceState State(string name) => name switch
    {
        "selected" => SourceState.Selected,
        "combined" => SourceState.Combined,
        "not_combined" => SourceState.NotCombined,
        "falseticker" => SourceState.Falseticker,
        "too_variable" => SourceState.TooVariable,
        _ => SourceState.Unusable,
    };

    public static IReadOnlyList<CmdmonNtpData> NtpData(NtpDataListDto dto) => dto.Sources.Select((n, i) => new CmdmonNtpData(
        AddressOf(n.Name, i), n.LocalAddress is { } local && IPAddress.TryParse(local, out var l) ? CmdmonAddress.FromIp(IpAddress128.FromIPAddress(l)) : CmdmonAddress.Unspecified,
        n.RemotePort, (LeapIndicator)n.Leap, n.Version, n.Mode, n.Stratum, n.PollLog2, n.PrecisionLog2, n.RootDelaySeconds, n.RootDispersionSeconds,
        n.ReferenceId, n.RefTimeUnixNs, n.OffsetSeconds, n.DelaySeconds, n.DispersionSeconds, n.ResponseTimeSeconds, n.Authenticated,
        n.TotalTx, n.TotalRx, n.TotalValidRx, n.TotalGoodRx)
    {
        Interleaved = n.Interleaved,
    }).ToList();
}
