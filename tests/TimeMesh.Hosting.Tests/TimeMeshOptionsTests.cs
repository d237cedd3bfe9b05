using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;

namespace TimeMesh.Hosting.Tests;

public class TimeMeshOptionsTests
{
    [Fact]
    public void TheRenderedHoconParsesIntoTheSettingsTheOptionsSay()
    {
        var options = new TimeMeshOptions
        {
            Role = MeshRole.Master,
            Servers = [new TimeMeshServer("192.0.2.1") { MinPollLog2 = 4, MaxPollLog2 = 6, Prefer = true }, new TimeMeshServer("192.0.2.2", 11123) { IBurst = false }],
            NtpListen = ["127.0.0.1:11123", "[::1]:11123"],
            Allow = ["10.0.0.0/8"],
            LocalStratum = 8,
            DataDir = "/var/lib/app \"time\"\\x",
            StatusInterval = TimeSpan.FromMilliseconds(500),
            Hysteresis = TimeSpan.FromSeconds(3),
        };
        var settings = TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(options.ToHocon()));
        Assert.Equal(MeshRole.Master, settings.Mesh!.Role);
        Assert.Equal(TimeSpan.FromMilliseconds(500), settings.Mesh.StatusInterval);
        Assert.Equal(3, settings.Mesh.Election.HysteresisSeconds);
        Assert.Equal(["127.0.0.1:11123", "[::1]:11123"], settings.Listen.Select(e => e.ToString()));
        Assert.Equal(8, settings.Local!.Stratum);
        Assert.Equal("/var/lib/app \"time\"\\x", settings.DataDir);
        Assert.Equal(2, settings.Upstream.Servers.Count);
        var first = settings.Upstream.Servers[0];
        Assert.Equal(("192.0.2.1", 123, true, 4, 6, true), (first.Address, first.Port, first.IBurst, first.MinPollLog2, first.MaxPollLog2, first.Prefer));
        Assert.Equal(("192.0.2.2", 11123, false), (settings.Upstream.Servers[1].Address, settings.Upstream.Servers[1].Port, settings.Upstream.Servers[1].IBurst));
        Assert.Contains(settings.Access.Allowed, s => s.ToString() == "10.0.0.0/8");
    }

    [Fact]
    public void UnsetOptionsTakeTheReferenceDefaults()
    {
        var settings = TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(new TimeMeshOptions().ToHocon()));
        Assert.Equal(MeshRole.Member, settings.Mesh!.Role);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.Mesh.StatusInterval);
        Assert.Null(settings.Local);
        Assert.Empty(settings.Upstream.Servers);
        Assert.Equal(ClockMode.Virtual, settings.Upstream.Clock);
    }

    private static AkkaConfigurationBuilder Builder() => new(new ServiceCollection(), "app");

    [Fact]
    public void AMasterThatServesNoNtpIsRefusedAtConfiguration()
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Builder().WithTimeMesh(new TimeMeshOptions { Role = MeshRole.Master }));
        Assert.Equal("timemesh.listen", e.Key);
    }

    [Fact]
    public void SteeringTheSystemClockIsRefusedInAnApplication()
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Builder().WithTimeMesh(new TimeMeshOptions { ExtraHocon = "timemesh.clock = system" }));
        Assert.Equal("timemesh.clock", e.Key);
    }

    [Fact]
    public void ABadValueIsRefusedAtConfigurationNamingItsKey()
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Builder().WithTimeMesh(new TimeMeshOptions { LocalStratum = 20 }));
        Assert.Equal("timemesh.local.stratum", e.Key);
        Assert.Contains("20", e.Message);
    }

    [Fact]
    public void TheDefaultsAppendedAreTheTimemeshSectionOfReferenceConfOnly()
    {
        var defaults = TimeMeshHostingExtensions.TimeMeshDefaults;
        Assert.Equal(TimeMeshSettings.Reference.GetStringList("timemesh.listen"), defaults.GetStringList("timemesh.listen"));
        Assert.Equal("virtual", defaults.GetString("timemesh.clock"));
        Assert.Equal(TimeSpan.FromSeconds(10), defaults.GetTimeSpan("timemesh.mesh.hysteresis"));
        Assert.False(defaults.HasPath("akka"));
    }

    [Fact]
    public async Task WithoutAMeshTheAppGetsALocalServerAndAnUnsynchronisedClockAndKeepsItsOwnPersistenceDefaults()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddMeshClock();
        builder.Services.AddAkka("app", akka => akka
            .AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend)
            .WithTimeMesh(new TimeMeshOptions
            {
                Role = null,
                NtpListen = ["127.0.0.1:0"],
                Allow = ["127.0.0.1"],
                LocalStratum = 10,
                Persistence = new TimeMeshPersistenceOptions { ConnectionString = "Data Source=/nonexistent/never-opened.db" },
            }));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var registry = host.Services.GetRequiredService<ActorRegistry>();
            Assert.True(registry.TryGet<TimeMeshNtpServerKey>(out _));
            Assert.True(registry.TryGet<TimeMeshReferenceKey>(out _));
            Assert.False(registry.TryGet<TimeMeshSyncKey>(out _));
            Assert.False(registry.TryGet<TimeMeshMeshKey>(out _));
            var clock = host.Services.GetRequiredService<IMeshClock>();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (clock.Now().Stratum != 10 && DateTime.UtcNow < deadline) await Task.Delay(50);
            var now = clock.Now();
            Assert.Equal(10, now.Stratum);
            Assert.False(now.Synchronised);
            Assert.Null(now.Leader);
            var config = host.Services.GetRequiredService<ActorSystem>().Settings.Config;
            // TimeMesh's plugins sit under their own ids and do not become the application's defaults.
            Assert.Equal("Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql", config.GetString("akka.persistence.journal.timemesh-sql.class"));
            Assert.NotEqual("akka.persistence.journal.timemesh-sql", config.GetString("akka.persistence.journal.plugin"));
            Assert.NotEqual("akka.persistence.snapshot-store.timemesh-sql", config.GetString("akka.persistence.snapshot-store.plugin"));
            Assert.Equal("127.0.0.1:0", config.GetStringList("timemesh.listen").Single());
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task WithoutAddMeshClockTheActorsStillStartOnAClockOfTheirOwn()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddAkka("app", akka => akka
            .AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend)
            .WithTimeMesh(new TimeMeshOptions { Role = null, LocalStratum = 9 }));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            Assert.Null(host.Services.GetService<IMeshClock>());
            var registry = host.Services.GetRequiredService<ActorRegistry>();
            var reference = await registry.Get<TimeMeshReferenceKey>().Ask<Core.Server.ReferenceState>(Node.Ntp.ReferenceProtocol.GetReference.Instance, TimeSpan.FromSeconds(3));
            Assert.Equal(9, reference.Stratum);
            Assert.False(registry.TryGet<TimeMeshNtpServerKey>(out _), "no NtpListen: no NTP server");
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
