using System.Runtime.InteropServices;
using TimeMesh.Net.Native;

namespace TimeMesh.Net;

/// <summary>
/// What a network interface says it can stamp (ETHTOOL_GET_TS_INFO, struct ethtool_ts_info): the SOF_TIMESTAMPING_*
/// capabilities, the index of its PTP hardware clock (/dev/ptpN; -1 for none), the HWTSTAMP_TX_* types and the
/// HWTSTAMP_FILTER_* receive filters it supports (bit n = value n).
/// </summary>
public sealed record InterfaceTimestampingInfo(string Interface, uint Capabilities, int PhcIndex, uint TransmitTypes, uint ReceiveFilters)
{
    /// <summary>sizeof(struct ethtool_ts_info): u32 cmd, so_timestamping; s32 phc_index; u32 tx_types, tx_reserved[3], rx_filters, rx_reserved[3].</summary>
    public const int StructBytes = 44;

    public const int TransmitOff = 0;
    public const int TransmitOn = 1;
    public const int FilterNone = 0;
    public const int FilterAll = 1;
    public const int FilterNtpAll = 15;

    private const uint NeededCapabilities = LibC.SOF_TIMESTAMPING_TX_HARDWARE | LibC.SOF_TIMESTAMPING_RX_HARDWARE | LibC.SOF_TIMESTAMPING_RAW_HARDWARE;

    /// <summary>Reads a struct ethtool_ts_info as the kernel filled it in (little-endian, 64-bit Linux).</summary>
    public static InterfaceTimestampingInfo Parse(string interfaceName, ReadOnlySpan<byte> ethtoolTsInfo)
    {
        if (ethtoolTsInfo.Length < StructBytes)
            throw new ArgumentException($"struct ethtool_ts_info is {StructBytes} bytes, got {ethtoolTsInfo.Length}", nameof(ethtoolTsInfo));
        static uint U32(ReadOnlySpan<byte> s, int offset) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(s[offset..]);
        return new InterfaceTimestampingInfo(interfaceName, U32(ethtoolTsInfo, 4), (int)U32(ethtoolTsInfo, 8), U32(ethtoolTsInfo, 12), U32(ethtoolTsInfo, 28));
    }

    /// <summary>The receive filter to ask for: ALL where offered, else NTP_ALL; null when neither is (then the NIC cannot stamp NTP).</summary>
    public int? ReceiveFilter => (ReceiveFilters & (1u << FilterAll)) != 0 ? FilterAll
        : (ReceiveFilters & (1u << FilterNtpAll)) != 0 ? FilterNtpAll
        : null;

    /// <summary>Why hardware stamps cannot be had on this interface; null when they can (as far as the capabilities say).</summary>
    public string? WhyNotHardware()
    {
        var missing = new List<string>();
        if ((Capabilities & LibC.SOF_TIMESTAMPING_RAW_HARDWARE) == 0) missing.Add("raw-hardware");
        if ((Capabilities & LibC.SOF_TIMESTAMPING_RX_HARDWARE) == 0) missing.Add("hardware-receive");
        if ((Capabilities & LibC.SOF_TIMESTAMPING_TX_HARDWARE) == 0) missing.Add("hardware-transmit");
        if ((Capabilities & NeededCapabilities) == 0 && PhcIndex < 0)
            return $"no hardware timestamping (capabilities: {DescribeCapabilities()}; no PTP hardware clock)";
        if (missing.Count > 0)
            return $"no {string.Join(", ", missing)} timestamping (capabilities: {DescribeCapabilities()})";
        if (PhcIndex < 0)
            return "no PTP hardware clock to convert its stamps with";
        if ((TransmitTypes & (1u << TransmitOn)) == 0)
            return "transmit stamping cannot be switched on (no HWTSTAMP_TX_ON)";
        if (ReceiveFilter is null)
            return $"no receive filter for all packets (ALL or NTP_ALL; offered: {DescribeFilters()})";
        return null;
    }

    /// <summary>The capability flags by name, e.g. "software-transmit, software-receive, software".</summary>
    public string DescribeCapabilities()
    {
        var names = new List<string>();
        if ((Capabilities & LibC.SOF_TIMESTAMPING_TX_HARDWARE) != 0) names.Add("hardware-transmit");
        if ((Capabilities & LibC.SOF_TIMESTAMPING_TX_SOFTWARE) != 0) names.Add("software-transmit");
        if ((Capabilities & LibC.SOF_TIMESTAMPING_RX_HARDWARE) != 0) names.Add("hardware-receive");
        if ((Capabilities & LibC.SOF_TIMESTAMPING_RX_SOFTWARE) != 0) names.Add("software-receive");
        if ((Capabilities & LibC.SOF_TIMESTAMPING_SOFTWARE) != 0) names.Add("software");
        if ((Capabilities & LibC.SOF_TIMESTAMPING_RAW_HARDWARE) != 0) names.Add("raw-hardware");
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    private string DescribeFilters()
    {
        var values = new List<string>();
        for (int bit = 0; bit < 32; bit++)
            if ((ReceiveFilters & (1u << bit)) != 0) values.Add(bit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return values.Count == 0 ? "none" : string.Join(", ", values);
    }
}

/// <summary>
/// An interface whose NIC stamps packets in hardware: its index, the receive filter in force, and its PTP hardware clock,
/// opened for reading. Dispose closes the clock (the NIC's stamping stays on: other programs may use it).
/// </summary>
public sealed class HardwareTimestampingInterface(string name, int index, int receiveFilter, PtpHardwareClock clock) : IDisposable
{
    public string Name { get; } = name;
    public int Index { get; } = index;
    public int ReceiveFilter { get; } = receiveFilter;
    public PtpHardwareClock Clock { get; } = clock;
    public void Dispose() => Clock.Dispose();
}

/// <summary>
/// Switches on hardware timestamping of one interface as chronyd's hwtimestamp does: asks for its capabilities
/// (SIOCETHTOOL, ETHTOOL_GET_TS_INFO), sets transmit stamping on and the receive filter to ALL or NTP_ALL
/// (SIOCSHWTSTAMP, needs CAP_NET_ADMIN), and opens its PTP hardware clock. Each refusal is a reason naming the interface.
/// </summary>
public static unsafe class HardwareTimestamping
{
    /// <summary>struct ifreq: char ifr_name[16]; then a 24-byte union whose ifr_data is a pointer.</summary>
    private const int IfReqBytes = 40;

    /// <summary>
    /// The interface's timestamping capabilities, or null with <paramref name="error"/> saying why they could not be read
    /// (no such interface, the ioctl refused).
    /// </summary>
    public static InterfaceTimestampingInfo? Query(string interfaceName, out string? error)
    {
        error = CheckName(interfaceName);
        if (error is not null) return null;
        int fd = LibC.Socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            error = $"cannot open a socket to ask {interfaceName} ({Errno(Marshal.GetLastPInvokeError())})";
            return null;
        }
        try
        {
            byte* info = stackalloc byte[InterfaceTimestampingInfo.StructBytes];
            new Span<byte>(info, InterfaceTimestampingInfo.StructBytes).Clear();
            *(uint*)info = LibC.ETHTOOL_GET_TS_INFO;
            byte* request = stackalloc byte[IfReqBytes];
            FillName(request, interfaceName);
            *(byte**)(request + LibC.IFNAMSIZ) = info;
            if (LibC.Ioctl(fd, LibC.SIOCETHTOOL, request) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                error = errno == LibC.ENODEV ? $"{interfaceName}: no such interface" : $"{interfaceName}: ETHTOOL_GET_TS_INFO refused ({Errno(errno)})";
                return null;
            }
            return InterfaceTimestampingInfo.Parse(interfaceName, new ReadOnlySpan<byte>(info, InterfaceTimestampingInfo.StructBytes));
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// Switches hardware timestamping on for <paramref name="interfaceName"/> and opens its PTP hardware clock; null with
    /// <paramref name="reason"/> (which names the interface) when it cannot be had, so the caller keeps software stamps.
    /// </summary>
    public static HardwareTimestampingInterface? Enable(string interfaceName, out InterfaceTimestampingInfo? info, out string? reason)
    {
        info = Query(interfaceName, out reason);
        if (info is null) return null;
        if (info.WhyNotHardware() is { } why)
        {
            reason = $"{interfaceName}: {why}";
            return null;
        }
        int filter = info.ReceiveFilter!.Value;
        int fd = LibC.Socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            reason = $"cannot open a socket to configure {interfaceName} ({Errno(Marshal.GetLastPInvokeError())})";
            return null;
        }
        try
        {
            // struct hwtstamp_config { int flags; int tx_type; int rx_filter; }; the driver may widen the filter.
            int* config = stackalloc int[3];
            config[0] = 0;
            config[1] = InterfaceTimestampingInfo.TransmitOn;
            config[2] = filter;
            byte* request = stackalloc byte[IfReqBytes];
            FillName(request, interfaceName);
            *(int**)(request + LibC.IFNAMSIZ) = config;
            if (LibC.Ioctl(fd, LibC.SIOCSHWTSTAMP, request) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                reason = $"{interfaceName}: SIOCSHWTSTAMP refused ({Errno(errno)}{(errno is LibC.EPERM or LibC.EACCES ? "; needs CAP_NET_ADMIN" : "")})";
                return null;
            }
            if (config[1] != InterfaceTimestampingInfo.TransmitOn || config[2] == InterfaceTimestampingInfo.FilterNone)
            {
                reason = $"{interfaceName}: the driver did not keep hardware stamping on (tx type {config[1]}, receive filter {config[2]})";
                return null;
            }
            filter = config[2];
        }
        finally
        {
            LibC.Close(fd);
        }
        int index = (int)LibC.IfNameToIndex(interfaceName);
        var clock = PtpHardwareClock.Open(info.PhcIndex, out string? clockError);
        if (clock is null)
        {
            reason = $"{interfaceName}: {clockError}";
            return null;
        }
        return new HardwareTimestampingInterface(interfaceName, index, filter, clock);
    }

    /// <summary>Linux's rule for interface names (dev_valid_name): 1-15 bytes, not "." or "..", no '/', ':' or white space.</summary>
    public static string? CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || System.Text.Encoding.UTF8.GetByteCount(name) >= LibC.IFNAMSIZ || name is "." or "..")
            return $"\"{name}\" is not an interface name (1 to 15 bytes)";
        if (name.Any(c => c == '/' || c == ':' || char.IsWhiteSpace(c) || char.IsControl(c)))
            return $"\"{name}\" is not an interface name (no '/', ':' or white space)";
        return null;
    }

    private static void FillName(byte* request, string name)
    {
        new Span<byte>(request, IfReqBytes).Clear();
        System.Text.Encoding.UTF8.GetBytes(name, new Span<byte>(request, LibC.IFNAMSIZ - 1));
    }

    internal static string Errno(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)}, errno {errno}";
}

/// <summary>
/// A NIC's PTP hardware clock (/dev/ptpN), read against the system clock with PTP_SYS_OFFSET_EXTENDED (or, on drivers
/// without it, PTP_SYS_OFFSET), each call giving up to 25 samples of (system before, PHC, system after).
/// </summary>
public sealed unsafe class PtpHardwareClock : IDisposable
{
    private int _fd;
    private bool _extended = true;

    private PtpHardwareClock(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>/dev/ptpN.</summary>
    public string Path { get; }

    /// <summary>Opens /dev/ptp<paramref name="index"/>; null with <paramref name="error"/> when it cannot.</summary>
    public static PtpHardwareClock? Open(int index, out string? error)
    {
        error = null;
        string path = $"/dev/ptp{index}";
        int fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (fd < 0)
        {
            error = $"cannot open its PTP hardware clock {path} ({HardwareTimestamping.Errno(Marshal.GetLastPInvokeError())})";
            return null;
        }
        return new PtpHardwareClock(fd, path);
    }

    /// <summary>
    /// Reads up to <paramref name="samples"/>.Length (at most 25) samples into it as (system before, PHC, system after) in
    /// ns. Returns how many; 0 with <paramref name="error"/> when the driver refused both ioctls.
    /// </summary>
    public int Read(Span<(long SystemBeforeNs, long PhcNs, long SystemAfterNs)> samples, out string? error)
    {
        error = null;
        int n = Math.Min(samples.Length, LibC.PTP_MAX_SAMPLES);
        if (n == 0 || _fd < 0) return 0;
        // struct ptp_clock_time { s64 sec; u32 nsec; u32 reserved; }: 16 bytes, as TimeSpec64 with nanoseconds.
        const int HeaderBytes = 16;
        byte* buffer = stackalloc byte[HeaderBytes + (2 * LibC.PTP_MAX_SAMPLES + 1) * 16 + 512];
        if (_extended)
        {
            new Span<byte>(buffer, 1216).Clear();
            *(uint*)buffer = (uint)n;
            if (LibC.Ioctl(_fd, LibC.PTP_SYS_OFFSET_EXTENDED, buffer) == 0)
            {
                var ts = (TimeSpec64*)(buffer + HeaderBytes);
                for (int i = 0; i < n; i++)
                    samples[i] = (Ns(ts[3 * i]), Ns(ts[3 * i + 1]), Ns(ts[3 * i + 2]));
                return n;
            }
            _extended = false;   // EOPNOTSUPP on older drivers: the basic ioctl from now on
        }
        new Span<byte>(buffer, 832).Clear();
        *(uint*)buffer = (uint)n;
        if (LibC.Ioctl(_fd, LibC.PTP_SYS_OFFSET, buffer) != 0)
        {
            error = $"{Path}: PTP_SYS_OFFSET refused ({HardwareTimestamping.Errno(Marshal.GetLastPInvokeError())})";
            return 0;
        }
        // ts[0] system, ts[1] PHC, ts[2] system, …, ts[2n] system.
        var basic = (TimeSpec64*)(buffer + HeaderBytes);
        for (int i = 0; i < n; i++)
            samples[i] = (Ns(basic[2 * i]), Ns(basic[2 * i + 1]), Ns(basic[2 * i + 2]));
        return n;
    }

    private static long Ns(TimeSpec64 t) => t.Seconds * 1_000_000_000L + (uint)t.Fraction;

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) LibC.Close(fd);
    }
}
