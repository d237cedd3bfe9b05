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

    private (ActorSystem System, IActorRef Mesh, Func<TimeStatus> Status) StartNode(string name, MeshRole role, Func<TimeStatus> status)
    {
        var system = ActorSystem.Create("timemesh", ClusterConfig(crashable: true));
        _systems.Add(system);
        var mesh = system.ActorOf(MeshActor.Props(
            new MeshSettings(role, TimeSpan.FromMilliseconds(250), new ElectionSettings { HysteresisSeconds = 2 }),
            () => Task.FromResult(status())), "mesh");
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

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _systems)
        {
            await s.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        }
    }
}
