using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TimeMesh.Core.Clock;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Tests.Support;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Ntp;
using Xunit.Abstractions;

namespace TimeMesh.Hosting.Tests;

/// <summary>
/// Two Akka.Hosting applications in generic hosts, one process, loopback: each configures its own cluster
/// with WithClustering and adds TimeMesh with WithTimeMesh. The master syncs to a chronyd on this machine,
/// the member follows the master and serves no NTP (a mesh clock only).
/// </summary>
[Collection(EmbeddingCollection.Name)]
public class EmbeddingTests(ITestOutputHelper output)
{
    private const string SystemName = "app";

    private static IHost BuildHost(int clusterPort, int seedPort, TimeMeshOptions options)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddMeshClock();
        builder.Services.AddAkka(SystemName, akka => akka
            .AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend)
            .WithRemoting("127.0.0.1", clusterPort)
            .WithClustering(new ClusterOptions { SeedNodes = [$"akka.tcp://{SystemName}@127.0.0.1:{seedPort}"] })
            .WithTimeMesh(options));
        return builder.Build();
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {timeout.TotalSeconds} s: {what}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task AMemberInTheAppsOwnClusterGetsABoundedMeshTimeFromTheMasterAndStopsCleanly()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort);
        int masterPort = Chrony.FreeTcpPort(), memberPort = Chrony.FreeTcpPort();
        string dataDir = Path.Combine(Path.GetTempPath(), "tm-hosting-" + Guid.NewGuid().ToString("N")[..8]);
        var master = BuildHost(masterPort, masterPort, new TimeMeshOptions
        {
            Role = MeshRole.Master,
            Servers = [new TimeMeshServer("127.0.0.1", upstreamPort) { MinPollLog2 = 0, MaxPollLog2 = 1 }],
            NtpListen = ["127.0.0.1:0"],
            Allow = ["127.0.0.0/8"],
            DataDir = dataDir,
            Persistence = new TimeMeshPersistenceOptions(),
        });
        var member = BuildHost(memberPort, masterPort, new TimeMeshOptions { Role = MeshRole.Member });
        try
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            await master.StartAsync();
            await member.StartAsync();
            // Right after its start the member (no timemesh.mesh.masters here) knows no master: its clock is unknown.
            var clock = member.Services.GetRequiredService<IMeshClock>();
            var before = clock.Now();
            var masterSystem = master.Services.GetRequiredService<ActorSystem>();
            var memberSystem = member.Services.GetRequiredService<ActorSystem>();

            // One cluster, the application's: both systems are the hosts' own and see each other Up.
            await WaitUntil(() => new[] { masterSystem, memberSystem }.All(s =>
                Cluster.Get(s).State.Members.Count(m => m.Status == MemberStatus.Up) == 2), TimeSpan.FromSeconds(30), "both nodes Up in one cluster");
            Assert.Equal(SystemName, memberSystem.Name);
            Assert.Equal(
                new[] { Cluster.Get(masterSystem).SelfAddress, Cluster.Get(memberSystem).SelfAddress }.Order(),
                Cluster.Get(memberSystem).State.Members.Select(m => m.Address).Order());

            // The time actors live in the application's system, under the registry's keys.
            var registry = member.Services.GetRequiredService<ActorRegistry>();
            foreach (var actor in new[] { registry.Get<TimeMeshSyncKey>(), registry.Get<TimeMeshMeshKey>(), registry.Get<TimeMeshReferenceKey>(), registry.Get<TimeMeshClockKey>() })
            {
                Assert.Equal(Cluster.Get(memberSystem).SelfAddress.System, actor.Path.Address.System);
                Assert.StartsWith(TimeMeshHostingExtensions.ActorNamePrefix, actor.Path.Name);
            }
            Assert.False(registry.TryGet<TimeMeshNtpServerKey>(out _), "the member serves no NTP");
            Assert.False(registry.TryGet<TimeMeshDriftStoreKey>(out _), "the member keeps no drift state");
            var masterRegistry = master.Services.GetRequiredService<ActorRegistry>();
            var listening = await masterRegistry.Get<TimeMeshNtpServerKey>().Ask<NtpServerProtocol.Listening>(NtpServerProtocol.GetListening.Instance, TimeSpan.FromSeconds(3));
            var masterNtp = Assert.Single(listening.Endpoints);
            Assert.True(masterRegistry.TryGet<TimeMeshDriftStoreKey>(out _));

            // The member's mesh clock becomes synchronised through the master.
            Assert.False(before.Synchronised);
            Assert.Equal(MeshTimeBound.UnknownErrorBoundSeconds, before.ErrorBoundSeconds);
            await WaitUntil(() => clock.Now() is { Synchronised: true, Stratum: 3 }, TimeSpan.FromSeconds(60), "the member's mesh clock synchronised at stratum 3");
            var now = clock.Now();
            output.WriteLine($"member synchronised {started.Elapsed.TotalSeconds:0.0} s after the hosts started: {now.Now:O} ± {now.ErrorBoundSeconds * 1e6:0.0} µs, stratum {now.Stratum}, leader {now.Leader}");
            Assert.Equal(Cluster.Get(masterSystem).SelfAddress.ToString(), now.Leader);
            // The health check WithTimeMesh registered says so too.
            var health = await member.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>().CheckHealthAsync();
            var entry = health.Entries[MeshClockHealthCheck.Name];
            output.WriteLine($"member health: {entry.Status}: {entry.Description}");
            Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, entry.Status);
            Assert.Equal(true, entry.Data["synchronised"]);
            var sources = await registry.Get<TimeMeshSyncKey>().Ask<Node.Sync.SyncProtocol.Sources>(Node.Sync.SyncProtocol.GetSources.Instance, TimeSpan.FromSeconds(3));
            Assert.Contains(sources.Entries, s => s.Name == masterNtp.ToString() && s.State == SourceState.Selected);

            // chronyd, the master and the member all run on this machine's clock, so the system time lies
            // inside every interval the member gives.
            double worstRatio = 0;
            for (int i = 0; i < 50; i++)
            {
                long systemBefore = RealtimeClock.ReadUnixNanoseconds();
                var t = clock.Now();
                long systemAfter = RealtimeClock.ReadUnixNanoseconds();
                Assert.True(t.Synchronised);
                Assert.True(double.IsFinite(t.ErrorBoundSeconds) && t.ErrorBoundSeconds > 0 && t.ErrorBoundSeconds < 0.01, $"bound {t.ErrorBoundSeconds} s");
                Assert.True(t.EarliestUnixNs <= systemAfter && systemBefore <= t.LatestUnixNs,
                    $"system time [{systemBefore}, {systemAfter}] outside [{t.EarliestUnixNs}, {t.LatestUnixNs}] (offset {(t.NowUnixNs - systemBefore) * 1e-9:e3} s, bound {t.ErrorBoundSeconds:e3} s)");
                worstRatio = Math.Max(worstRatio, Math.Abs(t.NowUnixNs - (systemBefore + systemAfter) / 2) * 1e-9 / t.ErrorBoundSeconds);
                await Task.Delay(40);
            }
            output.WriteLine($"largest |member - system| / bound over 50 reads in 2 s: {worstRatio:0.000}");

            // A read is one clock read and arithmetic on the published snapshot: no allocation, no message.
            for (int i = 0; i < 100_000; i++) clock.Now();
            const int reads = 1_000_000;
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            long sink = 0;
            for (int i = 0; i < reads; i++) sink += clock.Now().ErrorBoundNs;
            stopwatch.Stop();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            output.WriteLine($"IMeshClock.Now() on the synchronised member, cluster running: {stopwatch.Elapsed.TotalNanoseconds / reads:0.0} ns per call over {reads} calls, {allocated} bytes allocated in all (sink {sink % 7})");
            // Judged per call: the runtime may allocate a few bytes once (tiering) during a long loop.
            Assert.True(allocated < reads / 100, $"{allocated} bytes over {reads} calls");

            // Between two updates the bound grows at least at PHI (plus the skew).
            MeshTime first, second;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            do
            {
                first = clock.Now();
                await Task.Delay(300);
                second = clock.Now();
            }
            while (first.ReferenceTimeUnixNs != second.ReferenceTimeUnixNs && DateTime.UtcNow < deadline);
            Assert.Equal(first.ReferenceTimeUnixNs, second.ReferenceTimeUnixNs);
            double elapsedSeconds = (second.NowUnixNs - first.NowUnixNs) * 1e-9;
            double growthRate = (second.ErrorBoundSeconds - first.ErrorBoundSeconds) / elapsedSeconds;
            output.WriteLine($"bound growth between updates: {growthRate * 1e6:0.000} ppm over {elapsedSeconds:0.000} s");
            Assert.True(growthRate >= NtpSourcePoller.Phi * (1 - 1e-6), $"growth {growthRate * 1e6} ppm < PHI");

            // Stopping the member leaves the cluster and stops its system; then the master stops and frees its NTP port.
            await member.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            await memberSystem.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
            await WaitUntil(() => Cluster.Get(masterSystem).State.Members.Count == 1, TimeSpan.FromSeconds(30), "the member left the master's cluster");
            await master.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            await masterSystem.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
            using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            rebind.Bind(masterNtp);
            // The master's drift state went through TimeMesh's own plugins into its SQLite file.
            using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "timemesh.db")};Mode=ReadOnly");
            db.Open();
            using var query = db.CreateCommand();
            query.CommandText = "SELECT COUNT(*) FROM journal WHERE persistence_id LIKE 'timemesh-drift-%'";
            Assert.True((long)query.ExecuteScalar()! >= 1, "no drift state in the journal");
        }
        finally
        {
            member.Dispose();
            master.Dispose();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EmbeddingCollection
{
    public const string Name = "embedding";
}
