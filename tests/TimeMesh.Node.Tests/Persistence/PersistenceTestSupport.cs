using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Microsoft.Data.Sqlite;
using TimeMesh.Node.Persistence;
using static TimeMesh.Node.Persistence.DriftProtocol;

namespace TimeMesh.Node.Tests.Persistence;

/// <summary>An actor system with the persistence HOCON in front, as the node will run it.</summary>
internal static class PersistenceSystems
{
    public static ActorSystem Start(PersistenceSettings settings, string name = "persistence-test") =>
        ActorSystem.Create(name, settings.ToAkkaConfig().WithFallback(ConfigurationFactory.ParseString("""
            akka.loglevel = WARNING
            akka.stdout-loglevel = WARNING
            akka.log-dead-letters = off
            akka.log-dead-letters-during-shutdown = off
            """)));

    /// <summary>Starts a fresh actor system, a <see cref="DriftStore"/> for the node, waits for its recovery and shuts down.</summary>
    public static async Task<DriftState?> RecoverFresh(PersistenceSettings settings, string node)
    {
        var system = Start(settings, "recover");
        try
        {
            var inbox = Inbox.Create(system);
            // The node gives up waiting after 10 s and starts without the stored state; these checks are about what is
            // read, not how fast, and a fresh system's first SQL recovery took over 10 s once at load 30: 30 s here.
            system.ActorOf(DriftStore.Props(settings, node, inbox.Ref, TimeSpan.FromSeconds(30)), "drift");
            var recovered = await inbox.Next<Recovered>(TimeSpan.FromSeconds(40));
            Assert.True(recovered.Error is null, "recovery failed: " + recovered.Error);
            return recovered.State;
        }
        finally
        {
            await system.Terminate();
        }
    }

    /// <summary>Asks until the answer is <typeparamref name="T"/> (a <see cref="Status.Failure"/> is retried) or the deadline passes.</summary>
    public static async Task<T> AskUntil<T>(IActorRef actor, object message, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < within)
        {
            try
            {
                return await actor.Ask<T>(message, TimeSpan.FromSeconds(2));
            }
            catch (Exception e) when (e is AskTimeoutException or InvalidOperationException or TaskCanceledException)
            {
                last = e;
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"no {typeof(T).Name} within {within}: {last?.Message}");
    }

    /// <summary>Polls <see cref="DriftStore"/>'s status until the condition holds.</summary>
    public static async Task<DriftStatus> StatusUntil(IActorRef store, Func<DriftStatus, bool> condition, TimeSpan within, string what)
    {
        var sw = Stopwatch.StartNew();
        DriftStatus status;
        do
        {
            status = await store.Ask<DriftStatus>(GetStatus.Instance, TimeSpan.FromSeconds(1));
            if (condition(status)) return status;
            await Task.Delay(50);
        }
        while (sw.Elapsed < within);
        throw new TimeoutException($"{what} not seen within {within}; last status {status}");
    }
}

/// <summary>An actor that queues every message it gets for the test to read.</summary>
internal sealed class Inbox
{
    private readonly Channel<object> _channel;

    public IActorRef Ref { get; }

    private Inbox(Channel<object> channel, IActorRef actor)
    {
        _channel = channel;
        Ref = actor;
    }

    public static Inbox Create(ActorSystem system)
    {
        var channel = Channel.CreateUnbounded<object>();
        return new Inbox(channel, system.ActorOf(Props.Create(() => new Collector(channel.Writer))));
    }

    /// <summary>The next message of type <typeparamref name="T"/>, skipping others.</summary>
    public async Task<T> Next<T>(TimeSpan timeout, Func<T, bool>? match = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                object m = await _channel.Reader.ReadAsync(cts.Token);
                if (m is T t && (match is null || match(t))) return t;
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no {typeof(T).Name} within {timeout}");
        }
    }

    /// <summary>Fails when a message of type <typeparamref name="T"/> arrives within the time.</summary>
    public async Task None<T>(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        try
        {
            while (true)
            {
                object m = await _channel.Reader.ReadAsync(cts.Token);
                if (m is T) Assert.Fail($"unexpected {m}");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed class Collector : ReceiveActor
    {
        public Collector(ChannelWriter<object> writer) => ReceiveAny(m => writer.TryWrite(m));
    }
}

/// <summary>A temporary directory, deleted (with SQLite's pooled connections cleared) when disposed.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("timemesh-persist-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// tests/TimeMesh.PersistenceProbe as a child process: writes drift states one at a time and prints
/// "persisted N" for each state that is in the database.
/// </summary>
internal sealed class ProbeProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly object _lock = new();
    private int _lastPersisted;

    public int LastPersisted { get { lock (_lock) return _lastPersisted; } }
    public string Output { get { lock (_lock) return _output.ToString(); } }

    private ProbeProcess(Process process) => _process = process;

    public static ProbeProcess Start(PersistenceSettings settings, string node, int snapshotEvery)
    {
        string dll = System.IO.Path.Combine(AppContext.BaseDirectory, "timemesh-persistence-probe.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException("the persistence probe is not next to the tests; the project reference to tests/TimeMesh.PersistenceProbe is missing", dll);
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                dll,
                settings.Provider == PersistenceProvider.PostgreSql ? "postgresql" : "sqlite",
                settings.ConnectionString,
                node,
                snapshotEvery.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = info };
        var probe = new ProbeProcess(process);
        process.OutputDataReceived += (_, e) => probe.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => probe.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return probe;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_lock)
        {
            _output.AppendLine(line);
            if (line.StartsWith("persisted ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(10), out int n))
                _lastPersisted = Math.Max(_lastPersisted, n);
        }
    }

    public async Task WaitPersisted(int atLeast, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (LastPersisted < atLeast)
        {
            if (_process.HasExited) throw new InvalidOperationException("the probe exited:\n" + Output);
            if (sw.Elapsed > timeout) throw new TimeoutException($"the probe persisted {LastPersisted} of {atLeast} in {timeout}:\n" + Output);
            await Task.Delay(20);
        }
    }

    /// <summary>SIGKILL (Process.Kill on Linux), then reads the rest of its output.</summary>
    public void KillHard()
    {
        _process.Kill();
        _process.WaitForExit(); // also drains the redirected output
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
