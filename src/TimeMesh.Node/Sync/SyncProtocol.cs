using System.Net;
using TimeMesh.Core.Sources;

namespace TimeMesh.Node.Sync;

/// <summary>
/// The messages of <see cref="SyncActor"/>: the data of chronyc sources, sourcestats, ntpdata and tracking, the
/// mesh's word on whom to follow, and (internal) its timers and what <see cref="NtpClientTransport"/> reports. Its
/// children speak <see cref="SourceResolverProtocol"/> and <see cref="NtsKeyExchangeProtocol"/>.
/// </summary>
public static class SyncProtocol
{
    public sealed record GetSources
    {
        public static readonly GetSources Instance = new();
    }

    public sealed record Sources(IReadOnlyList<SourceReport> Entries);

    public sealed record GetSourceStats
    {
        public static readonly GetSourceStats Instance = new();
    }

    public sealed record SourceStats(IReadOnlyList<SourceStatsReport> Entries);

    /// <summary>Asks for chronyc ntpdata's view of every source; the answer is an <see cref="NtpData"/>.</summary>
    public sealed record GetNtpData
    {
        public static readonly GetNtpData Instance = new();
    }

    public sealed record NtpData(IReadOnlyList<NtpDataReport> Entries);

    public sealed record GetTracking
    {
        public static readonly GetTracking Instance = new();
    }

    public sealed record Tracking(TrackingReport Report)
    {
        /// <summary>How the transmit times (T1) of this node's requests to its sources were taken.</summary>
        public TransmitTimestamps? Transmit { get; init; }
    }

    /// <summary>
    /// Requests whose T1 is the kernel's transmit timestamp (SO_TIMESTAMPING) and requests that fell back to a
    /// user-space reading before the send call; <see cref="LastWasKernel"/> tells which the latest request used.
    /// </summary>
    public sealed record TransmitTimestamps(long Kernel, long UserSpace, bool LastWasKernel)
    {
        /// <summary>Of the <see cref="Kernel"/> ones, those the NIC stamped (hwtimestamp), converted through its PTP clock.</summary>
        public long Hardware { get; init; }

        /// <summary>True when the latest request's T1 was the NIC's stamp.</summary>
        public bool LastWasHardware { get; init; }

        /// <summary>"hardware", "kernel", "user-space", or "none" before the first request.</summary>
        public string InUse => Kernel + UserSpace == 0 ? "none" : LastWasHardware ? "hardware" : LastWasKernel ? "kernel" : "user-space";
    }

    /// <summary>
    /// The mesh's masters this node should take time from (besides its own upstream servers), and which of
    /// them leads (preferred). An empty list stops following the mesh. <paramref name="Strata"/>: the stratum
    /// each master's last status reported (news the sync actor checks over NTP at once when it differs from
    /// what the master last answered).
    /// </summary>
    public sealed record FollowMesh(IReadOnlyList<IPEndPoint> Masters, IPEndPoint? Leader, IReadOnlyDictionary<IPEndPoint, int>? Strata = null);

    /// <summary>Asks whether the node is synchronised and whether through the mesh; the answer is a <see cref="SyncState"/>.</summary>
    public sealed record GetSyncState
    {
        public static readonly GetSyncState Instance = new();
    }

    public sealed record SyncState(bool Synchronised, bool ViaMesh, long SynchronisedSinceUnixNs);

    /// <summary>Where to record the drift state after each update (the node's drift store).</summary>
    public sealed record UseDriftStore(Akka.Actor.IActorRef Store);

    /// <summary>Asks for the state of every NTS source; the answer is a <c>List&lt;NtsSourceReport&gt;</c>.</summary>
    internal sealed record GetNtsReports
    {
        public static readonly GetNtsReports Instance = new();
    }

    /// <summary>NTS state of a source for reports and tests: key exchanges done, cookies held, NTSN received, authenticated replies.</summary>
    internal sealed record NtsSourceReport(int SourceId, long KeyExchanges, int Cookies, long Naks, long AuthenticReplies, long RejectedReplies)
    {
        /// <summary>A mesh master (authenticated mesh NTP), not an upstream server.</summary>
        public bool Mesh { get; init; }
        public string Endpoint { get; init; } = "";
        /// <summary>Datagrams refused at the socket: from the source's address, not the authenticated reply.</summary>
        public long Forged { get; init; }
        public long KeyExchangeFailures { get; init; }
        public string? LastError { get; init; }
    }

    internal sealed record Poll
    {
        public static readonly Poll Instance = new();
    }

    /// <param name="KernelTransmitStamp">True when <paramref name="SentRawNs"/> is the kernel's transmit timestamp, false for the user-space fallback.</param>
    internal sealed record RequestSent(int SourceId, long SentRawNs, bool KernelTransmitStamp = false)
    {
        /// <summary>The stamp was the NIC's (hwtimestamp), converted to system time; counted among the kernel ones too.</summary>
        public bool HardwareTransmitStamp { get; init; }
    }

    internal sealed record ReplyReceived(int SourceId, byte[] Reply, long ReceivedRawNs);

    internal sealed record RefreshPools
    {
        public static readonly RefreshPools Instance = new();
    }

    internal sealed record EndSlew(int Generation);

    /// <summary>Datagrams that reached a request's socket from the source's address but were not its authenticated reply.</summary>
    internal sealed record ForgedReplies(int SourceId, int Count);

    internal sealed record WatchClock
    {
        public static readonly WatchClock Instance = new();
    }
}
