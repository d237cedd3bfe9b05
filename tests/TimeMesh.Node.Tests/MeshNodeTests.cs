using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Sync;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Three whole nodes (TimeMeshNode: NTP server, sync, mesh) in one process, each its own actor system on
/// loopback, two masters on their own chronyd: crash the leader without a graceful leave and the member
/// follows the other master.
/// </summary>
[Collection(ProcessTests.Name)]
public class MeshNodeTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static Akka.Configuration.Config Config(string role, int clusterPort, int seedA, int seedB, string upstream) =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = {{role}}
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              {{upstream}}
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-meshnode-" + Guid.NewGuid().ToString("N")[..8])}}"
            }
            akka {
              loglevel = WARNING
              # A crash: terminating this actor system does not leave the cluster.
              coordinated-shutdown.run-by-actor-system-terminate = off
              remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.tcp://timemesh@127.0.0.1:{{seedA}}", "akka.tcp://timemesh@127.0.0.1:{{seedB}}"]
            }
            """);

    private static async Task<MeshProtocol.MeshView> View(TimeMeshNode node) =>
        await node.Mesh!.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, TimeSpan.FromSeconds(3));

    [Fact]
    public async Task CrashingTheLeaderWithoutLeavingMovesTheMemberToTheOtherMaster()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        using var upA = Chrony.StartServer("127.0.0.1", upstreamPort);
        using var upB = Chrony.StartServer("127.0.0.2", upstreamPort);
        int portA = Chrony.FreeTcpPort(), portB = Chrony.FreeTcpPort(), portM = Chrony.FreeTcpPort();
        string Upstream(string ip) => $"server = [ {{ address = \"{ip}\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1 }} ]";
        var a = TimeMeshNode.Start(Config("master", portA, portA, portB, Upstream("127.0.0.1")));
        var b = TimeMeshNode.Start(Config("master", portB, portA, portB, Upstream("127.0.0.2")));
        var m = TimeMeshNode.Start(Config("member", portM, portA, portB, ""));
        try
        {
            string aName = $"akka.tcp://timemesh@127.0.0.1:{portA}", bName = $"akka.tcp://timemesh@127.0.0.1:{portB}";
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            MeshProtocol.MeshView view = await View(m);
            while (DateTime.UtcNow < deadline && !(view.Leader is not null && view.Nodes.Count(n => n.Status is not null) == 3
                && (await View(a)).Leader == view.Leader && (await View(b)).Leader == view.Leader))
            {
                await Task.Delay(250);
                view = await View(m);
            }
            Assert.NotNull(view.Leader);
            Assert.Equal(3, view.Nodes.Count(n => n.Status is not null));
            var (leader, other, otherName) = view.Leader == aName ? (a, b, bName) : (b, a, aName);
            var otherNtp = other.Endpoints[0];

            // The member serves at stratum 3 through the mesh.
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline && NtpPacket.Parse(NtpProbe.Ask(m.Endpoints[0], NtpProbe.ClientRequest(1), TimeSpan.FromSeconds(1))!).Header.Stratum != 3)
                await Task.Delay(250);

            var crashed = System.Diagnostics.Stopwatch.StartNew();
            await leader.System.Terminate();
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            var sources = (await m.Sync!.Ask<SyncProtocol.Sources>(SyncProtocol.GetSources.Instance, TimeSpan.FromSeconds(3))).Entries;
            while (DateTime.UtcNow < deadline && !((await View(m)).Leader == otherName
                && sources.Count == 1 && sources[0].Name == otherNtp.ToString() && sources[0].State == Core.Sources.SourceState.Selected))
            {
                await Task.Delay(100);
                sources = (await m.Sync!.Ask<SyncProtocol.Sources>(SyncProtocol.GetSources.Instance, TimeSpan.FromSeconds(3))).Entries;
            }
            output.WriteLine($"measured: the member selected the other master {crashed.Elapsed.TotalSeconds:0.0} s after the leader's actor system stopped");
            Assert.Equal(otherName, (await View(m)).Leader);
            var only = Assert.Single(sources);
            Assert.Equal(otherNtp.ToString(), only.Name);
            Assert.Equal(Core.Sources.SourceState.Selected, only.State);
            var served = NtpPacket.Parse(NtpProbe.Ask(m.Endpoints[0], NtpProbe.ClientRequest(2), TimeSpan.FromSeconds(2))!).Header;
            Assert.Equal(3, served.Stratum);
            Assert.Equal(LeapIndicator.NoWarning, served.Leap);
        }
        finally
        {
            foreach (var node in new[] { a, b, m })
                await node.System.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        }
    }
}
