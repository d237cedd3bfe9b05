using Akka.Actor;
using Akka.Configuration;
using TimeMesh.Node.Persistence;
using TimeMesh.PersistenceProbe;
using static TimeMesh.Node.Persistence.DriftProtocol;

// Usage: timemesh-persistence-probe sqlite|postgresql CONNECTION-STRING NODE-NAME [SNAPSHOT-EVERY]
// Writes ProbeStates.For(1), For(2), ... through a DriftStore with no write interval, one at a time, and
// prints "persisted N" once state N is in the database (Flush answered), until it is killed.
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: timemesh-persistence-probe sqlite|postgresql CONNECTION-STRING NODE-NAME [SNAPSHOT-EVERY]");
    return 2;
}
var settings = new PersistenceSettings
{
    Provider = args[0] == "postgresql" ? PersistenceProvider.PostgreSql : PersistenceProvider.Sqlite,
    ConnectionString = args[1],
    WriteInterval = TimeSpan.Zero,
    SnapshotEvery = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 5,
    BackoffMin = TimeSpan.FromMilliseconds(100),
    BackoffMax = TimeSpan.FromSeconds(1),
};
var config = settings.ToAkkaConfig().WithFallback(ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
using var system = ActorSystem.Create("probe", config);
var recovered = new TaskCompletionSource<Recovered>();
var notice = system.ActorOf(Props.Create(() => new Notice(recovered)));
var store = system.ActorOf(DriftStore.Props(settings, args[2], notice), "drift");
var start = await recovered.Task.WaitAsync(TimeSpan.FromSeconds(30));
int first = start.State is { } s && ProbeStates.IndexOf(s) is { } n ? n + 1 : 1;
Console.WriteLine($"ready {first}");
for (int i = first; ; i++)
{
    store.Tell(new Record(ProbeStates.For(i)));
    await store.Ask<Flushed>(Flush.Instance, TimeSpan.FromSeconds(30));
    Console.WriteLine($"persisted {i}");
}

internal sealed class Notice : ReceiveActor
{
    public Notice(TaskCompletionSource<Recovered> done) => Receive<Recovered>(r => done.TrySetResult(r));
}
