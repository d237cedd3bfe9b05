using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Serialization;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// Brings a mesh that became two clusters back into one. Akka.Cluster never merges two clusters: after a partition
/// in which both sides ended up with a cluster of their own (a first seed that restarted while cut off, a master
/// that formed one alone after its peer died), each would go on by itself forever. Every interval, a node that is a
/// member asks the nodes it knows of that are not in its cluster (the seeds and every member it has seen) which
/// cluster they are in. When one answers from a cluster that shares no member with its own, the cluster whose
/// smallest member address sorts after the other's moves: each of its nodes leaves and joins the other through
/// the members it was told. Both sides apply the same rule to the same two member lists, so exactly one moves.
/// Only standalone nodes (MeshHost) run it; an application that embeds TimeMesh owns its cluster.
/// </summary>
public sealed class ReunionActor : ReceiveActor, IWithTimers
{
    /// <summary>The actor's name: probes are sent to /user/{Name} on the other nodes.</summary>
    public const string Name = "timemesh-reunion";

    /// <summary>At most this many member addresses in a reply.</summary>
    public const int MaxMembers = 64;

    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private bool _moving;
    private readonly HashSet<Address> _asked = new();

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="contacts">The nodes to ask: seeds and members seen (this node and its cluster's members are skipped).</param>
    /// <param name="moveTo">Called once, with the other cluster's members, when this node's cluster is the one to move.</param>
    /// <param name="learn">Told of a node outside this cluster that asked which cluster this one is, so that it is asked back.</param>
    /// <param name="anchors">
    /// The cluster addresses of this mesh's known nodes: a cluster is moved into only when it contains one. Null: the
    /// seed nodes the config names. With Cluster Bootstrap (no seed nodes) MeshHost gives the masters' cluster
    /// addresses their management endpoints reported (<see cref="BootstrapMasters"/>).
    /// </param>
    public static Props Props(Func<IReadOnlyList<Address>> contacts, Action<IReadOnlyList<Address>> moveTo, Action<Address> learn, TimeSpan interval,
        Func<IReadOnlyCollection<string>>? anchors = null) =>
        Akka.Actor.Props.Create(() => new ReunionActor(contacts, moveTo, learn, interval, anchors));

    public ReunionActor(Func<IReadOnlyList<Address>> contacts, Action<IReadOnlyList<Address>> moveTo, Action<Address> learn, TimeSpan interval,
        Func<IReadOnlyCollection<string>>? anchors = null)
    {
        var seeds = Context.System.Settings.Config.GetStringList("akka.cluster.seed-nodes", []).ToHashSet(StringComparer.Ordinal);
        anchors ??= () => seeds;
        Receive<Tick>(_ =>
        {
            if (_moving || !Joined) return;
            var members = _cluster.State.Members.Select(m => m.Address).ToHashSet();
            _asked.Clear();
            foreach (var contact in contacts().Where(c => !members.Contains(c)))
            {
                _asked.Add(contact);
                Context.ActorSelection(new RootActorPath(contact) / "user" / Name).Tell(ReunionProtocol.Probe.Instance);
            }
        });
        Receive<ReunionProtocol.Probe>(_ =>
        {
            // A node of another cluster found this one: ask it back, so that the side that must move learns it.
            if (!_cluster.State.Members.Any(m => m.Address == Sender.Path.Address)) learn(Sender.Path.Address);
            Sender.Tell(new ReunionProtocol.ProbeReply(Joined, Joined ? UpMembers().Take(MaxMembers).ToList() : []));
        });
        Receive<ReunionProtocol.ProbeReply>(reply =>
        {
            if (_moving || !Joined || !reply.Joined || reply.Members.Count == 0) return;
            // Only answers to this round's questions, from a node that counts itself in the cluster it names, and
            // only into a cluster that has a seed (or, with Cluster Bootstrap, a master) of this mesh: an answer made
            // up by someone else moves nothing.
            var known = anchors();
            if (!_asked.Contains(Sender.Path.Address) || !reply.Members.Contains(Sender.Path.Address.ToString())
                || !reply.Members.Any(known.Contains)) return;
            var mine = UpMembers();
            // A shared member: the same cluster, seen before gossip reached one side.
            if (mine.Count == 0 || reply.Members.Intersect(mine).Any()) return;
            if (string.CompareOrdinal(reply.Members.Min(StringComparer.Ordinal), mine.Min(StringComparer.Ordinal)) >= 0) return;
            _moving = true;
            _log.Warning("cluster: {0} is in another cluster of this mesh ({1}); this cluster ({2}) moves into it: this node leaves and joins there",
                Sender.Path.Address, string.Join(", ", reply.Members), string.Join(", ", mine));
            moveTo(reply.Members.Select(Address.Parse).ToList());
        });
        Timers.StartPeriodicTimer("probe", Tick.Instance, interval, interval);
    }

    private bool Joined => _cluster.SelfMember.Status is MemberStatus.Up or MemberStatus.WeaklyUp;

    private List<string> UpMembers() => _cluster.State.Members
        .Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp)
        .Select(m => m.Address.ToString()).OrderBy(a => a, StringComparer.Ordinal).ToList();

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

}

/// <summary>The reunion's protocol (<see cref="ReunionActor"/>), between nodes: serialized by <see cref="ReunionSerializer"/>.</summary>
public static class ReunionProtocol
{
    /// <summary>"Which cluster are you in?"</summary>
    public sealed record Probe
    {
        public static readonly Probe Instance = new();
    }

    /// <summary>The answer: whether the node is a member, and its cluster's Up members.</summary>
    public sealed record ProbeReply(bool Joined, IReadOnlyList<string> Members);
}

/// <summary>The wire form of the reunion messages: a manifest letter, then a version byte and length-prefixed UTF-8 strings.</summary>
public sealed class ReunionSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 1_605_202;
    private const byte Version = 1;
    private const int MaxAddressBytes = 512;

    public override int Identifier => Id;

    public override string Manifest(object o) => o switch
    {
        ReunionProtocol.Probe => "P",
        ReunionProtocol.ProbeReply => "R",
        _ => throw new ArgumentException($"cannot serialize {o.GetType()}", nameof(o)),
    };

    public override byte[] ToBinary(object obj)
    {
        switch (obj)
        {
            case ReunionProtocol.Probe:
                return [Version];
            case ReunionProtocol.ProbeReply r:
                var members = r.Members.Take(ReunionActor.MaxMembers).Select(Encoding.UTF8.GetBytes).ToList();
                var bytes = new byte[3 + members.Sum(m => 2 + m.Length)];
                bytes[0] = Version;
                bytes[1] = (byte)(r.Joined ? 1 : 0);
                bytes[2] = (byte)members.Count;
                int o = 3;
                foreach (var m in members)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(o), (ushort)m.Length);
                    m.CopyTo(bytes, o + 2);
                    o += 2 + m.Length;
                }
                return bytes;
            default:
                throw new ArgumentException($"cannot serialize {obj.GetType()}", nameof(obj));
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (bytes.Length < 1 || bytes[0] != Version) throw new SerializationException($"not a version-{Version} reunion message");
        if (manifest == "P") return ReunionProtocol.Probe.Instance;
        if (manifest != "R" || bytes.Length < 3) throw new SerializationException($"unknown reunion message '{manifest}'");
        int count = bytes[2];
        if (count > ReunionActor.MaxMembers) throw new SerializationException("too many members");
        var members = new List<string>(count);
        int o = 3;
        for (int i = 0; i < count; i++)
        {
            if (o + 2 > bytes.Length) throw new SerializationException("reunion reply truncated");
            int length = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(o));
            if (length > MaxAddressBytes || o + 2 + length > bytes.Length) throw new SerializationException("reunion reply truncated");
            members.Add(Encoding.UTF8.GetString(bytes, o + 2, length));
            o += 2 + length;
        }
        return new ReunionProtocol.ProbeReply(bytes[1] == 1, members);
    }
}
