using System.Net;
using Akka.Actor;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Persistence;
using TimeMesh.Node.Sync;

namespace TimeMesh.Node.Control;

/// <summary>The node's actors the monitoring endpoint reads from; absent ones are null (a local-only node has no sync, mesh or drift store).</summary>
public sealed record NodeActors(
    IActorRef NtpServer,
    IActorRef Reference,
    IActorRef? Sync,
    IActorRef? Mesh,
    IActorRef? DriftStore,
    MeshRole? MeshRole,
    Func<IActorRef?>? CurrentMesh = null)
{
    /// <summary>The mesh actor now: a standalone node's changes when its cluster part rejoins.</summary>
    public IActorRef? MeshNow => CurrentMesh?.Invoke() ?? Mesh;

    /// <summary>The node's own tracking history, for the status page (null without sync).</summary>
    public IActorRef? History { get; init; }

    /// <summary>How NTP between members and masters runs: "nts", "plain" (no cluster TLS) or "plain-by-choice"; null alone.</summary>
    public string? MeshNtp { get; init; }

    /// <summary>The node's hwtimestamp interfaces and the stamping each got; off when not set.</summary>
    public Ntp.HardwareTimestamps Timestamping { get; init; } = Ntp.HardwareTimestamps.Off;
}

/// <summary>
/// Asks the node's actors for what chronyc would show and turns their answers into the endpoint's DTOs.
/// Only asks: nothing here touches the NTP receive loops, which keep their own counters and client log.
/// </summary>
/// <param name="nowUnixNs">The served clock (the local reference's time is "now", as in its NTP replies).</param>
public sealed class NodeQueries(NodeActors actors, Func<long> nowUnixNs, TimeSpan? timeout = null)
{
    private readonly TimeSpan _timeout = timeout ?? TimeSpan.FromSeconds(2);

    public NodeActors Actors => actors;

    public async Task<SourcesDto> SourcesAsync()
    {
        if (actors.Sync is null) return new SourcesDto([]);
        var reply = await actors.Sync.Ask<SyncProtocol.Sources>(SyncProtocol.GetSources.Instance, _timeout);
        return new SourcesDto(reply.Entries.Select(ToDto).ToList());
    }

    public async Task<SourceStatsListDto> SourceStatsAsync()
    {
        if (actors.Sync is null) return new SourceStatsListDto([]);
        var reply = await actors.Sync.Ask<SyncProtocol.SourceStats>(SyncProtocol.GetSourceStats.Instance, _timeout);
        return new SourceStatsListDto(reply.Entries.Select(s => new SourceStatsDto(
            s.Name, s.Samples, s.Runs, s.SpanSeconds, s.FrequencyPpm, s.SkewPpm, s.OffsetSeconds, s.StdDevSeconds)).ToList());
    }

    public async Task<NtpDataListDto> NtpDataAsync()
    {
        if (actors.Sync is null) return new NtpDataListDto([]);
        var reply = await actors.Sync.Ask<SyncProtocol.NtpData>(SyncProtocol.GetNtpData.Instance, _timeout);
        return new NtpDataListDto(reply.Entries.Select(n => new NtpDataDto(
            n.Name, n.RemotePort, null, n.HasSample, (int)n.Leap, n.Version, n.Mode, n.Stratum, n.PollLog2, n.PrecisionLog2,
            n.RootDelaySeconds, n.RootDispersionSeconds, n.ReferenceId, n.RefTimeUnixNs, n.OffsetSeconds, n.DelaySeconds,
            n.DispersionSeconds, n.ResponseTimeSeconds, n.Authenticated, n.TotalTx, n.TotalRx, n.TotalValidRx, n.TotalGoodRx)
        {
            Interleaved = n.Interleaved,
        }).ToList());
    }

    public async Task<TrackingDto> TrackingAsync()
    {
        var reference = await actors.Reference.Ask<ReferenceState>(ReferenceProtocol.GetReference.Instance, _timeout);
        var tracking = actors.Sync is null
            ? null
            : await actors.Sync.Ask<SyncProtocol.Tracking>(SyncProtocol.GetTracking.Instance, _timeout);
        var dto = WithHardware(Tracking(reference, tracking?.Report, nowUnixNs()), actors.Timestamping);
        return tracking?.Transmit is { } tx
            ? dto with
            {
                TransmitTimestamping = tx.InUse, KernelTransmitTimestamps = tx.Kernel, UserSpaceTransmitTimestamps = tx.UserSpace,
                HardwareTransmitTimestamps = tx.Hardware,
            }
            : dto;
    }

    /// <summary>What hwtimestamp gave: nothing when it is not set.</summary>
    public static TrackingDto WithHardware(TrackingDto dto, Ntp.HardwareTimestamps hardware) => !hardware.Configured ? dto : dto with
    {
        HardwareTimestamping = hardware.Mode,
        HardwareTimestampingInterfaces = hardware.Interfaces
            .Select(i => new HardwareTimestampingDto(i.Interface, i.Mode, i.Reason, i.Clock)).ToList(),
        HardwareReceiveTimestamps = hardware.ReceiveHardware,
        SoftwareReceiveTimestamps = hardware.ReceiveSoftware,
    };

    /// <summary>
    /// The engine's tracking when it is synchronised; otherwise what the node serves instead, as chronyd
    /// reports it: its local reference (127.127.1.1, stratum N, leap normal) or nothing (stratum 0, not synchronised).
    /// The clock's frequency and offsets stay the engine's either way.
    /// </summary>
    public static TrackingDto Tracking(ReferenceState reference, TrackingReport? report, long nowUnixNs)
    {
        string kind = reference.Kind switch
        {
            ReferenceKind.Synchronised => "synchronised",
            ReferenceKind.Local => "local",
            _ => "unsynchronised",
        };
        if (report is { Synchronised: true } r)
        {
            return new TrackingDto(r.ReferenceId, r.ReferenceName, r.Stratum, r.ReferenceTimeUnixNs, r.SystemTimeOffsetSeconds,
                r.LastOffsetSeconds, r.RmsOffsetSeconds, r.FrequencyPpm, r.ResidualFrequencyPpm, r.SkewPpm, r.RootDelaySeconds,
                r.RootDispersionSeconds, r.UpdateIntervalSeconds, LeapName(r.Leap), kind, true, null);
        }
        bool local = reference.Kind == ReferenceKind.Local;
        return new TrackingDto(
            local ? reference.ReferenceId : 0,
            "",
            local ? reference.Stratum : 0,
            local ? nowUnixNs : 0,
            report?.SystemTimeOffsetSeconds ?? 0,
            report?.LastOffsetSeconds ?? 0,
            report?.RmsOffsetSeconds ?? 0,
            report?.FrequencyPpm ?? 0,
            report?.ResidualFrequencyPpm ?? 0,
            report?.SkewPpm ?? 0,
            local ? reference.RootDelaySeconds : 0,
            local ? reference.RootDispersionSeconds : 0,
            report?.UpdateIntervalSeconds ?? 0,
            LeapName(local ? reference.Leap : LeapIndicator.Unsynchronised),
            kind,
            false,
            report?.NotSynchronisedReason ?? (local ? "no upstream sources: serving the local clock" : "no upstream sources and no local stratum"));
    }

    public async Task<ClientsDto> ClientsAsync()
    {
        var reply = await actors.NtpServer.Ask<NtpServerProtocol.Clients>(NtpServerProtocol.GetClients.Instance, _timeout);
        return Clients(reply);
    }

    public static ClientsDto Clients(NtpServerProtocol.Clients reply) => new(reply.Entries
        .OrderBy(c => c.Address.High).ThenBy(c => c.Address.Low)
        .Select(c => new ClientDto(
            FormatAddress(c.Address),
            c.Hits,
            c.Drops,
            c.Hits > 1 && c.LastHitNs > c.FirstHitNs ? (int)Math.Round(Math.Log2((c.LastHitNs - c.FirstHitNs) * 1e-9 / (c.Hits - 1))) : null,
            Math.Max(0, reply.NowUnixNs - c.LastHitNs) * 1e-9))
        .ToList());

    /// <summary>An address from the client log as people write it: IPv4 (also when mapped into IPv6) or IPv6.</summary>
    public static string FormatAddress(Core.Access.IpAddress128 address)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, address.High);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], address.Low);
        var ip = new IPAddress(bytes);
        return (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();
    }

    public async Task<ServerStatsDto> ServerStatsAsync(long controlRequests)
    {
        var stats = await actors.NtpServer.Ask<ServerStats>(NtpServerProtocol.GetStats.Instance, _timeout);
        return ServerStats(stats, controlRequests);
    }

    public static ServerStatsDto ServerStats(ServerStats s, long controlRequests) => new(
        s.Received, s.Answered, s.Dropped, s.DroppedAccess, s.DroppedRateLimit, s.DroppedMalformed, s.DroppedUnsupportedMode,
        s.KissOfDeathSent, s.SendFailures, controlRequests, s.ClientLogEvictions, s.LoopRestarts)
    {
        AuthenticatedNtpPackets = s.Authenticated,
        NtpDroppedAuth = s.DroppedAuth,
        InterleavedNtpPackets = s.Interleaved,
        NtpTimestampsHeld = s.InterleavedExchangesHeld,
        NtpTimestampSpanSeconds = (long)s.InterleavedSpanSeconds,
    };

    public async Task<MeshDto> MeshAsync()
    {
        if (actors.MeshNow is not { } mesh) return new MeshDto(false, null, null, null, []);
        var view = await mesh.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, _timeout);
        var dto = Mesh(view, actors.MeshRole);
        if (actors.Sync is null) return dto with { MeshNtp = actors.MeshNtp };
        var nts = await actors.Sync.Ask<List<SyncProtocol.NtsSourceReport>>(SyncProtocol.GetNtsReports.Instance, _timeout);
        return dto with
        {
            MeshNtp = actors.MeshNtp,
            MeshNts = nts.Where(r => r.Mesh).Select(r => new MeshNtsSourceDto(r.Endpoint, r.KeyExchanges, r.KeyExchangeFailures, r.Cookies,
                r.AuthenticReplies, r.RejectedReplies + r.Forged, r.Naks, r.LastError)).OrderBy(r => r.Master, StringComparer.Ordinal).ToList(),
        };
    }

    public static MeshDto Mesh(MeshProtocol.MeshView view, MeshRole? ownRole)
    {
        var nodes = view.Nodes.Select(n => new MeshNodeDto(
            n.Node,
            n.Status is { } s ? RoleName(s.Role) : (n.Node == view.Self && ownRole is { } own ? RoleName(own) : null),
            n.Reachable,
            n.Node == view.Self,
            n.Node == view.Leader,
            n.Status?.NtpEndpoint,
            n.Status?.Stratum,
            n.Status?.RootDistanceSeconds,
            n.Status?.UpstreamSynchronised,
            n.Status?.Serving,
            n.Status?.ClaimsLeadership,
            n.Status?.ReferenceId,
            n.Status is { } st ? Follows(st, view) : null,
            n.StatusAgeSeconds) { Trusted = n.Trusted }).ToList();
        return new MeshDto(true, view.Self, ownRole is { } r ? RoleName(r) : null, view.Leader, nodes)
        {
            Joined = view.Joined,
            Members = view.Members,
            StatusesDropped = view.StatusesDropped,
            ClusterTransport = view.Security.ToString().ToLowerInvariant(),
        };
    }

    /// <summary>
    /// Whom a node takes its time from, read from the reference id it serves: a master of the mesh whose NTP
    /// address gives that id. Several nodes on one address (a test machine) cannot be told apart by the id;
    /// then the leader is named, as members prefer it.
    /// </summary>
    private static string? Follows(TimeStatus status, MeshProtocol.MeshView view)
    {
        if (!status.Serving || status.ReferenceId is ReferenceIds.Local or ReferenceIds.Unsynchronised) return null;
        if (status.UpstreamSynchronised) return "upstream";
        var candidates = view.Nodes
            .Where(m => m.Node != status.Node && m.Status is { Role: MeshRole.Master } ms
                && IPEndPoint.TryParse(ms.NtpEndpoint, out var e) && ReferenceIds.FromAddress(e.Address) == status.ReferenceId)
            .Select(m => m.Node)
            .ToList();
        if (candidates.Count == 0) return "upstream";
        return candidates.Count > 1 && view.Leader is { } leader && candidates.Contains(leader) ? leader : candidates[0];
    }

    public async Task<DriftProtocol.DriftStatus?> PersistenceAsync()
    {
        if (actors.DriftStore is null) return null;
        return await actors.DriftStore.Ask<DriftProtocol.DriftStatus>(DriftProtocol.GetStatus.Instance, _timeout);
    }

    public static SourceDto ToDto(SourceReport s) => new(
        s.Name,
        s.Mode switch { '^' => "server", '=' => "peer", '#' => "local", _ => "unknown" },
        StateName(s.State),
        s.Stratum,
        s.PollLog2,
        s.Reach,
        s.LastRxAgoSeconds,
        s.AdjustedOffsetSeconds,
        s.MeasuredOffsetSeconds,
        s.ErrorSeconds);

    public static string StateName(SourceState state) => state switch
    {
        SourceState.Selected => "selected",
        SourceState.Combined => "combined",
        SourceState.NotCombined => "not_combined",
        SourceState.Falseticker => "falseticker",
        SourceState.TooVariable => "too_variable",
        _ => "unusable",
    };

    public static string LeapName(LeapIndicator leap) => leap switch
    {
        LeapIndicator.NoWarning => "normal",
        LeapIndicator.InsertSecond => "insert_second",
        LeapIndicator.DeleteSecond => "delete_second",
        _ => "not_synchronised",
    };

    public static string RoleName(MeshRole role) => role == MeshRole.Master ? "master" : "member";
}
