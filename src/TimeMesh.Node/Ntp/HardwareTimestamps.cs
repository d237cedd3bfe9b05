using Akka.Event;
using TimeMesh.Core.Clock;
using TimeMesh.Net;

namespace TimeMesh.Node.Ntp;

/// <summary>One interface named by <c>timemesh.hwtimestamp</c>: "hardware" (with its PTP clock) or "kernel" with the reason.</summary>
public sealed record InterfaceTimestampingStatus(string Interface, string Mode, string? Reason, string? Clock);

/// <summary>
/// chrony's hwtimestamp for one node: switches on the NIC stamping of the interfaces <c>timemesh.hwtimestamp</c> names,
/// keeps for each a <see cref="HardwareClockModel"/> of its PTP hardware clock fed by <see cref="SampleClocks"/> (once a
/// second, <see cref="HardwareClockActor"/>), and converts the NIC's stamps to system time for the sockets' users
/// (<see cref="TryToSystem"/>, from any thread). Interfaces that cannot stamp in hardware keep the kernel's software
/// stamps, and <see cref="Interfaces"/> says why. Also counts which stamps were used, for tracking and metrics.
/// </summary>
public sealed class HardwareTimestamps : IDisposable
{
    /// <summary>Reads a PTP hardware clock: fills (system before, PHC, system after) samples, returns how many (0 with an error).</summary>
    internal delegate int PhcReader(Span<(long SystemBeforeNs, long PhcNs, long SystemAfterNs)> samples, out string? error);

    /// <summary>One interface that stamps in hardware: its name and index, its PTP clock's path and how to read it.</summary>
    internal sealed record HardwareClock(string Name, int Index, string Path, PhcReader Read, IDisposable? Owner = null);

    /// <summary>How often each PTP hardware clock is read (chrony's hwtimestamp poll 0: 1 s).</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(1);

    /// <summary>A stamp further than this past the PHC's last reading is not converted (the fit would extrapolate too far).</summary>
    public const long MaxExtrapolationNs = 16_000_000_000L;

    private const int SamplesPerReading = 10;

    private readonly HardwareClock[] _hardware;
    private readonly HardwareClockModel[] _models;
    private readonly PhcConversion?[] _conversions;
    private readonly bool _wildcard;
    private long _receiveHardware, _receiveSoftware, _transmitHardware;
    private string? _lastSampleError;

    /// <summary>hwtimestamp not set: nothing is switched on, every stamp is the kernel's software one.</summary>
    public static HardwareTimestamps Off { get; } = new([], [], wildcard: false);

    internal HardwareTimestamps(IReadOnlyList<InterfaceTimestampingStatus> interfaces, HardwareClock[] hardware, bool wildcard)
    {
        Interfaces = interfaces;
        _hardware = hardware;
        _wildcard = wildcard;
        _models = hardware.Select(_ => new HardwareClockModel()).ToArray();
        _conversions = new PhcConversion?[hardware.Length];
    }

    /// <summary>Every interface asked for ("*" expanded), with the stamping it got.</summary>
    public IReadOnlyList<InterfaceTimestampingStatus> Interfaces { get; }

    /// <summary>True when hwtimestamp named anything.</summary>
    public bool Configured => Interfaces.Count > 0 || _wildcard;

    /// <summary>True when at least one interface stamps in hardware: sockets then ask for hardware stamps.</summary>
    public bool AnyHardware => _hardware.Length > 0;

    /// <summary>"hardware" when an interface stamps in hardware, "kernel" when all fell back, "off" when not configured.</summary>
    public string Mode => !Configured ? "off" : AnyHardware ? "hardware" : "kernel";

    /// <summary>Received datagrams on hardware-stamping sockets whose arrival time came from the NIC, and from the kernel's software stamp.</summary>
    public long ReceiveHardware => Interlocked.Read(ref _receiveHardware);
    public long ReceiveSoftware => Interlocked.Read(ref _receiveSoftware);
    /// <summary>Sent datagrams whose transmit time came from the NIC.</summary>
    public long TransmitHardware => Interlocked.Read(ref _transmitHardware);

    /// <summary>
    /// Switches on hardware stamping for every interface in <paramref name="requested"/> ("*": every interface of this
    /// network namespace, <paramref name="listInterfaces"/> by default /sys/class/net). Never throws for an interface: one
    /// that cannot is listed with its reason and keeps software stamps.
    /// </summary>
    public static HardwareTimestamps Enable(IReadOnlyList<string> requested, Func<IEnumerable<string>>? listInterfaces = null)
    {
        if (requested.Count == 0) return Off;
        bool wildcard = requested.Contains("*");
        var names = requested.Where(n => n != "*").ToList();
        if (wildcard)
            names.AddRange((listInterfaces ?? ListInterfaces)().Where(n => !names.Contains(n)).Order(StringComparer.Ordinal));
        var statuses = new List<InterfaceTimestampingStatus>();
        var hardware = new List<HardwareClock>();
        foreach (string name in names)
        {
            var enabled = HardwareTimestamping.Enable(name, out _, out string? reason);
            if (enabled is null)
            {
                statuses.Add(new InterfaceTimestampingStatus(name, "kernel", reason ?? $"{name}: no hardware timestamping", null));
                continue;
            }
            hardware.Add(new HardwareClock(enabled.Name, enabled.Index, enabled.Clock.Path, enabled.Clock.Read, enabled));
            statuses.Add(new InterfaceTimestampingStatus(name, "hardware", null, $"{enabled.Clock.Path}, receive filter {enabled.ReceiveFilter}"));
        }
        var result = new HardwareTimestamps(statuses, hardware.ToArray(), wildcard);
        result.SampleClocks();
        return result;
    }

    private static IEnumerable<string> ListInterfaces()
    {
        try
        {
            // Each interface is a symbolic link to its device's directory; bonding_masters is a plain file.
            return new DirectoryInfo("/sys/class/net").EnumerateFileSystemInfos()
                .Where(e => e.LinkTarget is not null || e is DirectoryInfo)
                .Select(e => e.Name).ToArray();
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>
    /// Says once what each interface got: hardware at info level, a fallback as a warning with its reason (at info level
    /// for interfaces only "*" brought in, as chronyd skips those quietly).
    /// </summary>
    public void Log(ILoggingAdapter log)
    {
        foreach (var status in Interfaces)
        {
            if (status.Mode == "hardware")
                log.Info("hwtimestamp {0}: hardware timestamps on ({1})", status.Interface, status.Clock);
            else if (_wildcard)
                log.Info("hwtimestamp *: {0}; kernel software timestamps there", status.Reason);
            else
                log.Warning("hwtimestamp: {0}; falling back to kernel software timestamps there", status.Reason);
        }
        if (_wildcard && !AnyHardware)
            log.Warning("hwtimestamp *: no interface stamps in hardware; kernel software timestamps are used");
    }

    /// <summary>Reads every PTP hardware clock once and refits its conversion; returns the last error (null: all read).</summary>
    public string? SampleClocks()
    {
        Span<(long, long, long)> raw = stackalloc (long, long, long)[SamplesPerReading];
        Span<PhcSample> samples = stackalloc PhcSample[SamplesPerReading];
        string? error = null;
        for (int i = 0; i < _hardware.Length; i++)
        {
            int n = _hardware[i].Read(raw, out string? readError);
            for (int k = 0; k < n; k++) samples[k] = new PhcSample(raw[k].Item1, raw[k].Item2, raw[k].Item3);
            if (n == 0 || !PhcReading.TryPick(samples[..n], out var reading))
            {
                error = readError ?? $"{_hardware[i].Path}: no usable reading";
                continue;
            }
            _models[i].Add(reading);
            Volatile.Write(ref _conversions[i], _models[i].Conversion);
        }
        _lastSampleError = error;
        return error;
    }

    /// <summary>The last PHC read error (null when the last round read every clock).</summary>
    public string? LastSampleError => _lastSampleError;

    /// <summary>The current conversion of each hardware interface's clock (null before its first reading).</summary>
    public IReadOnlyList<(string Interface, PhcConversion? Conversion)> Conversions =>
        _hardware.Select((h, i) => (h.Name, Volatile.Read(ref _conversions[i]))).ToArray();

    /// <summary>
    /// Converts a NIC stamp of the interface with index <paramref name="interfaceIndex"/> to system time (CLOCK_REALTIME
    /// ns). Index 0 (transmit reports name no interface) means the only hardware interface; with several it converts
    /// nothing. False when the interface is not one of ours, its clock was not read yet, or the stamp is too far from its
    /// last reading: the caller uses the software stamp instead.
    /// </summary>
    public bool TryToSystem(int interfaceIndex, long hardwareNs, out long systemNs)
    {
        systemNs = 0;
        int slot = -1;
        if (interfaceIndex == 0)
        {
            if (_hardware.Length == 1) slot = 0;
        }
        else
        {
            for (int i = 0; i < _hardware.Length; i++)
                if (_hardware[i].Index == interfaceIndex) { slot = i; break; }
        }
        if (slot < 0 || hardwareNs == 0) return false;
        var conversion = Volatile.Read(ref _conversions[slot]);
        if (conversion is null || !conversion.Covers(hardwareNs, MaxExtrapolationNs)) return false;
        systemNs = conversion.ToSystemNs(hardwareNs);
        return true;
    }

    /// <summary>
    /// The arrival time of a received datagram: the NIC's stamp converted when there is one, else the kernel's software
    /// stamp (0 when neither). Counts which it was.
    /// </summary>
    public long ReceiveTime(DatagramBatch batch, int slot, long kernelUnixNs)
    {
        long hardware = batch.HardwareTimestampNanoseconds(slot, out int interfaceIndex);
        if (hardware != 0 && TryToSystem(interfaceIndex, hardware, out long system))
        {
            Interlocked.Increment(ref _receiveHardware);
            return system;
        }
        Interlocked.Increment(ref _receiveSoftware);
        return kernelUnixNs;
    }

    /// <summary>The transmit time of a sent datagram: the NIC's stamp converted when there is one, else the software stamp (0: none).</summary>
    public long TransmitTime(TransmitTimestamp stamp, out bool hardware)
    {
        if (stamp.HardwareNanoseconds != 0 && TryToSystem(0, stamp.HardwareNanoseconds, out long system))
        {
            hardware = true;
            Interlocked.Increment(ref _transmitHardware);
            return system;
        }
        hardware = false;
        return stamp.UnixNanoseconds;
    }

    public void Dispose()
    {
        foreach (var h in _hardware) h.Owner?.Dispose();
    }
}
