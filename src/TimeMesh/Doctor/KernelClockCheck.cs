using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Doctor;

/// <summary>What adjtimex says about the kernel clock, read without changing anything.</summary>
public sealed class KernelClockCheck(DoctorEnvironment env)
{
    public const string Name = "kernel-clock";
    /// <summary>timex.status bits (linux/timex.h).</summary>
    public const int StaPll = 0x0001;
    public const int StaUnsync = 0x0040;
    /// <summary>adjtimex's return value when the clock is not synchronised.</summary>
    public const int TimeError = 5;

    public IEnumerable<DoctorFinding> Run(TimeMeshSettings? settings)
    {
        if (env.KernelClock is null)
        {
            yield return DoctorFinding.Ok(Name, "no adjtimex on this platform: skipped");
            yield break;
        }
        LinuxKernelClock.KernelClockState state;
        string? error = null;
        try
        {
            state = env.KernelClock();
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException)
        {
            state = default;
            error = e.Message;
        }
        if (error is not null)
        {
            yield return DoctorFinding.Warn(Name, $"cannot read the kernel clock state: {error}", "none needed unless clock = system");
            yield break;
        }

        bool systemClock = settings?.Upstream.Clock == ClockMode.System;
        string details = $"status 0x{state.Status:x4}, frequency {state.FrequencyPpm:0.000} ppm, max error {state.MaxErrorUs} us";
        if ((state.Status & StaUnsync) != 0 || state.ClockState == TimeError)
        {
            yield return DoctorFinding.Ok(Name, $"kernel clock unsynchronised ({details}): no other discipline is marking it synchronised"
                + (systemClock ? "; clock = system will steer it" : "; TimeMesh's virtual clock corrects the served time on top of it"));
        }
        else if (systemClock)
        {
            yield return DoctorFinding.Warn(Name, $"kernel clock is marked synchronised ({details}): another discipline keeps it (a daemon here, or the host of this container) and would fight clock = system",
                "stop the other time daemon (see time-daemon; in a container, the host's), or use clock = virtual");
        }
        else
        {
            yield return DoctorFinding.Ok(Name, $"kernel clock is marked synchronised by another discipline ({details}); clock = virtual never touches it");
        }
    }
}
