using System.Runtime.InteropServices;

namespace TimeMesh.Node.Clock;

/// <summary>
/// Tells when CLOCK_REALTIME is set discontinuously (settimeofday, clock_settime, adjtimex ADJ_SETOFFSET, a leap
/// second, a resume from suspend), without polling: a timerfd on CLOCK_REALTIME armed far in the future with
/// TFD_TIMER_CANCEL_ON_SET, read by one thread that sleeps in the kernel until such a set makes the read fail
/// with ECANCELED. Slews (adjtime, frequency changes) do not wake it: they are not steps. The callback runs on
/// that thread and must be quick (the clock watch sends a message).
/// </summary>
public sealed unsafe partial class ClockSetNotifier : IDisposable
{
    private const int ClockRealtime = 0;
    private const int TfdCloexec = 0x80000;         // O_CLOEXEC
    private const int TfdTimerAbstime = 1;
    private const int TfdTimerCancelOnSet = 2;
    private const int ECanceled = 125;
    private const int EIntr = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct ITimerSpec
    {
        public long IntervalSeconds;
        public long IntervalNanoseconds;
        public long ValueSeconds;
        public long ValueNanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "timerfd_create", SetLastError = true)]
    private static partial int TimerFdCreate(int clockId, int flags);

    [LibraryImport("libc", EntryPoint = "timerfd_settime", SetLastError = true)]
    private static partial int TimerFdSetTime(int fd, int flags, ITimerSpec* newValue, ITimerSpec* oldValue);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    private readonly int _fd;
    private readonly Action _onSet;
    private readonly object _gate = new();
    private bool _stopping;
    private bool _closed;

    private ClockSetNotifier(int fd, Action onSet)
    {
        _fd = fd;
        _onSet = onSet;
        var thread = new Thread(Run) { IsBackground = true, Name = "clock-set-notifier" };
        thread.Start();
    }

    /// <summary>How many times the clock was set since the start (callbacks made).</summary>
    public int SetsSeen { get; private set; }

    /// <summary>True once the watching thread has ended and closed its descriptor (after Dispose, or a kernel failure).</summary>
    public bool IsClosed
    {
        get { lock (_gate) return _closed; }
    }

    /// <summary>
    /// Starts watching, or returns null with the reason when the kernel refuses (not Linux, no timerfd, a
    /// sandbox): the caller then falls back to reading the clocks on a timer.
    /// </summary>
    public static ClockSetNotifier? TryStart(Action onSet, out string? whyNot)
    {
        ArgumentNullException.ThrowIfNull(onSet);
        whyNot = null;
        if (!OperatingSystem.IsLinux())
        {
            whyNot = "not Linux";
            return null;
        }
        int fd;
        try
        {
            fd = TimerFdCreate(ClockRealtime, TfdCloexec);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            whyNot = e.Message;
            return null;
        }
        if (fd < 0)
        {
            whyNot = $"timerfd_create: errno {Marshal.GetLastPInvokeError()}";
            return null;
        }
        if (!Arm(fd, out int errno))
        {
            Close(fd);
            whyNot = $"timerfd_settime with TFD_TIMER_CANCEL_ON_SET: errno {errno}";
            return null;
        }
        return new ClockSetNotifier(fd, onSet);
    }

    /// <summary>Stops the thread (it wakes at once) and closes the descriptor.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            if (_closed) return;
            // Expire the timer now: the blocked read returns, sees _stopping and closes the descriptor.
            var spec = new ITimerSpec { ValueNanoseconds = 1 };
            TimerFdSetTime(_fd, 0, &spec, null);
        }
    }

    /// <summary>Armed on CLOCK_REALTIME at an absolute time that never comes, cancelled by any set of the clock.</summary>
    private static bool Arm(int fd, out int errno)
    {
        var spec = new ITimerSpec { ValueSeconds = long.MaxValue / 1_000_000_000 / 2 };   // in the year 2116
        errno = 0;
        if (TimerFdSetTime(fd, TfdTimerAbstime | TfdTimerCancelOnSet, &spec, null) == 0) return true;
        errno = Marshal.GetLastPInvokeError();
        return false;
    }

    private void Run()
    {
        ulong expirations;
        while (true)
        {
            nint n = Read(_fd, &expirations, sizeof(ulong));
            int errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            bool set = errno == ECanceled;
            lock (_gate)
            {
                if (_stopping || (n < 0 && !set && errno != EIntr) || (set && !Arm(_fd, out _)))
                {
                    // Stopping, or a failure that would make this loop spin: end (the clock watch's own timer
                    // check still runs when it was started as a fallback).
                    _closed = true;
                    Close(_fd);
                    return;
                }
                if (n >= 0) Arm(_fd, out _);   // expired (only a clock set past ~2116 could do it): re-arm
            }
            if (!set) continue;
            SetsSeen++;
            try
            {
                _onSet();
            }
            catch (Exception)
            {
                // A callback's failure (a stopped actor system) must not end the watch.
            }
        }
    }
}
