using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Three nodes' actor systems in one process on loopback port 0, joined into one cluster: the mesh
/// actors share their statuses and agree on a leader; a crash (no graceful leave) moves the leadership.
/// </summary>
[Collection(ProcessTests.Name)]
public class MeshTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<ActorSystem> _systems = new();

    private static Akka.Configuration.Config ClusterConfig(bool crashable) => ConfigurationFactory.ParseString($$"""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
        akka.loglevel = WARNING
        akka.coordinated-shutdown.run-by-actor-system-terminate = {{(crashable ? "off" : "on")}}
        akka.cluster.run-coordinated-shutdown-when-down = off
        """).WithFallback(TimeMeshNode.MeshConfig).WithFallback(TimeMeshSettings.Reference);

    private (ActorSystem System, IActorRef Mesh, Func<TimeStatus> Status) StartNode(string name, MeshRole role, Func<TimeStatus> status,
        IReadOnlyList<MasterAddress>? masters = null, IActorRef? follower = null)
    {
        var system = ActorSystem.Create("timemesh", ClusterConfig(crashable: true));
        _systems.Add(system);
        var mesh = system.ActorOf(MeshActor.Props(
            new MeshSettings(role, TimeSpan.FromMilliseconds(250), new ElectionSettings { HysteresisSeconds = 2 }) { Masters = masters ?? [] },
            () => Task.FromResult(status()), follower: follower), "mesh");
        return (system, mesh, status);
    }

    private static TimeStatus Status(byte stratum, bool synced = true) => new()
    {
        Node = "",
        Role = MeshRole.Master,
        NtpEndpoint = "127.0.0.1:123",
        Stratum = stratum,
        RootDistanceSeconds = 0.001,
        UpstreamSynchronised = synced,
        Serving = true,
        ReferenceId = 0x7F000001,
    };

    private static async Task<string?> LeaderSeenBy(IActorRef mesh) =>
        (await mesh.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, TimeSpan.FromSeconds(3))).Leader;

    private static async Task Eventually(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            await Task.Delay(100);
        }
        Assert.Fail("timed out waiting for " + what);
    }

    [Fact]
    public async Task TheBetterStratumMasterLeadsAndACrashMovesLeadershipToTheOther()
    {
        var a = StartNode("master-a", MeshRole.Master, () => Status(3));
        var b = StartNode("master-b", MeshRole.Master, () => Status(2));
        var m = StartNode("member", MeshRole.Member, () => Status(4) with { Role = MeshRole.Member });
        var seed = Cluster.Get(a.System).SelfAddress;
        foreach (var n in new[] { a, b, m }) Cluster.Get(n.System).Join(seed);

        string bName = Cluster.Get(b.System).SelfAddress.ToString();
        string aName = Cluster.Get(a.System).SelfAddress.ToString();
        // The member may agree on the leader before the third status reached it (seen under full-suite load):
        // wait for both.
        await Eventually(async () =>
            await LeaderSeenBy(a.Mesh) == bName && await LeaderSeenBy(b.Mesh) == bName && await LeaderSeenBy(m.Mesh) == bName
            && (await m.Mesh.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, TimeSpan.FromSeconds(3))).Nodes.Count(n => n.Status is not null) == 3,
            TimeSpan.FromSeconds(30), "all three nodes to elect master-b (stratum 2) and the member to hold three statuses");

        var view = await m.Mesh.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, TimeSpan.FromSeconds(3));
        Assert.Equal(3, view.Nodes.Count(n => n.Status is not null));

        // Crash master-b: its actor system stops without leaving the cluster.
        var crashed = Stopwatch.StartNew();
        await b.System.Terminate();
        await Eventually(async () => await LeaderSeenBy(a.Mesh) == aName && await LeaderSeenBy(m.Mesh) == aName,
            TimeSpan.FromSeconds(30), "master-a to lead after master-b crashed");
        output.WriteLine($"measured: leadership moved {crashed.Elapsed.TotalSeconds:0.0} s after the leader's crash");
        Assert.True(crashed.Elapsed < TimeSpan.FromSeconds(10), $"fail-over took {crashed.Elapsed}");
    }

    [Fact]
    public async Task StatusesTravelThroughOurSerializer()
    {
        var a = StartNode("master-a", MeshRole.Master, () => Status(2));
        var serializer = a.System.Serialization.FindSerializerFor(Status(2));
        Assert.IsType<TimeStatusSerializer>(serializer);
        var original = Status(2) with { Node = "akka.tcp://timemesh@127.0.0.1:4053", SynchronisedSinceUnixNs = 12345, SentUnixNs = 67890, RootDistanceSeconds = 0.0042 };
        var back = (TimeStatus)serializer.FromBinary(serializer.ToBinary(original), typeof(TimeStatus));
        Assert.Equal(original, back);
        Assert.True(serializer.ToBinary(original).Length < 100);
        await Task.CompletedTask;
    }

    private static async Task<MeshProtocol.MeshView> ViewOf(IActorRef mesh) =>
        await mesh.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, TimeSpan.FromSeconds(3));

    /// <summary>
    /// Issue 18's attack: a process that never joined the cluster (provider = remote, no credentials) tells forged
    /// statuses straight to a member's mesh actor, naming itself, naming a real master, or with huge names. None
    /// is recorded, none changes the leader, the table stays at the cluster's members, and each is counted.
    /// </summary>
    [Fact]
    public async Task StatusesFromOutsideTheClusterAreDroppedAndCounted()
    {
        var a = StartNode("master-a", MeshRole.Master, () => Status(3));
        var m = StartNode("member", MeshRole.Member, () => Status(4) with { Role = MeshRole.Member });
        var seed = Cluster.Get(a.System).SelfAddress;
        foreach (var n in new[] { a, m }) Cluster.Get(n.System).Join(seed);
        string aName = seed.ToString();
        await Eventually(async () => await LeaderSeenBy(m.Mesh) == aName && (await ViewOf(m.Mesh)).Nodes.Count(n => n.Status is not null) == 2,
            TimeSpan.FromSeconds(30), "the member to follow master-a");

        var stranger = ActorSystem.Create("timemesh", ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = WARNING
            """).WithFallback(TimeMeshNode.MeshConfig));
        _systems.Add(stranger);
        string strangerName = ((ExtendedActorSystem)stranger).Provider.DefaultAddress.ToString();
        var target = stranger.ActorSelection($"{Cluster.Get(m.System).SelfAddress}/user/mesh");
        var sender = stranger.ActorOf(Props.Create(() => new Sink()), "sender");
        var liar = Status(1) with { NtpEndpoint = "127.0.0.9:123", ClaimsLeadership = true };
        target.Tell(liar with { Node = strangerName }, sender);                         // itself, not a member
        target.Tell(liar with { Node = aName }, sender);                                // a real master's name, sent by someone else
        target.Tell(liar with { Node = "akka.tcp://timemesh@127.0.0.9:4099" }, sender); // a made-up master
        for (int i = 0; i < 2000; i++)                                                  // memory: huge names
            target.Tell(liar with { Node = strangerName + new string('x', 2000) + i }, sender);

        var view = await ViewOf(m.Mesh);
        await Eventually(async () => (view = await ViewOf(m.Mesh)).StatusesDropped.Values.Sum() >= 2003, TimeSpan.FromSeconds(20),
            "the member to count 2003 dropped statuses");
        Assert.Equal(2000, view.StatusesDropped["oversized"]);
        Assert.Equal(2, view.StatusesDropped["sender_mismatch"]);
        Assert.Equal(1, view.StatusesDropped["not_member"]);
        Assert.Equal(aName, view.Leader);
        Assert.Equal(2, view.Nodes.Count);
        Assert.All(view.Nodes, n => Assert.NotEqual("127.0.0.9:123", n.Status?.NtpEndpoint));
        Assert.True(view.Joined);
        Assert.Equal(2, view.Members.Count);
    }

    /// <summary>A node in no cluster claims nothing: its view says "not joined" and names no leader, itself least.</summary>
    [Fact]
    public async Task ANodeInNoClusterNamesNoLeader()
    {
        var a = StartNode("master-a", MeshRole.Master, () => Status(1));
        await Task.Delay(TimeSpan.FromSeconds(2)); // several status intervals with nobody to join
        var view = await ViewOf(a.Mesh);
        Assert.False(view.Joined);
        Assert.Null(view.Leader);
        Assert.Empty(view.Members);
        Cluster.Get(a.System).Join(Cluster.Get(a.System).SelfAddress);
        await Eventually(async () => (await ViewOf(a.Mesh)) is { Joined: true } v && v.Leader == Cluster.Get(a.System).SelfAddress.ToString(),
            TimeSpan.FromSeconds(20), "the master to lead the cluster it formed");
    }

    /// <summary>
    /// Issue 18 step 5: a cluster member that declares itself master at a better stratum, but that the config's
    /// masters list does not name, is shown "not trusted", never elected and never handed to the sync actor.
    /// </summary>
    [Fact]
    public async Task AMasterTheConfigDoesNotNameIsNotTrustedElectedOrFollowed()
    {
        MasterAddress[] pinned = [new("127.0.0.1", 11001)];
        var follows = new System.Collections.Concurrent.ConcurrentQueue<Sync.SyncProtocol.FollowMesh>();
        var a = StartNode("master-a", MeshRole.Master, () => Status(3) with { NtpEndpoint = "127.0.0.1:11001" }, pinned);
        var rogue = StartNode("rogue", MeshRole.Master, () => Status(1) with { NtpEndpoint = "127.0.0.1:11002" }, pinned);
        var recorder = a.System.ActorOf(Props.Create(() => new Recorder(follows)));
        var m = StartNode("member", MeshRole.Member, () => Status(4) with { Role = MeshRole.Member, NtpEndpoint = "127.0.0.1:11003" }, pinned, recorder);
        var seed = Cluster.Get(a.System).SelfAddress;
        foreach (var n in new[] { a, rogue, m }) Cluster.Get(n.System).Join(seed);

        string aName = Cluster.Get(a.System).SelfAddress.ToString();
        string rogueName = Cluster.Get(rogue.System).SelfAddress.ToString();
        await Eventually(async () => (await ViewOf(m.Mesh)).Nodes.Count(n => n.Status is not null) == 3 && await LeaderSeenBy(m.Mesh) == aName
            && await LeaderSeenBy(rogue.Mesh) == aName && await LeaderSeenBy(a.Mesh) == aName,
            TimeSpan.FromSeconds(30), "every node to hold three statuses and elect master-a, not the stratum-1 stranger");
        // Several status intervals more: the election stays put.
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(aName, await LeaderSeenBy(m.Mesh));

        var view = await ViewOf(m.Mesh);
        Assert.False(view.Nodes.Single(n => n.Node == rogueName).Trusted);
        Assert.True(view.Nodes.Single(n => n.Node == aName).Trusted);
        var dto = TimeMesh.Node.Control.NodeQueries.Mesh(view, MeshRole.Member);
        string text = TimeMesh.Cli.Commands.ChronycFormat.Mesh(dto);
        Assert.Contains("not trusted", text);
        Assert.Contains(TimeMesh.Cli.Commands.ChronycFormat.ShortNode(rogueName), text);

        Assert.NotEmpty(follows);
        Assert.All(follows, f => Assert.DoesNotContain(System.Net.IPEndPoint.Parse("127.0.0.1:11002"), f.Masters));
        Assert.Equal(System.Net.IPEndPoint.Parse("127.0.0.1:11001"), follows.Last().Leader);
        // The member hears each trusted master's reported stratum with it (news it checks over NTP at once).
        Assert.Equal(new Dictionary<System.Net.IPEndPoint, int> { [System.Net.IPEndPoint.Parse("127.0.0.1:11001")] = 3 }, follows.Last().Strata);
    }

    private sealed class Recorder : ReceiveActor
    {
        public Recorder(System.Collections.Concurrent.ConcurrentQueue<Sync.SyncProtocol.FollowMesh> into) =>
            Receive<Sync.SyncProtocol.FollowMesh>(into.Enqueue);
    }

    private sealed class Sink : ReceiveActor
    {
        public Sink() => ReceiveAny(_ => { });
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _systems)
        {
            await s.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        }
    }
}
