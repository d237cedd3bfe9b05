using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TimeMesh.Core.Clock;
using TimeMesh.Core.Mesh;
using TimeMesh.Node;
using TimeMesh.Node.Tests.Support;
using LogLevel = Akka.Event.LogLevel;

namespace TimeMesh.Hosting.Tests;

/// <summary>
/// What an embedded node tells the application (issue 17, step 6): the health check's states, the warning of a
/// node with neither role nor servers, the error of a member whose seeds are in another actor system, and a
/// member application joining standalone masters that run under its system name.
/// </summary>
[Collection(EmbeddingCollection.Name)]
public class GuidanceTests
{
    private static MeshTime Time(bool synchronised, double bound, long referenceNs) => new()
    {
        NowUnixNs = 1_800_000_000_000_000_000,
        ErrorBoundSeconds = bound,
        Synchronised = synchronised,
        Stratum = synchronised ? 3 : 16,
        ReferenceTimeUnixNs = referenceNs,
        Leader = synchronised ? "akka.tcp://app@127.0.0.1:4053" : null,
    };

    [Fact]
    public void TheHealthCheckIsHealthyOnlyWhileSynchronised()
    {
        var synced = MeshClockHealthCheck.Judge(Time(true, 0.000180, 1_799_999_999_000_000_000), HealthStatus.Unhealthy);
        Assert.Equal(HealthStatus.Healthy, synced.Status);
        Assert.Equal("synchronised at stratum 3, error bound 0.00018 s", synced.Description);
        Assert.Equal(true, synced.Data["synchronised"]);
        Assert.Equal(0.000180, synced.Data["error_bound_seconds"]);
        Assert.Equal("akka.tcp://app@127.0.0.1:4053", synced.Data["leader"]);

        var never = MeshClockHealthCheck.Judge(Time(false, MeshTimeBound.UnknownErrorBoundSeconds, 0), HealthStatus.Unhealthy);
        Assert.Equal(HealthStatus.Unhealthy, never.Status);
        Assert.StartsWith("not synchronised: no source yet", never.Description);
        Assert.Equal(false, never.Data["synchronised"]);

        var holdover = MeshClockHealthCheck.Judge(Time(false, 0.0042, 1_799_999_990_000_000_000), HealthStatus.Degraded);
        Assert.Equal(HealthStatus.Degraded, holdover.Status); // the registration's failure status
        Assert.Contains("holdover", holdover.Description);
        Assert.Contains("0.0042 s", holdover.Description);
    }

    private static IHost Build(string systemName, TimeMeshOptions options, Action<AkkaConfigurationBuilder>? more = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddMeshClock();
        builder.Services.AddAkka(systemName, akka =>
        {
            akka.AddHocon("akka.loglevel = INFO\nakka.loggers = [\"TimeMesh.Hosting.Tests.GuidanceTests+CapturingLogger, TimeMesh.Hosting.Tests\"]", HoconAddMode.Prepend);
            more?.Invoke(akka);
            akka.WithTimeMesh(options);
        });
        return builder.Build();
    }

    [Fact]
    public async Task ANodeWithNeitherRoleNorServersWarnsAtStartAndReportsUnhealthy()
    {
        string system = "guidance-alone-" + Guid.NewGuid().ToString("N")[..6];
        using var host = Build(system, new TimeMeshOptions { Role = null, LocalStratum = 10 });
        await host.StartAsync();
        try
        {
            string warning = await Logged(LogLevel.WarningLevel, "neither a mesh role", system);
            Assert.Contains("local stratum 10", warning);
            var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
            var entry = report.Entries[MeshClockHealthCheck.Name];
            Assert.Equal(HealthStatus.Unhealthy, entry.Status);
            Assert.StartsWith("not synchronised", entry.Description);
            Assert.Contains(MeshClockHealthCheck.Tag, entry.Tags);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task AMemberWhoseSeedsAreInAnotherActorSystemLogsAnErrorNamingBoth()
    {
        int seedPort = Chrony.FreeTcpPort();
        using var host = Build("MyApp", new TimeMeshOptions { Role = MeshRole.Member, ExtraHocon = "timemesh.mesh.no-master-warning = 1s" }, akka => akka
            .WithRemoting("127.0.0.1", 0)
            .WithClustering(new ClusterOptions { SeedNodes = [$"akka.tcp://timemesh@127.0.0.1:{seedPort}"] }));
        await host.StartAsync();
        try
        {
            string error = await Logged(LogLevel.ErrorLevel, "is in actor system", "MyApp");
            Assert.Contains($"akka.tcp://timemesh@127.0.0.1:{seedPort}", error);
            Assert.Contains("\"timemesh\"", error);
            Assert.Contains("\"MyApp\"", error);
            Assert.Contains("timemesh.system-name = \"MyApp\"", error);
            // And, a second later, the member says it has seen no master.
            string warning = await Logged(LogLevel.WarningLevel, "mesh: no master seen for", "MyApp");
            Assert.Contains("it is not in a cluster", warning);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task AMemberAppJoinsStandaloneMastersRunUnderItsSystemName()
    {
        int masterPort = Chrony.FreeTcpPort();
        string seed = $"akka.tcp://MeshApp@127.0.0.1:{masterPort}";
        await using var master = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = master
              system-name = MeshApp
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              local { stratum = 10 }
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-guidance-" + Guid.NewGuid().ToString("N")[..8])}}"
              control.listen = off
            }
            akka {
              loglevel = WARNING
              remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{masterPort}} }
              cluster.seed-nodes = ["{{seed}}"]
            }
            """));
        using var member = Build("MeshApp", new TimeMeshOptions { Role = MeshRole.Member }, akka => akka
            .WithRemoting("127.0.0.1", 0)
            .WithClustering(new ClusterOptions { SeedNodes = [seed] }));
        await member.StartAsync();
        try
        {
            var cluster = Cluster.Get(member.Services.GetRequiredService<ActorSystem>());
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline && !(cluster.SelfMember.Status == MemberStatus.Up
                       && cluster.State.Members.Any(m => m.Address.ToString() == seed && m.Status == MemberStatus.Up)))
                await Task.Delay(100);
            Assert.Equal(MemberStatus.Up, cluster.SelfMember.Status);
            Assert.Contains(cluster.State.Members, m => m.Address.ToString() == seed && m.Status == MemberStatus.Up);
            Assert.DoesNotContain(CapturingLogger.Events, e => e.Level == LogLevel.ErrorLevel && e.Source.Contains("MeshApp"));
        }
        finally
        {
            await member.StopAsync();
        }
    }

    private static async Task<string> Logged(LogLevel level, string text, string system)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var e in CapturingLogger.Events)
                if (e.Level == level && e.Message.Contains(text) && e.System == system) return e.Message;
            await Task.Delay(100);
        }
        Assert.Fail($"{system} did not log {level} \"{text}\" within 30 s; logged: {string.Join("\n", CapturingLogger.Events.Where(e => e.System == system).Select(e => e.Message))}");
        return "";
    }

    /// <summary>Collects the log events of every actor system of this class's tests, with the system's name.</summary>
    public sealed class CapturingLogger : ReceiveActor
    {
        public static readonly ConcurrentQueue<(LogLevel Level, string System, string Source, string Message)> Events = new();

        public CapturingLogger()
        {
            Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
            Receive<LogEvent>(e => Events.Enqueue((e.LogLevel(), Context.System.Name, e.LogSource ?? "", e.Message?.ToString() ?? "")));
        }
    }
}
