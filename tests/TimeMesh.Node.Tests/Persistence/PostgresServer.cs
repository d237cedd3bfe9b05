using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace TimeMesh.Node.Tests.Persistence;

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "PostgreSQL";
}

/// <summary>
/// A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, started with pg_ctl on
/// a free loopback port (Unix socket in the same directory), run as the postgres user when the tests
/// run as root (initdb refuses root). Stopped and deleted when the tests are done. Debian's postgresql
/// package must be installed (tests/run-all.sh installs it); without it every test here fails.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private readonly string _root;
    private readonly string _data;
    private readonly string _log;
    private readonly bool _asPostgresUser;
    private int _databases;

    public string BinDir { get; }
    public int Port { get; }
    public bool Running { get; private set; }

    public PostgresServer()
    {
        BinDir = FindBinDir();
        _asPostgresUser = Environment.UserName == "root";
        _root = Directory.CreateTempSubdirectory("timemesh-pg-").FullName;
        _data = Path.Combine(_root, "data");
        _log = Path.Combine(_root, "postgres.log");
        try
        {
            if (_asPostgresUser) Run("chown", ["-R", "postgres:postgres", _root]);
            Run(Path.Combine(BinDir, "initdb"), ["-D", _data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"], asPostgres: true);
            Port = FreeLoopbackPort();
            Start();
        }
        catch
        {
            Cleanup();
            throw;
        }
    }

    private static string FindBinDir()
    {
        const string root = "/usr/lib/postgresql";
        var candidates = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Where(d => File.Exists(Path.Combine(d, "bin", "initdb")) && File.Exists(Path.Combine(d, "bin", "pg_ctl")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out int v) ? v : 0)
                .ToArray()
            : [];
        if (candidates.Length == 0)
            throw new InvalidOperationException(
                "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: install Debian's postgresql " +
                "(apt-get install -y postgresql; tests/run-all.sh does this) to run the persistence tests on PostgreSQL");
        return Path.Combine(candidates[0], "bin");
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the server (again) on the same port and waits until it accepts connections.</summary>
    public void Start()
    {
        Run(Path.Combine(BinDir, "pg_ctl"), ["-D", _data, "-l", _log, "-w", "-t", "30", "-o",
            $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start"], asPostgres: true);
        Running = true;
    }

    /// <summary>Stops the server (fast shutdown: sessions are ended) and waits until it is down.</summary>
    public void Stop()
    {
        Run(Path.Combine(BinDir, "pg_ctl"), ["-D", _data, "-m", "fast", "-w", "-t", "30", "stop"], asPostgres: true);
        Running = false;
    }

    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = "postgres",
        Timeout = 5,
    }.ToString();

    /// <summary>A new empty database; its connection string.</summary>
    public string CreateDatabase(string prefix)
    {
        string name = $"{prefix}_{Interlocked.Increment(ref _databases)}";
        // Unpooled: a pooled connection would be stale after a Stop/Start.
        using var connection = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"CREATE DATABASE \"{name}\"";
        command.ExecuteNonQuery();
        return ConnectionString(name);
    }

    private string Run(string file, IReadOnlyList<string> args, bool asPostgres = false)
    {
        var info = new ProcessStartInfo(asPostgres && _asPostgresUser ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _root,
        };
        if (asPostgres && _asPostgresUser)
        {
            foreach (string a in new[] { "-u", "postgres", "--", file }) info.ArgumentList.Add(a);
        }
        foreach (string a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 60 s");
        }
        string output = stdout.Result + stderr.Result;
        if (process.ExitCode != 0)
        {
            string log = File.Exists(_log) ? File.ReadAllText(_log) : "";
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}:\n{output}\n{log}");
        }
        return output;
    }

    private void Cleanup()
    {
        NpgsqlConnection.ClearAllPools();
        try { Directory.Delete(_root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public void Dispose()
    {
        try
        {
            if (Running) Run(Path.Combine(BinDir, "pg_ctl"), ["-D", _data, "-m", "immediate", "-w", "stop"], asPostgres: true);
        }
        catch (Exception)
        {
        }
        Cleanup();
    }
}
