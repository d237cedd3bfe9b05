using Akka.Configuration;
using TimeMesh.Node.Config;
using TimeMesh.Node.Persistence;

namespace TimeMesh.Node.Tests.Persistence;

public class PersistenceSettingsTests
{
    private static PersistenceSettings Parse(string hocon) => PersistenceSettings.FromConfig(ConfigurationFactory.ParseString(hocon));

    private static TimeMeshConfigException Bad(string hocon) => Assert.Throws<TimeMeshConfigException>(() => Parse(hocon));

    [Fact]
    public void Defaults_are_sqlite_in_the_data_dir_every_60s_snapshot_every_10()
    {
        var s = Parse("");
        Assert.Equal(PersistenceProvider.Sqlite, s.Provider);
        Assert.Equal("Data Source=" + Path.Combine("data", "timemesh.db"), s.ConnectionString);
        Assert.Equal(TimeSpan.FromSeconds(60), s.WriteInterval);
        Assert.Equal(10, s.SnapshotEvery);
        Assert.Equal(TimeSpan.FromSeconds(1), s.BackoffMin);
        Assert.Equal(TimeSpan.FromSeconds(60), s.BackoffMax);
        Assert.Equal("SQLite.MS", s.ProviderName);
        Assert.Equal(s, PersistenceSettings.SqliteIn("data"));
    }

    [Fact]
    public void The_sqlite_file_follows_the_data_dir()
    {
        var s = Parse("timemesh.data-dir = \"/var/lib/timemesh\"");
        Assert.Equal("Data Source=/var/lib/timemesh/timemesh.db", s.ConnectionString);
    }

    [Fact]
    public void Reads_postgresql_and_the_other_keys()
    {
        var s = Parse("""
            timemesh.persistence {
              provider = postgresql
              connection-string = "Host=127.0.0.1;Port=5432;Database=timemesh;Username=tm;Password=secret"
              write-interval = 5s
              snapshot-every = 3
              backoff-min = 200ms
              backoff-max = 10s
            }
            """);
        Assert.Equal(PersistenceProvider.PostgreSql, s.Provider);
        Assert.Equal("PostgreSQL.15", s.ProviderName);
        Assert.Equal("Host=127.0.0.1;Port=5432;Database=timemesh;Username=tm;Password=secret", s.ConnectionString);
        Assert.Equal(TimeSpan.FromSeconds(5), s.WriteInterval);
        Assert.Equal(3, s.SnapshotEvery);
        Assert.Equal(TimeSpan.FromMilliseconds(200), s.BackoffMin);
        Assert.Equal(TimeSpan.FromSeconds(10), s.BackoffMax);
    }

    [Fact]
    public void Bad_values_name_key_value_and_what_is_allowed()
    {
        Assert.Equal("invalid configuration: timemesh.persistence.provider = mysql; allowed: sqlite or postgresql",
            Bad("timemesh.persistence.provider = mysql").Message);
        var missing = Bad("timemesh.persistence.provider = postgresql");
        Assert.Equal("timemesh.persistence.connection-string", missing.Key);
        Assert.Contains("required with provider = postgresql", missing.Message);
        Assert.Equal("timemesh.persistence.write-interval", Bad("timemesh.persistence.write-interval = soon").Key);
        Assert.Equal("timemesh.persistence.write-interval", Bad("timemesh.persistence.write-interval = 2d").Key);
        var zero = Bad("timemesh.persistence.snapshot-every = 0");
        Assert.Equal("invalid configuration: timemesh.persistence.snapshot-every = 0; allowed: a whole number from 1 to 1000000", zero.Message);
        Assert.Equal("timemesh.persistence.backoff-max", Bad("timemesh.persistence { backoff-min = 5s, backoff-max = 1s }").Key);
        Assert.Equal("timemesh.persistence.connection-string", Bad("timemesh.persistence.connection-string { a = 1 }").Key);
    }

    [Fact]
    public void A_bad_connection_string_is_refused_with_the_password_masked()
    {
        var e = Bad("""
            timemesh.persistence { provider = postgresql, connection-string = "Port=5432;Password=hunter2;Nonsense=1" }
            """);
        Assert.Equal("timemesh.persistence.connection-string", e.Key);
        Assert.DoesNotContain("hunter2", e.Message);
        Assert.Contains("Password=***", e.Message);
        var sqlite = Bad("timemesh.persistence.connection-string = \"Cache=Shared\"");
        Assert.Contains("Data Source", sqlite.Message);
    }

    [Fact]
    public void Renders_hocon_for_journal_snapshot_store_and_serializer()
    {
        var s = new PersistenceSettings
        {
            Provider = PersistenceProvider.Sqlite,
            ConnectionString = "Data Source=/tmp/a \"quoted\" \\ dir/timemesh.db",
        };
        var config = s.ToAkkaConfig();
        Assert.Equal(PersistenceSettings.JournalPluginId, config.GetString("akka.persistence.journal.plugin"));
        Assert.Equal(PersistenceSettings.SnapshotPluginId, config.GetString("akka.persistence.snapshot-store.plugin"));
        foreach (string plugin in new[] { PersistenceSettings.JournalPluginId, PersistenceSettings.SnapshotPluginId })
        {
            Assert.Equal(s.ConnectionString, config.GetString(plugin + ".connection-string"));
            Assert.Equal("SQLite.MS", config.GetString(plugin + ".provider-name"));
            Assert.True(config.GetBoolean(plugin + ".auto-initialize"));
            Assert.StartsWith("Akka.Persistence.Sql.", config.GetString(plugin + ".class"));
        }
        Assert.Equal("TimeMesh.Node.Persistence.DriftStateSerializer, TimeMesh.Node", config.GetString("akka.actor.serializers.timemesh-drift"));
        Assert.Equal("timemesh-drift", config.GetConfig("akka.actor.serialization-bindings").AsEnumerable()
            .Single(kv => kv.Key.Contains("DriftState")).Value.GetString());
    }

    [Fact]
    public void Prepare_storage_creates_the_directory_and_turns_on_wal()
    {
        using var dir = new TempDir();
        string dataDir = Path.Combine(dir.Path, "nested", "data");
        var s = PersistenceSettings.SqliteIn(dataDir);
        s.PrepareStorage();
        Assert.True(File.Exists(Path.Combine(dataDir, "timemesh.db")));
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(s.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar());
    }

    [Fact]
    public void PostgreSqlComesFromItsOwnPackageAndAConfigThatAsksWithoutItNamesTheKeyAndThePackage()
    {
        // This test host carries TimeMesh.Persistence.PostgreSql (as the timemesh tool does): it is found by name and reads Npgsql's strings.
        Assert.Equal("db.example", PostgreSqlPart.HostOf("Host=db.example;Database=timemesh;Username=tm;Password=secret"));
        Assert.NotNull(PostgreSqlPart.Load(PostgreSqlPart.PackageId));
        Assert.DoesNotContain(typeof(PersistenceSettings).Assembly.GetReferencedAssemblies(), a => a.Name == "Npgsql");
        // An application without it: no assembly of that name, and the message a config asking for PostgreSQL gets.
        Assert.Null(PostgreSqlPart.Load("TimeMesh.Persistence.NotCarried"));
        var e = PostgreSqlPart.Missing("timemesh.persistence.provider", "postgresql", "TimeMesh.Persistence.NotCarried");
        Assert.Equal("timemesh.persistence.provider", e.Key);
        Assert.Contains("timemesh.persistence.provider = postgresql", e.Message);
        Assert.Contains("dotnet add package TimeMesh.Persistence.NotCarried", e.Message);
    }
}
