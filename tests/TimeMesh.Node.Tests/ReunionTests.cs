using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Two clusters of one mesh (as a partition can leave them: each side formed its own) find each other through the
/// reunion probes over real remoting, and exactly one of them, the one whose smallest member address sorts last,
/// is told to move, with the other's members as contacts.
/// </summary>
public class ReunionTests : IAsyncLifetime
{
    private readonly List<ActorSystem> _systems = new();

    private ActorSystem Node(int port, string seeds)
    {
        var system = ActorSystem.Create("timemesh", ConfigurationFactory.ParseString($$"""
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{port}} }
            akka.loglevel = WARNING
            akka.cluster.seed-nodes = [{{seeds}}]
            """).WithFallback(TimeMeshNode.MeshConfig).WithFallback(TimeMeshSettings.Reference));
        _systems.Add(system);
        return system;
    }

    [Fact]
    public async Task OfTwoClustersOnlyTheOneWithTheLaterSmallestAddressMoves()
    {
        int portA = Support.Chrony.FreeTcpPort(), portB = Support.Chrony.FreeTcpPort();
        string a = $"akka.tcp://timemesh@127.0.0.1:{portA}", b = $"akka.tcp://timemesh@127.0.0.1:{portB}";
        string seeds = $"\"{a}\", \"{b}\"";
        var systemA = Node(portA, seeds);
        var systemB = Node(portB, seeds);
        // Each forms a cluster of its own (not through the seeds, which would join them).
        foreach (var s in new[] { systemA, systemB }) Cluster.Get(s).Join(Cluster.Get(s).SelfAddress);
        await Task.WhenAll(new[] { systemA, systemB }.Select(s =>
        {
            var up = new TaskCompletionSource();
            Cluster.Get(s).RegisterOnMemberUp(() => up.TrySetResult());
            return up.Task.WaitAsync(TimeSpan.FromSeconds(20));
        }));

        var moves = new System.Collections.Concurrent.ConcurrentQueue<(string Who, IReadOnlyList<Address> To)>();
        var learned = new System.Collections.Concurrent.ConcurrentBag<Address>();
        // A knows B only as a seed; B knows nobody but itself: it learns of A from A's probe and asks it back.
        systemA.ActorOf(ReunionActor.Props(() => [Address.Parse(b)], to => moves.Enqueue((a, to)), learned.Add, TimeSpan.FromMilliseconds(300)), ReunionActor.Name);
        var bContacts = new List<Address>();
        systemB.ActorOf(ReunionActor.Props(() => { lock (bContacts) return bContacts.ToList(); }, to => moves.Enqueue((b, to)),
            x => { learned.Add(x); lock (bContacts) if (!bContacts.Contains(x)) bContacts.Add(x); }, TimeSpan.FromMilliseconds(300)), ReunionActor.Name);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline && moves.IsEmpty) await Task.Delay(100);
        await Task.Delay(1000); // the other side must not move too
        var (loser, winnerMembers) = string.CompareOrdinal(a, b) < 0 ? (b, a) : (a, b);
        var move = Assert.Single(moves);
        Assert.Equal(loser, move.Who);
        Assert.Equal([Address.Parse(winnerMembers)], move.To);
        Assert.Contains(Address.Parse(a), learned);
    }

    [Fact]
    public async Task AnAnswerNobodyAskedForMovesNothing()
    {
        int portA = Support.Chrony.FreeTcpPort(), portS = Support.Chrony.FreeTcpPort();
        string a = $"akka.tcp://timemesh@127.0.0.1:{portA}";
        var systemA = Node(portA, $"\"{a}\"");
        Cluster.Get(systemA).Join(Cluster.Get(systemA).SelfAddress);
        var moved = false;
        systemA.ActorOf(ReunionActor.Props(() => [], _ => moved = true, _ => { }, TimeSpan.FromMilliseconds(200)), ReunionActor.Name);
        var stranger = ActorSystem.Create("timemesh", ConfigurationFactory.ParseString($$"""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{portS}} }
            akka.loglevel = WARNING
            """).WithFallback(TimeMeshNode.MeshConfig));
        _systems.Add(stranger);
        var target = stranger.ActorSelection($"{a}/user/{ReunionActor.Name}");
        // Unasked, naming a smaller address and even a seed of the mesh: ignored.
        for (int i = 0; i < 20; i++)
        {
            target.Tell(new ReunionProtocol.ProbeReply(true, ["akka.tcp://timemesh@127.0.0.0:1", a + "0"]));
            await Task.Delay(100);
        }
        Assert.False(moved);
    }

    [Fact]
    public void TheWireFormRoundTripsAndRefusesGarbage()
    {
        var system = Node(0, "");
        var serializer = (ReunionSerializer)system.Serialization.FindSerializerFor(ReunionProtocol.Probe.Instance);
        var reply = new ReunionProtocol.ProbeReply(true, ["akka.tcp://timemesh@10.0.0.1:4053", "akka.tcp://timemesh@10.0.0.2:4053"]);
        var back = (ReunionProtocol.ProbeReply)serializer.FromBinary(serializer.ToBinary(reply), serializer.Manifest(reply));
        Assert.True(back.Joined);
        Assert.Equal(reply.Members, back.Members);
        Assert.Same(ReunionProtocol.Probe.Instance, serializer.FromBinary(serializer.ToBinary(ReunionProtocol.Probe.Instance), "P"));
        Assert.ThrowsAny<Exception>(() => serializer.FromBinary([1, 1, 5, 0, 200], "R"));
        Assert.ThrowsAny<Exception>(() => serializer.FromBinary([9], "P"));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _systems) await s.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
    }
}
