using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Microsoft.Data.Sqlite;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Persistence;

/// <summary>Where the drift state is kept.</summary>
public enum PersistenceProvider
{
    /// <summary>Embedded SQLite in a file (WAL mode); the default, in <c>timemesh.data-dir</c>.</summary>
    Sqlite,
    /// <summary>A PostgreSQL server reached through a connection string.</summary>
    PostgreSql,
}

/// <summary>
/// <c>timemesh.persistence { provider, connection-string, write-interval, snapshot-every, backoff-min, backoff-max }</c>:
/// where and how often the drift state is written, and the Akka.Persistence.Sql configuration that follows
/// from it (<see cref="ToAkkaHocon"/>, to be put in front of the node's config).
/// </summary>
public sealed partial record PersistenceSettings
{
    /// <summary>The journal plugin the rendered HOCON configures (and makes the default).</summary>
    public const string JournalPluginId = "akka.persistence.journal.sql";
    /// <summary>The snapshot store plugin the rendered HOCON configures (and makes the default).</summary>
    public const string SnapshotPluginId = "akka.persistence.snapshot-store.sql";
    /// <summary>The file name of the SQLite database inside the data directory.</summary>
    public const string SqliteFileName = "timemesh.db";

    public required PersistenceProvider Provider { get; init; }
    /// <summary>An ADO.NET connection string: Microsoft.Data.Sqlite's or Npgsql's.</summary>
    public required string ConnectionString { get; init; }
    /// <summary>At most one write per this interval; records in between are folded into one (latest wins).</summary>
    public TimeSpan WriteInterval { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>A snapshot after every this many writes; older events and snapshots are then deleted.</summary>
    public int SnapshotEvery { get; init; } = 10;
    /// <summary>First delay before the persistent actor is started again after a database failure.</summary>
    public TimeSpan BackoffMin { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Longest delay between restarts of the persistent actor while the database stays unavailable.</summary>
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The config path of the journal the drift state is written to.</summary>
    public string JournalPath { get; init; } = JournalPluginId;
    /// <summary>The config path of the snapshot store the drift state is written to.</summary>
    public string SnapshotPath { get; init; } = SnapshotPluginId;
    /// <summary>Whether the rendered plugins become the actor system's default journal and snapshot store.</summary>
    public bool DefaultPlugins { get; init; } = true;

    /// <summary>
    /// For an application's actor system: plugins of TimeMesh's own under <c>akka.persistence.journal.timemesh-sql</c>
    /// and <c>akka.persistence.snapshot-store.timemesh-sql</c>, leaving the application's default plugins alone.
    /// </summary>
    public PersistenceSettings Embedded() => this with
    {
        JournalPath = "akka.persistence.journal.timemesh-sql",
        SnapshotPath = "akka.persistence.snapshot-store.timemesh-sql",
        DefaultPlugins = false,
    };

    /// <summary>linq2db's provider name for Akka.Persistence.Sql.</summary>
    public string ProviderName => Provider switch
    {
        PersistenceProvider.Sqlite => "SQLite.MS",
        PersistenceProvider.PostgreSql => "PostgreSQL.15",
        _ => throw new InvalidOperationException($"unknown provider {Provider}"),
    };

    /// <summary>The persistence id of a node's drift state.</summary>
    public static string PersistenceIdFor(string nodeName) => "timemesh-drift-" + nodeName;

    /// <summary>The default SQLite connection string: <c>Data Source=&lt;data-dir&gt;/timemesh.db</c>.</summary>
    public static string DefaultSqliteConnectionString(string dataDir) =>
        new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDir, SqliteFileName) }.ToString();

    /// <summary>SQLite in the given data directory with the defaults of reference.conf.</summary>
    public static PersistenceSettings SqliteIn(string dataDir) =>
        new() { Provider = PersistenceProvider.Sqlite, ConnectionString = DefaultSqliteConnectionString(dataDir) };

    private const string Prefix = "timemesh.persistence.";

    /// <summary>
    /// Reads <c>timemesh.persistence.*</c> (and <c>timemesh.data-dir</c> for the default SQLite file) with
    /// the embedded reference config as fallback. A bad value is a <see cref="TimeMeshConfigException"/>
    /// naming the key, the value (passwords masked) and what is allowed.
    /// </summary>
    public static PersistenceSettings FromConfig(Akka.Configuration.Config config)
    {
        var r = new ConfigReader(TimeMeshSettings.WithReference(config));
        const string providers = "allowed: sqlite or postgresql";
        string providerRaw = r.String(Prefix + "provider", providers);
        var provider = providerRaw.Trim().ToLowerInvariant() switch
        {
            "sqlite" => PersistenceProvider.Sqlite,
            "postgresql" => PersistenceProvider.PostgreSql,
            _ => throw new TimeMeshConfigException(Prefix + "provider", providerRaw, providers),
        };
        if (provider == PersistenceProvider.PostgreSql) PostgreSqlPart.Require(Prefix + "provider", providerRaw);

        string? connection = r.RawString(Prefix + "connection-string");
        if (r.IsObject(Prefix + "connection-string"))
            throw new TimeMeshConfigException(Prefix + "connection-string", "{...}", "allowed: a connection string");
        if (string.IsNullOrWhiteSpace(connection))
        {
            if (provider == PersistenceProvider.PostgreSql)
                throw new TimeMeshConfigException(Prefix + "connection-string", connection,
                    "required with provider = postgresql: \"Host=...;Port=5432;Database=timemesh;Username=...;Password=...\"");
            connection = DefaultSqliteConnectionString(r.String("timemesh.data-dir", "allowed: a directory path"));
        }
        else
        {
            connection = ValidateConnectionString(provider, connection);
        }

        var writeInterval = r.Has(Prefix + "write-interval")
            ? r.Duration(Prefix + "write-interval", TimeSpan.Zero, TimeSpan.FromDays(1))
            : TimeSpan.FromSeconds(60);
        int snapshotEvery = (int)r.Integer(Prefix + "snapshot-every", 1, 1_000_000, 10);
        var backoffMin = r.Has(Prefix + "backoff-min")
            ? r.Duration(Prefix + "backoff-min", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10))
            : TimeSpan.FromSeconds(1);
        var backoffMax = r.Has(Prefix + "backoff-max")
            ? r.Duration(Prefix + "backoff-max", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1))
            : TimeSpan.FromSeconds(60);
        if (backoffMax < backoffMin)
            throw new TimeMeshConfigException(Prefix + "backoff-max", r.RawString(Prefix + "backoff-max"),
                $"allowed: a duration no shorter than backoff-min ({r.RawString(Prefix + "backoff-min") ?? "1s"})");

        return new PersistenceSettings
        {
            Provider = provider,
            ConnectionString = connection,
            WriteInterval = writeInterval,
            SnapshotEvery = snapshotEvery,
            BackoffMin = backoffMin,
            BackoffMax = backoffMax,
        };
    }

    private static string ValidateConnectionString(PersistenceProvider provider, string connection)
    {
        const string key = Prefix + "connection-string";
        try
        {
            if (provider == PersistenceProvider.Sqlite)
            {
                var b = new SqliteConnectionStringBuilder(connection);
                if (string.IsNullOrWhiteSpace(b.DataSource))
                    throw new TimeMeshConfigException(key, Mask(connection), "allowed: a SQLite connection string with a file: \"Data Source=data/timemesh.db\"");
            }
            else
            {
                if (string.IsNullOrWhiteSpace(PostgreSqlPart.HostOf(connection)))
                    throw new TimeMeshConfigException(key, Mask(connection), "allowed: a PostgreSQL connection string with a host: \"Host=...;Port=5432;Database=timemesh;Username=...;Password=...\"");
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new TimeMeshConfigException(key, Mask(connection),
                $"allowed: a {(provider == PersistenceProvider.Sqlite ? "Microsoft.Data.Sqlite" : "Npgsql")} connection string ({e.Message})");
        }
        return connection;
    }

    [GeneratedRegex(@"(?i)(password|pwd)\s*=\s*(""[^""]*""|'[^']*'|[^;]*)")]
    private static partial Regex PasswordPattern();

    /// <summary>The connection string with any password replaced by ***, for messages and logs.</summary>
    public static string Mask(string connection) => PasswordPattern().Replace(connection, "$1=***");

    /// <summary>
    /// The Akka HOCON for this provider: the serializer binding of <see cref="DriftState"/>, the
    /// Akka.Persistence.Sql journal and snapshot store (with <c>auto-initialize = on</c>) at
    /// <see cref="JournalPath"/> and <see cref="SnapshotPath"/>, made the default plugins when
    /// <see cref="DefaultPlugins"/> (a standalone node; not <see cref="Embedded"/>). Put it in front of the node's config:
    /// <c>settings.ToAkkaConfig().WithFallback(nodeConfig)</c>.
    /// </summary>
    public string ToAkkaHocon()
    {
        string cs = HoconText.Quote(ConnectionString), provider = HoconText.Quote(ProviderName);
        // The plugins' circuit breakers open after 10 failures for reset-timeout; keep that no longer than
        // the longest back-off so that a database that came back is used at the next attempt.
        string reset = Milliseconds(Min(BackoffMax, TimeSpan.FromSeconds(30)));
        // A plugin that cannot create its tables at start logs an error with its stack and tries again after
        // this delay. Nodes that start together on an empty PostgreSQL race each other's CREATE TABLE IF NOT
        // EXISTS and all but one fail once (23505 on pg_type, seen in the docker check): the retry must come
        // soon enough for the node's first drift save; every 2 s is still little noise while a database is away.
        string initRetry = Milliseconds(Min(BackoffMax, TimeSpan.FromSeconds(2)));
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $$"""
            akka.actor {
              serializers {
                timemesh-drift = "{{typeof(DriftStateSerializer).FullName}}, {{typeof(DriftStateSerializer).Assembly.GetName().Name}}"
              }
              serialization-bindings {
                "{{typeof(DriftState).FullName}}, {{typeof(DriftState).Assembly.GetName().Name}}" = timemesh-drift
              }
            }
            {{(DefaultPlugins ? $"akka.persistence.journal.plugin = \"{JournalPath}\"\nakka.persistence.snapshot-store.plugin = \"{SnapshotPath}\"" : "")}}
            {{JournalPath}} {
              class = "Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql"
              connection-string = {{cs}}
              provider-name = {{provider}}
              auto-initialize = on
              initialization-retry-delay = {{initRetry}}
              circuit-breaker.reset-timeout = {{reset}}
            }
            {{SnapshotPath}} {
              class = "Akka.Persistence.Sql.Snapshot.SqlSnapshotStore, Akka.Persistence.Sql"
              connection-string = {{cs}}
              provider-name = {{provider}}
              auto-initialize = on
              initialization-retry-delay = {{initRetry}}
              circuit-breaker.reset-timeout = {{reset}}
            }

            """);
        return sb.ToString();
    }

    /// <summary><see cref="ToAkkaHocon"/> parsed.</summary>
    public Akka.Configuration.Config ToAkkaConfig() => ConfigurationFactory.ParseString(ToAkkaHocon());

    /// <summary>
    /// Makes the database ready before the plugins first touch it. SQLite: creates the file's directory
    /// and turns on WAL (<c>PRAGMA journal_mode=WAL</c>, kept in the file). PostgreSQL: nothing (the
    /// database must exist; the plugins create their tables). Throws when the database cannot be opened.
    /// </summary>
    public void PrepareStorage()
    {
        if (Provider != PersistenceProvider.Sqlite) return;
        var builder = new SqliteConnectionStringBuilder(ConnectionString);
        string source = builder.DataSource;
        bool inMemory = builder.Mode == SqliteOpenMode.Memory || source == ":memory:" || source.Length == 0;
        if (inMemory) return;
        string? dir = Path.GetDirectoryName(Path.GetFullPath(source));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        string? mode = command.ExecuteScalar() as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"SQLite {source}: could not turn on WAL (journal_mode is {mode ?? "unknown"})");
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static string Milliseconds(TimeSpan t) => Math.Max(1, (long)Math.Ceiling(t.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";
}
