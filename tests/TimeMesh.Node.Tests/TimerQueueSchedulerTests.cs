using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using TimeMesh.Node.Scheduling;

namespace TimeMesh.Node.Tests;

/// <summary>Akka's scheduler interface on .NET's timer queue: once, repeated, cancelled, and the timers of IWithTimers.</summary>
public class TimerQueueSchedulerTests : TestKit
{
    private static readonly Akka.Configuration.Config UseIt = ConfigurationFactory.ParseString(
        "akka.scheduler.implementation = \"TimeMesh.Node.Scheduling.TimerQueueScheduler, TimeMesh.Node\"");

    public TimerQueueSchedulerTests() : base(UseIt) { }

    private TimerQueueScheduler Scheduler => Assert.IsType<TimerQueueScheduler>(Sys.Scheduler);

    [Fact]
    public void TheNodesReferenceConfigChoosesIt()
    {
        var reference = TimeMesh.Node.Config.TimeMeshSettings.Reference;
        Assert.Equal(typeof(TimerQueueScheduler).FullName + ", TimeMesh.Node", reference.GetString("akka.scheduler.implementation"));
    }

    [Fact]
    public void ATellOnceArrivesAfterItsDelayAndOnlyOnce()
    {
        var watch = Stopwatch.StartNew();
        Sys.Scheduler.ScheduleTellOnce(TimeSpan.FromMilliseconds(150), TestActor, "once", ActorRefs.NoSender);
        ExpectMsg("once", TimeSpan.FromSeconds(5));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(140), $"arrived after {watch.Elapsed.TotalMilliseconds:0} ms");
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(0, Scheduler.PendingCount);
    }

    [Fact]
    public void ARepeatedTellKeepsComingUntilCancelled()
    {
        var cancel = Sys.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.Zero, TimeSpan.FromMilliseconds(50), TestActor, "tick", ActorRefs.NoSender);
        for (int i = 0; i < 4; i++) ExpectMsg("tick", TimeSpan.FromSeconds(5));
        cancel.Cancel();
        AwaitCondition(() => Scheduler.PendingCount == 0, TimeSpan.FromSeconds(5));
        // At most one already fired before the cancel can still be on its way.
        ReceiveWhile(TimeSpan.FromMilliseconds(300), m => m);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void ACancelledActionNeverRunsAndAFailingOneDoesNotStopOthers()
    {
        int ran = 0;
        var cancel = new Cancelable(Sys.Scheduler);
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(200), () => Interlocked.Increment(ref ran), cancel);
        cancel.Cancel();
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.Zero, () => throw new InvalidOperationException("scheduled failure"));
        Sys.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), () => TestActor.Tell("after the failure"));
        ExpectMsg("after the failure", TimeSpan.FromSeconds(5));
        Thread.Sleep(400);
        Assert.Equal(0, Volatile.Read(ref ran));
    }

    private sealed class Ticker : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;

        public Ticker(IActorRef probe)
        {
            Receive<string>(m => m == "start", _ =>
            {
                Timers.StartPeriodicTimer("t", "periodic", TimeSpan.FromMilliseconds(40));
                Timers.StartSingleTimer("s", "single", TimeSpan.FromMilliseconds(100));
            });
            Receive<string>(m => m == "stop", _ => Timers.Cancel("t"));
            Receive<string>(m => probe.Tell(m));
        }
    }

    [Fact]
    public void TheTimersOfAnActorWorkOnIt()
    {
        var ticker = Sys.ActorOf(Props.Create(() => new Ticker(TestActor)));
        ticker.Tell("start");
        var seen = new List<string>();
        AwaitCondition(() =>
        {
            seen.AddRange(ReceiveWhile(TimeSpan.FromMilliseconds(50), m => (string)m));
            return seen.Contains("single") && seen.Count(m => m == "periodic") >= 3;
        }, TimeSpan.FromSeconds(5));
        Assert.Single(seen, m => m == "single");
        ticker.Tell("stop");
        ReceiveWhile(TimeSpan.FromMilliseconds(200), m => m);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task StoppingTheSystemRunsEachPendingTaskOnceAndThenNothing()
    {
        var system = ActorSystem.Create("tq", UseIt);
        var scheduler = Assert.IsType<TimerQueueScheduler>(system.Scheduler);
        int ran = 0, cancelledRan = 0;
        system.Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), () => Interlocked.Increment(ref ran));
        var cancel = new Cancelable(system.Scheduler);
        system.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromSeconds(30), () => Interlocked.Increment(ref cancelledRan), cancel);
        cancel.Cancel();
        Assert.True(scheduler.PendingCount >= 1);
        await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, scheduler.PendingCount);
        // As Akka's own scheduler: what was pending runs once at shutdown (a cancelled task does not), then never again.
        Assert.Equal(1, Volatile.Read(ref ran));
        await Task.Delay(500);
        Assert.Equal(1, Volatile.Read(ref ran));
        Assert.Equal(0, Volatile.Read(ref cancelledRan));
    }

    [Fact]
    public void ARepeatedTaskThatThrowsIsNotRunAgain()
    {
        int runs = 0;
        Sys.Scheduler.Advanced.ScheduleRepeatedly(TimeSpan.Zero, TimeSpan.FromMilliseconds(30), () =>
        {
            Interlocked.Increment(ref runs);
            throw new InvalidOperationException("scheduled failure");
        });
        AwaitCondition(() => Volatile.Read(ref runs) >= 1, TimeSpan.FromSeconds(5));
        Thread.Sleep(400);
        Assert.Equal(1, Volatile.Read(ref runs));
    }
}
