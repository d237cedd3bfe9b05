using Akka.Actor;
using Akka.Event;

namespace TimeMesh.Node.Ntp;

/// <summary>
/// Reads the PTP hardware clocks of the interfaces that stamp in hardware once every
/// <see cref="HardwareTimestamps.SampleInterval"/>, so that their stamps convert to system time. Started only when an
/// interface stamps in hardware; a clock that cannot be read is logged when that starts and when it ends.
/// </summary>
public sealed class HardwareClockActor : ReceiveActor, IWithTimers
{
    private sealed record Sample
    {
        public static readonly Sample Instance = new();
    }

    private readonly HardwareTimestamps _hardware;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private string? _lastError;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(HardwareTimestamps hardware) => Akka.Actor.Props.Create(() => new HardwareClockActor(hardware));

    public HardwareClockActor(HardwareTimestamps hardware)
    {
        _hardware = hardware;
        Receive<Sample>(_ =>
        {
            string? error = _hardware.SampleClocks();
            if (error != _lastError)
            {
                if (error is not null) _log.Warning("hwtimestamp: {0}; its stamps fall back to software ones until it reads again", error);
                else _log.Info("hwtimestamp: every PTP hardware clock reads again");
                _lastError = error;
            }
        });
    }

    protected override void PreStart() => Timers.StartPeriodicTimer("sample", Sample.Instance, HardwareTimestamps.SampleInterval);
}
