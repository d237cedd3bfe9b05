using System.Diagnostics;
using Akka.Actor;
using TimeMesh.Node.Persistence;
using TimeMesh.PersistenceProbe;
using static TimeMesh.Node.Persistence.DriftProtocol;
using Record = TimeMesh.Node.Persistence.DriftProtocol.Record;

namespace TimeMesh.Node.Tests.Persistence;

/// <summary>The checks run the same way on SQLite and on PostgreSQL.</summary>
internal static class DriftStoreRecoveryChecks
{
    /// <summary>Record → stop the actor system → a new actor system on the same database recovers the same state.</summary>
    public static async Task RecordStopRecover(PersistenceSettings settings, string node)
    {
        settings = settings with { WriteInterval = TimeSpan.Zero, SnapshotEvery = 4 };
        var system = PersistenceSystems.Start(settings);
        DriftState last;
        try
        {
            var inbox = Inbox.Create(system);
            var store = system.ActorOf(DriftStore.Props(settings, node, inbox.Ref), "drift");
            Assert.Null((await inbox.Next<Recovered>(TimeSpan.FromSeconds(20))).State);
            // 10 writes with a snapshot every 4: recovery reads snapshot 8 and events 9 and 10.
            for (int i = 1; i <= 10; i++)
            {
                store.Tell(new Record(ProbeStates.For(i)));
                Assert.Equal(ProbeStates.For(i), (await store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(10))).State);
            }
            last = ProbeStates.For(10);
            Assert.Equal(last, (await store.Ask<Current>(Get.Instance, TimeSpan.FromSeconds(3))).State);
        }
        finally
        {
            await system.Terminate();
        }
        Assert.Equal(last, await PersistenceSystems.RecoverFresh(settings, node));
        // Another node's id in the same database has nothing.
        Assert.Null(await PersistenceSystems.RecoverFresh(settings, node + "-other"));
    }

    /// <summary>
    /// SIGKILL the probe while it writes, then recover in this process: the state found is one the probe
    /// wrote (not corrupt), no older than the last one it reported stored; writing goes on after it.
    /// </summary>
    public static async Task<(int Reported, int Recovered)> KillDuringWritesThenRecover(PersistenceSettings settings, string node,
        Action? checkDatabase = null)
    {
        settings = settings with { WriteInterval = TimeSpan.Zero, SnapshotEvery = 5 };
        int reported;
        using (var probe = ProbeProcess.Start(settings, node, settings.SnapshotEvery))
        {
            // Past several snapshots and deletions, then kill at a random moment of the write loop.
            await probe.WaitPersisted(23 + Random.Shared.Next(20), TimeSpan.FromSeconds(30));
            probe.KillHard();
            reported = probe.LastPersisted;
        }
        checkDatabase?.Invoke();
        var recovered = await PersistenceSystems.RecoverFresh(settings, node);
        Assert.NotNull(recovered);
        int? index = ProbeStates.IndexOf(recovered);
        Assert.True(index is not null, $"recovered a state the probe never wrote: {recovered}");
        // Flush is answered after the write, so what was reported is stored; at most the one in flight is newer.
        Assert.InRange(index.Value, reported, reported + 1);

        // The journal goes on from there after the kill.
        var system = PersistenceSystems.Start(settings);
        try
        {
            var inbox = Inbox.Create(system);
            var store = system.ActorOf(DriftStore.Props(settings, node, inbox.Ref), "drift");
            Assert.Equal(recovered, (await inbox.Next<Recovered>(TimeSpan.FromSeconds(20))).State);
            store.Tell(new Record(ProbeStates.For(index.Value + 1)));
            await store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(10));
        }
        finally
        {
            await system.Terminate();
        }
        Assert.Equal(ProbeStates.For(index.Value + 1), await PersistenceSystems.RecoverFresh(settings, node));
        return (reported, index.Value);
    }
}
