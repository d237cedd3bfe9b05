using TimeMesh.Core.Mesh;

namespace TimeMesh.Node.Mesh;

/// <summary>The mesh actor's protocol.</summary>
public static class MeshProtocol
{
    /// <summary>The DistributedPubSub topic every node's status goes to.</summary>
    public const string StatusTopic = "timemesh-status";

    public sealed record GetMesh
    {
        public static readonly GetMesh Instance = new();
    }

    /// <summary>The mesh as this node sees it (chronyc has no such view; `timemesh mesh` will show it).</summary>
    public sealed record MeshView(string Self, string? Leader, IReadOnlyList<MeshNode> Nodes)
    {
        /// <summary>This node is a member of a cluster now (Up or WeaklyUp); when not, it names no leader.</summary>
        public bool Joined { get; init; } = true;

        /// <summary>The cluster's Up and WeaklyUp members as this node sees them (empty when not joined).</summary>
        public IReadOnlyList<string> Members { get; init; } = [];

        /// <summary>Statuses from other nodes dropped, by reason (oversized, sender_mismatch, not_member).</summary>
        public IReadOnlyDictionary<string, long> StatusesDropped { get; init; } = new Dictionary<string, long>();

        /// <summary>How this node's cluster transport is protected: TLS, loopback only, or insecure (no TLS on a LAN address).</summary>
        public ClusterSecurity Security { get; init; } = ClusterSecurity.Loopback;
    }

    public sealed record MeshNode(string Node, bool Reachable, TimeStatus? Status, double? StatusAgeSeconds)
    {
        /// <summary>False for a node that claims the master role but that this node's config does not name (never polled or elected).</summary>
        public bool Trusted { get; init; } = true;
    }

    /// <summary>Published on the local event stream whenever this node's view of the leader changes.</summary>
    public sealed record LeaderChanged(string? Leader, TimeStatus? LeaderStatus);

    internal sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    internal sealed record OwnStatus(TimeStatus Status);
}
