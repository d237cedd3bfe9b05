using Akka.Actor;
using Akka.Cluster.SBR;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;
using Xunit;

namespace TimeMesh.Node.Tests;

/// <summary>
/// The formation settings the long chaos profile found wanting (docs/chaos.md): how soon a refused Join is asked
/// again, how long the split-brain resolver tolerates unstable reachability before it downs every node, and in
/// which order rejoining seeds found a cluster when nobody lets them in.
/// </summary>
public class MeshFormationSettingsTests
{
    /// <summary>An actor system with the config a mesh node runs with (loopback, any port), as Akka reads it.</summary>
    private static ActorSystem MeshSystem() => ActorSystem.Create("timemesh",
        Akka.Configuration.ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp { hostname = \"127.0.0.1\", port = 0 }")
            .WithFallback(TimeMeshNode.MeshConfig).WithFallback(TimeMeshSettings.Reference));

    [Fact]
    public void ARefusedJoinIsAskedAgainWithinTwoSeconds()
    {
        using var system = MeshSystem();
        Assert.Equal(TimeSpan.FromSeconds(2), Akka.Cluster.Cluster.Get(system).Settings.RetryUnsuccessfulJoinAfter);
    }

    [Fact]
    public void TheResolverDownsAllOnlyAfterTwentySecondsOfInstability()
    {
        using var system = MeshSystem();
        var sbr = new SplitBrainResolverSettings(system.Settings.Config);
        Assert.Equal("keep-oldest", sbr.DowningStrategy);
        Assert.Equal(TimeSpan.FromSeconds(5), sbr.DowningStableAfter);
        // Akka's default (on) would be max(3/4 of stable-after, 4 s): a 4-5 s partition healed unevenly reached it.
        Assert.Equal(TimeSpan.FromSeconds(15), sbr.DownAllWhenUnstable);
    }

    [Fact]
    public void RejoiningSeedsFoundAClusterInTheConfigsOrder()
    {
        var a = Address.Parse("akka.tcp://timemesh@10.0.0.11:4053");
        var b = Address.Parse("akka.tcp://timemesh@10.0.0.12:4053");
        var seeds = new[] { a, b };
        var first = TimeSpan.FromSeconds(10);
        Assert.Equal(TimeSpan.FromSeconds(10), MeshHost.FormAfterFor(seeds, a, first));
        Assert.Equal(TimeSpan.FromSeconds(20), MeshHost.FormAfterFor(seeds, b, first));
        // A node that is no seed (it never founds on a rejoin) gets the first delay if asked.
        Assert.Equal(first, MeshHost.FormAfterFor(seeds, Address.Parse("akka.tcp://timemesh@10.0.0.13:4053"), first));
    }
}
