using System.Diagnostics;
using Akka.Actor;
using Microsoft.Data.Sqlite;
using TimeMesh.Node.Persistence;
using TimeMesh.PersistenceProbe;
using Xunit.Abstractions;
using static TimeMesh.Node.Persistence.DriftProtocol;
using Record = TimeMesh.Node.Persistence.DriftProtocol.Record;

namespace TimeMesh.Node.Tests.Persistence;

public class SqliteDriftStoreTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Record_stop_recover_in_a_new_actor_system()
    {
        using var dir = new TempDir();
        var settings = PersistenceSettings.SqliteIn(Path.Combine(dir.Path, "data"));
        await DriftStoreRecoveryChecks.RecordStopRecover(settings, "a");
        Assert.Equal("wal", Scalar(settings, "PRAGMA journal_mode;"));
    }

    [Fact]
    public async Task Snapshots_every_k_writes_and_deletes_what_is_older()
    {
        using var dir = new TempDir();
        var settings = PersistenceSettings.SqliteIn(dir.Path) with { WriteInterval = TimeSpan.Zero, SnapshotEvery = 3 };
        var system = PersistenceSystems.Start(settings);
        try
        {
            var inbox = Inbox.Create(system);
            var store = system.ActorOf(DriftStore.Props(settings, "k", inbox.Ref), "drift");
            await inbox.Next<Recovered>(TimeSpan.FromSeconds(20));
            for (int i = 1; i <= 10; i++)
            {
                store.Tell(new Record(ProbeStates.For(i)));
                await store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(10));
            }
            // The deletions after snapshot 9 run behind the writes.
            var sw = Stopwatch.StartNew();
            while ((Count(settings, "snapshot") != 1 || Count(settings, "journal", "deleted = 0") > 2) && sw.Elapsed < TimeSpan.FromSeconds(10))
                await Task.Delay(50);
        }
        finally
        {
            await system.Terminate();
        }
        Assert.Equal(1L, Count(settings, "snapshot"));
        Assert.Equal(9L, Scalar(settings, "SELECT sequence_number FROM snapshot"));
        // Events 1–9 are gone (at most the highest is kept, marked deleted, to hold the sequence number).
        Assert.Equal(1L, Count(settings, "journal", "deleted = 0"));
        Assert.True(Count(settings, "journal") <= 2);
        Assert.Equal(ProbeStates.For(10), await PersistenceSystems.RecoverFresh(settings, "k"));
    }

    [Fact]
    public async Task Writes_at_most_once_per_interval_and_the_latest_wins()
    {
        using var dir = new TempDir();
        var settings = PersistenceSettings.SqliteIn(dir.Path) with { WriteInterval = TimeSpan.FromSeconds(1) };
        settings.PrepareStorage();
        var system = PersistenceSystems.Start(settings);
        try
        {
            var listener = Inbox.Create(system);
            var actor = system.ActorOf(DriftStateActor.Props(settings, PersistenceSettings.PersistenceIdFor("rate"), listener.Ref), "state");
            Assert.Null((await listener.Next<Recovered>(TimeSpan.FromSeconds(20))).State);

            var sw = Stopwatch.StartNew();
            actor.Tell(new Record(ProbeStates.For(1)));
            Assert.Equal(new Persisted(ProbeStates.For(1), 1), await listener.Next<Persisted>(TimeSpan.FromSeconds(5)));
            actor.Tell(new Record(ProbeStates.For(2)));
            actor.Tell(new Record(ProbeStates.For(3)));
            Assert.Equal(ProbeStates.For(3), (await actor.Ask<Current>(Get.Instance, TimeSpan.FromSeconds(3))).State);
            // No second write before the interval: judged from the clock, not from a fixed quiet window,
            // so a slow first write on a loaded machine cannot make the deferred one look early.
            var second = await listener.Next<Persisted>(TimeSpan.FromSeconds(5));
            var elapsed = sw.Elapsed;
            Assert.Equal(new Persisted(ProbeStates.For(3), 2), second); // 2 was folded into 3
            Assert.InRange(elapsed, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(5));
            output.WriteLine($"second write {elapsed.TotalMilliseconds:0} ms after the first record");

            // Recording the stored state again writes nothing; Flush writes at once, whatever the interval.
            actor.Tell(new Record(ProbeStates.For(3)));
            await listener.None<Persisted>(TimeSpan.FromMilliseconds(1200));
            actor.Tell(new Record(ProbeStates.For(4)));
            Assert.Equal(ProbeStates.For(4), (await actor.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(3))).State);
            Assert.Equal(new Persisted(ProbeStates.For(4), 3), await listener.Next<Persisted>(TimeSpan.FromSeconds(5)));
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public async Task Sigkill_during_writes_then_recover()
    {
        using var dir = new TempDir();
        var settings = PersistenceSettings.SqliteIn(Path.Combine(dir.Path, "data"));
        var (reported, recovered) = await DriftStoreRecoveryChecks.KillDuringWritesThenRecover(settings, "killed", () =>
        {
            Assert.Equal("ok", Scalar(settings, "PRAGMA integrity_check;"));
            Assert.Equal("wal", Scalar(settings, "PRAGMA journal_mode;"));
        });
        output.WriteLine($"probe reported {reported} stored before SIGKILL; recovered state {recovered}");
    }

    [Fact]
    public async Task A_database_that_cannot_be_opened_leaves_get_and_record_working()
    {
        // The data directory is a file: SQLite can neither create the directory nor open the database.
        using var dir = new TempDir();
        string blocker = Path.Combine(dir.Path, "data");
        File.WriteAllText(blocker, "not a directory");
        var settings = PersistenceSettings.SqliteIn(blocker) with
        {
            WriteInterval = TimeSpan.Zero,
            BackoffMin = TimeSpan.FromMilliseconds(100),
            BackoffMax = TimeSpan.FromMilliseconds(500),
        };
        var system = PersistenceSystems.Start(settings);
        try
        {
            var inbox = Inbox.Create(system);
            var store = system.ActorOf(DriftStore.Props(settings, "broken", inbox.Ref, recoveryNoticeTimeout: TimeSpan.FromSeconds(1)), "drift");
            // The plugins wait for their tables (retrying), so recovery neither ends nor fails: the
            // notice comes after its timeout, without a state, and the store answers from memory.
            var recovered = await inbox.Next<Recovered>(TimeSpan.FromSeconds(5));
            Assert.Null(recovered.State);
            Assert.NotNull(recovered.Error);
            output.WriteLine("notice: " + recovered.Error);
            for (int i = 1; i <= 7; i++)
            {
                store.Tell(new Record(ProbeStates.For(i)));
                Assert.Equal(ProbeStates.For(i), (await store.Ask<Current>(Get.Instance, TimeSpan.FromSeconds(1))).State);
            }
            var flush = Stopwatch.StartNew();
            await Assert.ThrowsAnyAsync<Exception>(() => store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(3)));
            Assert.True(flush.Elapsed < TimeSpan.FromSeconds(1), "Flush should fail at once while the store is unavailable");
            var status = await store.Ask<DriftStatus>(GetStatus.Instance, TimeSpan.FromSeconds(1));
            Assert.False(status.Available);
            Assert.Null(status.Persisted);
            Assert.Equal(ProbeStates.For(7), status.Latest);
            // timemesh_persistence_errors_total: every failure counts, and the count is never reset.
            long errors = status.ErrorsTotal;
            Assert.True(errors >= 1, $"errors counted: {errors}");

            // The directory appears: the next retry recovers and writes the state kept in memory.
            File.Delete(blocker);
            Directory.CreateDirectory(blocker);
            var written = await PersistenceSystems.StatusUntil(store, s => s.Persisted == ProbeStates.For(7), TimeSpan.FromSeconds(10), "the kept state written");
            Assert.True(written.ErrorsTotal >= errors);
        }
        finally
        {
            await system.Terminate();
        }
        Assert.Equal(ProbeStates.For(7), await PersistenceSystems.RecoverFresh(settings, "broken"));
        Assert.Equal("wal", Scalar(settings, "PRAGMA journal_mode;"));
    }

    [Fact]
    public async Task A_rejected_write_does_not_stop_the_store()
    {
        using var dir = new TempDir();
        var settings = PersistenceSettings.SqliteIn(dir.Path) with { WriteInterval = TimeSpan.Zero };
        var system = PersistenceSystems.Start(settings);
        try
        {
            var inbox = Inbox.Create(system);
            var store = system.ActorOf(DriftStore.Props(settings, "rejected", inbox.Ref), "drift");
            await inbox.Next<Recovered>(TimeSpan.FromSeconds(20));
            // Stratum 17 cannot be serialized: the journal rejects that event, the actor goes on.
            store.Tell(new Record(ProbeStates.For(1) with { Stratum = 17 }));
            // Nothing is pending after it: Flush answers with the last state written (none).
            Assert.Null((await store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(5))).State);
            var status = await store.Ask<DriftStatus>(GetStatus.Instance, TimeSpan.FromSeconds(1));
            Assert.True(status.Available);
            Assert.Null(status.Persisted);
            Assert.StartsWith("rejected: ", status.LastError);
            Assert.Equal(1, status.ErrorsTotal);
            store.Tell(new Record(ProbeStates.For(2)));
            Assert.Equal(ProbeStates.For(2), (await store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(5))).State);
        }
        finally
        {
            await system.Terminate();
        }
        Assert.Equal(ProbeStates.For(2), await PersistenceSystems.RecoverFresh(settings, "rejected"));
    }

    private static object? Scalar(PersistenceSettings settings, string sql)
    {
        using var connection = new SqliteConnection(settings.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static long Count(PersistenceSettings settings, string table, string where = "1 = 1") =>
        (long)Scalar(settings, $"SELECT COUNT(*) FROM {table} WHERE {where}")!;
}
