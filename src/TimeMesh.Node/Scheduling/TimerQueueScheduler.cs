using Akka.Actor;
using Akka.Actor.Scheduler;
using Akka.Dispatch;
using Akka.Event;

namespace TimeMesh.Node.Scheduling;

/// <summary>
/// An Akka scheduler on .NET's own timer queue (one <see cref="Timer"/> per scheduled task): the runtime's timer
/// thread sleeps until the earliest deadline, so an idle node with only long timers pending (a poll every 64 s)
/// does not wake at all in between. Akka's <see cref="HashedWheelTimerScheduler"/> ticks every
/// <c>akka.scheduler.tick-duration</c> while any task is pending, and each tick wakes the timer thread and a
/// thread-pool worker: at 100 ms that was most of an idle node's CPU (docs/benchmark.md, "Footprint").
/// A task runs on the thread pool at its deadline (no tick rounding); a repeated one at a fixed rate. As with Akka's
/// scheduler, a repeated task that throws is not run again, and stopping the scheduler runs every task still pending
/// (not cancelled) once, so that nothing waiting on one is left hanging at shutdown.
/// Chosen with <c>akka.scheduler.implementation</c>; cancelling a task disposes its timer.
/// </summary>
public sealed class TimerQueueScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Entry, byte> _pending = new();
    private volatile bool _disposed;

    public TimerQueueScheduler(Akka.Configuration.Config scheduler, ILoggingAdapter log) : base(scheduler, log)
    {
    }

    /// <summary>Tasks scheduled and neither run (once), cancelled nor stopped by Dispose.</summary>
    public int PendingCount => _pending.Count;

    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;

    // Akka's own monotonic clock (internal to Akka): other parts of Akka compare its readings with the scheduler's.
    private static readonly Func<TimeSpan> AkkaElapsed = AkkaStatic<Func<TimeSpan>>("Akka.Util.MonotonicClock", "get_Elapsed");
    private static readonly Func<TimeSpan> AkkaElapsedHighRes = AkkaStatic<Func<TimeSpan>>("Akka.Util.MonotonicClock", "get_ElapsedHighRes");

    // Akka's scheduled tell (internal to Akka) wraps the message so that it does not count as activity for an actor's
    // receive timeout unless it should; the timers of IWithTimers rely on that. Built once as a compiled constructor call.
    private static readonly Func<ICanTell, object, IActorRef, IRunnable> NewScheduledTell = ScheduledTellFactory();

    public override TimeSpan MonotonicClock => AkkaElapsed();

    public override TimeSpan HighResMonotonicClock => AkkaElapsedHighRes();

    private static T AkkaStatic<T>(string typeName, string method) where T : Delegate
    {
        var type = typeof(ActorSystem).Assembly.GetType(typeName, throwOnError: true)!;
        var info = type.GetMethod(method, System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
                   ?? throw new MissingMethodException(typeName, method);
        return info.CreateDelegate<T>();
    }

    private static Func<ICanTell, object, IActorRef, IRunnable> ScheduledTellFactory()
    {
        var type = typeof(ActorSystem).Assembly.GetTypes().Single(t => t.Name == "ScheduledTell" && typeof(IRunnable).IsAssignableFrom(t));
        var ctor = type.GetConstructor(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic,
                       [typeof(ICanTell), typeof(object), typeof(IActorRef)])
                   ?? throw new MissingMethodException(type.FullName, ".ctor(ICanTell, object, IActorRef)");
        var receiver = System.Linq.Expressions.Expression.Parameter(typeof(ICanTell));
        var message = System.Linq.Expressions.Expression.Parameter(typeof(object));
        var sender = System.Linq.Expressions.Expression.Parameter(typeof(IActorRef));
        var body = System.Linq.Expressions.Expression.Convert(System.Linq.Expressions.Expression.New(ctor, receiver, message, sender), typeof(IRunnable));
        return System.Linq.Expressions.Expression.Lambda<Func<ICanTell, object, IActorRef, IRunnable>>(body, receiver, message, sender).Compile();
    }

    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(delay, Timeout.InfiniteTimeSpan, NewScheduledTell(receiver, message, sender), cancelable);

    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(initialDelay, interval, NewScheduledTell(receiver, message, sender), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Add(delay, Timeout.InfiniteTimeSpan, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Add(delay, Timeout.InfiniteTimeSpan, action, cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Add(initialDelay, interval, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Add(initialDelay, interval, action, cancelable);

    /// <summary>Stops every pending task and runs each once more, as Akka's scheduler does (an actor system calls this on termination).</summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var entry in _pending.Keys)
        {
            if (entry.Stop()) entry.RunForShutdown();
        }
    }

    private void Add(TimeSpan delay, TimeSpan interval, IRunnable action, ICancelable? cancelable)
    {
        if (_disposed) throw new SchedulerException("cannot schedule after the scheduler was stopped");
        if (cancelable?.IsCancellationRequested == true) return;
        var entry = new Entry(this, action, cancelable, interval != Timeout.InfiniteTimeSpan);
        _pending.TryAdd(entry, 0);
        entry.Start(delay, interval);
        if (_disposed) entry.Stop();
    }

    private sealed class Entry
    {
        private readonly TimerQueueScheduler _owner;
        private readonly IRunnable _action;
        private readonly ICancelable? _cancelable;
        private readonly bool _repeated;
        private readonly Timer _timer;
        private CancellationTokenRegistration _registration;
        private int _stopped;
        private int _running;

        public Entry(TimerQueueScheduler owner, IRunnable action, ICancelable? cancelable, bool repeated)
        {
            _owner = owner;
            _action = action;
            _cancelable = cancelable;
            _repeated = repeated;
            // Not started yet: the callback may only run once the entry is complete (Start).
            _timer = new Timer(static state => ((Entry)state!).Fire(), this, Timeout.Infinite, Timeout.Infinite);
        }

        public void Start(TimeSpan delay, TimeSpan interval)
        {
            if (_cancelable is not null) _registration = _cancelable.Token.UnsafeRegister(static state => ((Entry)state!).Stop(), this);
            // Timer takes at most 0xfffffffe ms (~49.7 days); longer delays are not used by Akka or TimeMesh, but cap them.
            var max = TimeSpan.FromMilliseconds(uint.MaxValue - 1);
            _timer.Change(delay > max ? max : delay, interval == Timeout.InfiniteTimeSpan || interval <= max ? interval : max);
        }

        /// <summary>Stops the timer; true for the call that stopped it.</summary>
        public bool Stop()
        {
            if (Interlocked.Exchange(ref _stopped, 1) != 0) return false;
            _timer.Dispose();
            _registration.Dispose();
            _owner._pending.TryRemove(this, out _);
            return true;
        }

        public void RunForShutdown()
        {
            if (_cancelable?.IsCancellationRequested == true) return;
            try
            {
                _action.Run();
            }
            catch (SchedulerException)
            {
                // From an actor that is already gone.
            }
            catch (Exception e)
            {
                _owner.Log.Error(e, "a scheduled task failed while the scheduler stopped");
            }
        }

        private void Fire()
        {
            // Never two runs of one task at once (a late thread pool can hand a periodic timer's next tick over
            // before the last run returned): that tick is skipped, as a tick of Akka's wheel would be.
            if (Interlocked.CompareExchange(ref _running, 1, 0) != 0) return;
            try
            {
                if (Volatile.Read(ref _stopped) != 0) return;
                if (_cancelable?.IsCancellationRequested == true)
                {
                    Stop();
                    return;
                }
                if (!_repeated) Stop();
                try
                {
                    _action.Run();
                }
                catch (Exception e)
                {
                    _owner.Log.Error(e, "a scheduled task failed{0}", _repeated ? "; it is not run again" : "");
                    Stop();
                }
            }
            finally
            {
                Volatile.Write(ref _running, 0);
            }
        }
    }
}
