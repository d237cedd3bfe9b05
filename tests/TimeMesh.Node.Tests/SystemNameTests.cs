using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Event;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// timemesh.system-name (issue 17, step 6): parsed and checked like every key, used for a standalone node's cluster
/// system, and a node whose seeds name another actor system is told so instead of never joining without a word;
/// the warnings of a member without masters and of a node with neither role nor servers.
/// </summary>
[Collection(ProcessLanes.Tools)]
public class SystemNameTests
{
    private static TimeMeshSettings Parse(string hocon) => TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(hocon));

    [Fact]
    public void TheSystemNameDefaultsToTimemeshAndTakesAnyNameAkkaTakes()
    {
        Assert.Equal("timemesh", Parse("timemesh {}").SystemName);
        Assert.Equal("MyApp", Parse("timemesh.system-name = MyApp").SystemName);
        Assert.Equal("time-mesh-2", Parse("timemesh.system-name = \"time-mesh-2\"").SystemName);
    }

    [Theory]
    [InlineData("\"my app\"")]
    [InlineData("\"-leading\"")]
    [InlineData("\"_leading\"")]
    [InlineData("\"snake_case\"")]
    [InlineData("\"a@b\"")]
    [InlineData("\"a/b\"")]
    [InlineData("\"\"")]
    public void ABadSystemNameIsRefusedNamingKeyValueAndWhatIsAllowed(string value)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse($"timemesh.system-name = {value}"));
        Assert.Equal("timemesh.system-name", e.Key);
        Assert.Contains("timemesh.system-name = " + value.Trim('"'), e.Message);
        Assert.Contains("allowed: an actor system name", e.Message);
    }

    [Theory]
    [InlineData("timemesh", true)]
    [InlineData("MyApp", true)]
    [InlineData("a-b", true)]
    [InlineData("a_b", false)]
    [InlineData("9lives", true)]
    [InlineData("-a", false)]
    [InlineData("_a", false)]
    [InlineData("a b", false)]
    [InlineData("a.b", false)]
    [InlineData("a@b", false)]
    public async Task WhatTheKeyAcceptsIsWhatAkkaAccepts(string name, bool valid)
    {
        Assert.Equal(valid, ClusterSystemName.IsValid(name));
        ActorSystem? system = null;
        try
        {
            system = ActorSystem.Create(name, "akka.loglevel = OFF\nakka.stdout-loglevel = OFF");
        }
        catch (ArgumentException)
        {
        }
        bool akkaTakesIt = system is not null;
        if (system is not null) await system.Terminate();
        Assert.Equal(akkaTakesIt, ClusterSystemName.IsValid(name));
    }

    [Fact]
    public void MismatchesNameTheSeedsSystemAndThisNodes()
    {
        Assert.Empty(ClusterSystemName.Mismatches("timemesh", ["akka.tcp://timemesh@10.0.0.1:4053", "akka.ssl.tcp://timemesh@[fd00::1]:4053/"], "fix"));
        var problems = ClusterSystemName.Mismatches("MyApp", ["akka.tcp://timemesh@10.0.0.1:4053", "akka.tcp://MyApp@10.0.0.2:4053"], "do this");
        var problem = Assert.Single(problems);
        Assert.Contains("akka.tcp://timemesh@10.0.0.1:4053", problem);
        Assert.Contains("\"timemesh\"", problem);
        Assert.Contains("\"MyApp\"", problem);
        Assert.EndsWith("do this", problem);
        Assert.Null(ClusterSystemName.SystemOf("not an address"));
        Assert.Equal("x", ClusterSystemName.SystemOf("akka.ssl.tcp://x@h:1"));
    }

    private static string MeshHocon(string role, int port, string seedSystem, string systemName = "", string extra = "") => $$"""
        timemesh {
          role = {{role}}
          listen = ["127.0.0.1:0"]
          allow = ["127.0.0.0/8"]
          local { stratum = 10 }
          data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-sysname-" + Guid.NewGuid().ToString("N")[..8])}}"
          control.listen = off
          {{systemName}}
          {{extra}}
        }
        akka {
          loglevel = INFO
          loggers = ["TimeMesh.Node.Tests.SystemNameTests+CapturingLogger, TimeMesh.Node.Tests"]
          remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{port}} }
          cluster.seed-nodes = ["akka.tcp://{{seedSystem}}@127.0.0.1:{{port}}"]
        }
        """;

    [Fact]
    public void AStandaloneNodeWhoseSeedsNameAnotherSystemRefusesToStartNamingBoth()
    {
        int port = Chrony.FreeTcpPort();
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(ConfigurationFactory.ParseString(MeshHocon("member", port, "MyApp"))));
        Assert.Equal("akka.cluster.seed-nodes", e.Key);
        Assert.Contains($"akka.tcp://MyApp@127.0.0.1:{port}", e.Message);
        Assert.Contains("\"MyApp\"", e.Message);
        Assert.Contains("\"timemesh\"", e.Message);
        Assert.Contains("timemesh.system-name", e.Message);

        // timemesh check-config says the same before anything starts.
        var check = ConfigFileCheck.CheckText(MeshHocon("member", port, "MyApp"), "member.hocon", values: true);
        var problem = Assert.Single(check.Problems, p => p.Key == "akka.cluster.seed-nodes");
        Assert.Contains("\"MyApp\"", problem.Message);
        Assert.Contains("\"timemesh\"", problem.Message);
        Assert.DoesNotContain(ConfigFileCheck.CheckText(MeshHocon("member", port, "MyApp", "system-name = MyApp"), "member.hocon", values: true).Problems,
            p => p.Key == "akka.cluster.seed-nodes");
    }

    [Fact]
    public async Task AStandaloneMasterRunsItsClusterUnderTheConfiguredName()
    {
        int port = Chrony.FreeTcpPort();
        await using var node = TimeMeshNode.Start(ConfigurationFactory.ParseString(MeshHocon("master", port, "MyApp", "system-name = MyApp")));
        var cluster = Cluster.Get(node.MeshHost!.System);
        Assert.Equal("MyApp", node.MeshHost.System.Name);
        Assert.Equal($"akka.tcp://MyApp@127.0.0.1:{port}", cluster.SelfAddress.ToString());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (cluster.SelfMember.Status != MemberStatus.Up && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(MemberStatus.Up, cluster.SelfMember.Status);
    }

    [Fact]
    public async Task AMemberThatSeesNoMasterWarnsOnceAndSaysWhenOneIsBack()
    {
        // The member's seed is the master's cluster address, where nothing runs yet: it is in no cluster.
        int memberPort = Chrony.FreeTcpPort(), masterPort = Chrony.FreeTcpPort();
        string extra = "mesh { no-master-warning = 2s, status-interval = 250ms }";
        string memberHocon = MeshHocon("member", memberPort, "timemesh", extra: extra)
            .Replace($"timemesh@127.0.0.1:{memberPort}", $"timemesh@127.0.0.1:{masterPort}");
        await using var member = TimeMeshNode.Start(ConfigurationFactory.ParseString(memberHocon));
        string memberAddress = $"akka.tcp://timemesh@127.0.0.1:{memberPort}";
        var started = DateTime.UtcNow;
        string warning = await Logged(LogLevel.WarningLevel, "mesh: no master seen for", TimeSpan.FromSeconds(30), memberAddress);
        var warnedAfter = DateTime.UtcNow - started;
        Assert.InRange(warnedAfter, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(30));
        Assert.Contains("it is not in a cluster", warning);
        Assert.Contains($"akka.tcp://timemesh@127.0.0.1:{masterPort}", warning);
        Assert.Contains("\"timemesh\"", warning);

        // A master comes up at the seed address: the member joins and says the master is back.
        await using var master = TimeMeshNode.Start(ConfigurationFactory.ParseString(MeshHocon("master", masterPort, "timemesh", extra: extra)));
        string back = await Logged(LogLevel.InfoLevel, "mesh: a master is seen again", TimeSpan.FromSeconds(60), memberAddress);
        Assert.Contains($"akka.tcp://timemesh@127.0.0.1:{masterPort}", back);
        // Warned once for the outage, not at every tick.
        Assert.Single(CapturingLogger.Events, e => e.Level == LogLevel.WarningLevel && e.Message.Contains("mesh: no master seen for") && e.Source.Contains(memberAddress));
    }

    [Fact]
    public void InAClusterWithoutMastersTheWarningSaysSo()
    {
        string text = MeshActor.NoMasterWarningText(61, joined: true, members: 3, seeds: ["akka.tcp://timemesh@10.0.0.1:4053"], ownSystem: "timemesh", pinnedMasters: 2);
        Assert.StartsWith("mesh: no master seen for 61 s: it is in a cluster of 3 members, none of them a master", text);
        Assert.Contains("only from the 2 masters of timemesh.mesh.masters", text);
    }

    [Fact]
    public void ANodeWithNeitherRoleNorServersIsWarnedAtStart()
    {
        var warning = Assert.Single(TimeMeshActors.StartWarnings(Parse("timemesh { local { stratum = 10 } }")));
        Assert.Contains("neither a mesh role", warning);
        Assert.Contains("local stratum 10", warning);
        Assert.Contains("no time to serve", Assert.Single(TimeMeshActors.StartWarnings(Parse("timemesh {}"))));
        Assert.Empty(TimeMeshActors.StartWarnings(Parse("timemesh { server = [ { address = \"127.0.0.1\" } ] }")));
        Assert.Empty(TimeMeshActors.StartWarnings(Parse("timemesh { role = member }")));
    }

    private static async Task<string> Logged(LogLevel level, string text, TimeSpan timeout, string source)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var e in CapturingLogger.Events)
                if (e.Level == level && e.Message.Contains(text) && e.Source.Contains(source)) return e.Message;
            await Task.Delay(100);
        }
        Assert.Fail($"not logged within {timeout.TotalSeconds} s by {source}: {level} \"{text}\"; logged: {string.Join("\n", CapturingLogger.Events.Where(e => e.Level >= LogLevel.WarningLevel).Select(e => e.Message))}");
        return "";
    }

    /// <summary>Collects the log events of every actor system of this class's tests.</summary>
    public sealed class CapturingLogger : ReceiveActor
    {
        public static readonly ConcurrentQueue<(LogLevel Level, string Source, string Message)> Events = new();

        public CapturingLogger()
        {
            Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
            Receive<LogEvent>(e => Events.Enqueue((e.LogLevel(), e.LogSource ?? "", e.Message?.ToString() ?? "")));
        }
    }
}
