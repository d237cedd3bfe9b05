using System.Diagnostics;
using Akka.Actor;
using TimeMesh.Node.Persistence;
using TimeMesh.PersistenceProbe;
using Xunit.Abstractions;
using static TimeMesh.Node.Persistence.DriftProtocol;
using Record = TimeMesh.Node.Persistence.DriftProtocol.Record;

namespace TimeMesh.Node.Tests.Persistence;

[Collection(PostgresCollection.Name)]
public class PostgresDriftStoreTests(PostgresServer server, ITestOutputHelper output)
{
    private PersistenceSettings Settings(string prefix)
    {
        if (!server.Running) server.Start(); // a test that failed while the server was stopped
        return new PersistenceSettings { Provider = PersistenceProvider.PostgreSql, ConnectionString = server.CreateDatabase(prefix) };
    }

    [Fact]
    public async Task Record_stop_recover_in_a_new_actor_system()
    {
        await DriftStoreRecoveryChecks.RecordStopRecover(Settings("recover"), "a");
    }

    [Fact]
    public async Task Sigkill_during_writes_then_recover()
    {
        var (reported, recovered) = await DriftStoreRecoveryChecks.KillDuringWritesThenRecover(Settings("killed"), "killed");
        output.WriteLine($"probe reported {reported} stored before SIGKILL; recovered state {recovered}");
    }

    [Fact]
    public async Task Database_down_the_store_keeps_answering_and_persistence_resumes()
    {
        var settings = Settings("outage") with
        {
            WriteInterval = TimeSpan.Zero,
            SnapshotEvery = 3,
            BackoffMin = TimeSpan.FromMilliseconds(200),
            BackoffMax = TimeSpan.FromSeconds(1),
        };
        var system = PersistenceSystems.Start(settings);
        try
        {
            var inbox = Inbox.Create(system);
            var store = system.ActorOf(DriftStore.Props(settings, "outage", inbox.Ref), "drift");
            Assert.Null((await inbox.Next<Recovered>(TimeSpan.FromSeconds(20))).State);
            store.Tell(new Record(ProbeStates.For(1)));
            Assert.Equal(ProbeStates.For(1), (await store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(10))).State);

            server.Stop();
            var down = Stopwatch.StartNew();
            // Records and Gets go on; the writes fail and the persistent actor is restarted with back-off.
            store.Tell(new Record(ProbeStates.For(2)));
            Assert.Equal(ProbeStates.For(2), (await store.Ask<Current>(Get.Instance, TimeSpan.FromSeconds(1))).State);
            var failed = await PersistenceSystems.StatusUntil(store, s => !s.Available && s.Failures >= 1, TimeSpan.FromSeconds(15), "the failed write");
            output.WriteLine($"write failure seen after {down.ElapsedMilliseconds} ms: {failed.LastError}");
            var slowest = TimeSpan.Zero;
            for (int i = 3; i <= 12; i++)
            {
                store.Tell(new Record(ProbeStates.For(i)));
                var ask = Stopwatch.StartNew();
                Assert.Equal(ProbeStates.For(i), (await store.Ask<Current>(Get.Instance, TimeSpan.FromSeconds(1))).State);
                if (ask.Elapsed > slowest) slowest = ask.Elapsed;
                await Task.Delay(150);
            }
            var status = await store.Ask<DriftStatus>(GetStatus.Instance, TimeSpan.FromSeconds(1));
            Assert.Equal(ProbeStates.For(12), status.Latest);
            Assert.Equal(ProbeStates.For(1), status.Persisted);
            output.WriteLine($"down {down.ElapsedMilliseconds} ms: {status.Failures} failures, slowest Get {slowest.TotalMilliseconds:0.0} ms");

            server.Start();
            var up = Stopwatch.StartNew();
            // Without a new Record: after the next recovery the state kept in memory is written.
            await PersistenceSystems.StatusUntil(store, s => s.Available && s.Persisted == ProbeStates.For(12), TimeSpan.FromSeconds(20), "the kept state written");
            output.WriteLine($"kept state written {up.ElapsedMilliseconds} ms after the restart");
            store.Tell(new Record(ProbeStates.For(13)));
            Assert.Equal(ProbeStates.For(13), (await PersistenceSystems.AskUntil<Flushed>(store, Flush.Instance, TimeSpan.FromSeconds(10))).State);
        }
        finally
        {
            if (!server.Running) server.Start();
            await system.Terminate();
        }
        Assert.Equal(ProbeStates.For(13), await PersistenceSystems.RecoverFresh(settings, "outage"));
    }
}
