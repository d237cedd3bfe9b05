using System.Runtime.InteropServices;

namespace TimeMesh.Node.Clock;

/// <summary>
/// The Linux kernel clock through adjtimex(2). Changing it needs CAP_SYS_TIME; <see cref="Query"/>
/// (modes = 0) only reads. Used only with <c>clock = system</c>.
/// </summary>
public static unsafe partial class LinuxKernelClock
{
    private const uint AdjFrequency = 0x0002;
    private const uint AdjSetOffset = 0x0100;
    private const uint AdjNano = 0x2000;
    /// <summary>adjtimex's frequency unit: ppm scaled by 2^16.</summary>
    private const double FrequencyScale = 65536.0;

    /// <summary>struct timex on 64-bit Linux (208 bytes).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 208)]
    private struct Timex
    {
        [FieldOffset(0)] public uint Modes;
        [FieldOffset(8)] public long Offset;
        [FieldOffset(16)] public long Freq;
        [FieldOffset(24)] public long MaxError;
        [FieldOffset(32)] public long EstError;
        [FieldOffset(40)] public int Status;
        [FieldOffset(48)] public long Constant;
        [FieldOffset(56)] public long Precision;
        [FieldOffset(64)] public long Tolerance;
        [FieldOffset(72)] public long TimeSeconds;
        [FieldOffset(80)] public long TimeFraction;
        [FieldOffset(88)] public long Tick;
    }

    [LibraryImport("libc", EntryPoint = "adjtimex", SetLastError = true)]
    private static partial int AdjTimex(Timex* buffer);

    /// <summary>What adjtimex reports, read without changing anything.</summary>
    public readonly record struct KernelClockState(int ClockState, double FrequencyPpm, long MaxErrorUs, long EstErrorUs, int Status, long TickUs);

    public static KernelClockState Query()
    {
        Timex t = default;
        int state = AdjTimex(&t);
        if (state < 0) throw new InvalidOperationException($"adjtimex failed: errno {Marshal.GetLastPInvokeError()}");
        return new KernelClockState(state, t.Freq / FrequencyScale, t.MaxError, t.EstError, t.Status, t.Tick);
    }

    /// <summary>The kernel clock as an <see cref="IKernelClock"/>; its setters need CAP_SYS_TIME.</summary>
    public sealed class Controls : IKernelClock
    {
        public long ReadNs() => RealtimeClock.ReadUnixNanoseconds();

        public double FrequencyPpm => Query().FrequencyPpm;

        public void SetFrequencyPpm(double ppm)
        {
            Timex t = default;
            t.Modes = AdjFrequency;
            t.Freq = (long)Math.Round(Math.Clamp(ppm, -500, 500) * FrequencyScale);
            Check(AdjTimex(&t), "set the kernel frequency");
        }

        public void StepNs(long deltaNs)
        {
            Timex t = default;
            t.Modes = AdjSetOffset | AdjNano;
            t.TimeSeconds = Math.DivRem(deltaNs, 1_000_000_000, out long nanos);
            if (nanos < 0) { nanos += 1_000_000_000; t.TimeSeconds--; }
            t.TimeFraction = nanos;
            Check(AdjTimex(&t), "step the kernel clock");
        }

        private static void Check(int result, string what)
        {
            if (result < 0)
                throw new InvalidOperationException($"cannot {what}: errno {Marshal.GetLastPInvokeError()} (clock = system needs CAP_SYS_TIME)");
        }
    }
}
