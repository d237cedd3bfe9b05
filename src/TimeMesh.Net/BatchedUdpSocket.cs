using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using TimeMesh.Net.Native;

namespace TimeMesh.Net;

/// <summary>
/// A blocking Linux UDP socket created and driven through libc: recvmmsg/sendmmsg move up to a
/// <see cref="DatagramBatch"/> of datagrams per system call, with kernel receive timestamps.
/// Receive and Send may run on different threads; each call needs its own batch. Dispose may be called from
/// any thread: it wakes a blocked Receive, which then returns 0, and later calls return 0 instead of
/// throwing ObjectDisposedException. The descriptor is closed only after the last call in progress returned,
/// so a recycled descriptor number is never read from or written to.
/// </summary>
public sealed unsafe class BatchedUdpSocket : IDisposable
{
    private const int ClosedFlag = 1;
    private const int CallUnit = 2;

    private readonly int _fd;
    private readonly int _family;
    private int _state;                 // CallUnit * calls in progress | ClosedFlag
    private long _sendFailures;
    private int _lastSendErrno;

    private BatchedUdpSocket(int fd, int family, IPEndPoint local, int receiveBuffer, bool timestamps, bool transmitTimestamps = false, bool hardwareTimestamps = false)
    {
        TransmitTimestampsEnabled = transmitTimestamps;
        HardwareTimestampsEnabled = hardwareTimestamps;
        _fd = fd;
        _family = family;
        LocalEndPoint = local;
        EffectiveReceiveBufferBytes = receiveBuffer;
        KernelTimestampsEnabled = timestamps;
    }

    ~BatchedUdpSocket() => Dispose();

    /// <summary>The bound address with the real port (after binding port 0).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>SO_RCVBUF as read back after setting it (the kernel reports twice the requested bytes).</summary>
    public int EffectiveReceiveBufferBytes { get; }

    /// <summary>True when SO_TIMESTAMPNS was accepted, so received slots carry kernel timestamps.</summary>
    public bool KernelTimestampsEnabled { get; }

    /// <summary>True when SO_TIMESTAMPING accepted software transmit timestamps (asked for with <see cref="UdpSocketOptions.TransmitTimestamps"/>).</summary>
    public bool TransmitTimestampsEnabled { get; }

    /// <summary>
    /// True when SO_TIMESTAMPING accepted the hardware flags (asked for with <see cref="UdpSocketOptions.HardwareTimestamps"/>):
    /// datagrams through an interface whose NIC stamps them carry <see cref="DatagramBatch.HardwareTimestampNanoseconds"/>,
    /// and, with transmit timestamps on, the reports of sent ones <see cref="TransmitTimestamp.HardwareNanoseconds"/>.
    /// Interfaces without hardware stamping still give the software stamps.
    /// </summary>
    public bool HardwareTimestampsEnabled { get; }

    /// <summary>The address family of the socket (InterNetwork or InterNetworkV6).</summary>
    public AddressFamily AddressFamily => _family == LibC.AF_INET ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;

    /// <summary>Datagrams that Send dropped because the kernel refused them (or an IPv6 destination on an IPv4 socket).</summary>
    public long SendFailures => Interlocked.Read(ref _sendFailures);

    /// <summary>The errno of the last datagram the kernel refused in Send (0 if none, -1 for an unsendable address).</summary>
    public int LastSendErrno => Volatile.Read(ref _lastSendErrno);

    /// <summary>True once Dispose was called.</summary>
    public bool IsDisposed => (Volatile.Read(ref _state) & ClosedFlag) != 0;

    /// <summary>
    /// Creates a UDP socket for <paramref name="local"/>'s family, applies <paramref name="options"/> and binds.
    /// IPv6 sockets get IPV6_V6ONLY=1. Errors are SocketExceptions naming the endpoint and the errno text.
    /// </summary>
    public static BatchedUdpSocket Bind(IPEndPoint local, UdpSocketOptions options)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(options);
        Layout.EnsureSupported();
        int family = local.AddressFamily switch
        {
            AddressFamily.InterNetwork => LibC.AF_INET,
            AddressFamily.InterNetworkV6 => LibC.AF_INET6,
            _ => throw new ArgumentException($"not an IPv4 or IPv6 endpoint: {local}", nameof(local)),
        };

        int fd = LibC.Socket(family, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, LibC.IPPROTO_UDP);
        if (fd < 0)
            throw SocketErrors.Exception(Marshal.GetLastPInvokeError(), $"cannot create a UDP socket for {local}");
        try
        {
            if (family == LibC.AF_INET6)
                SetInt(fd, LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, 1, local, "IPV6_V6ONLY");
            if (options.ReusePort)
                SetInt(fd, LibC.SOL_SOCKET, LibC.SO_REUSEPORT, 1, local, "SO_REUSEPORT");
            if (options.ReceiveBufferBytes > 0)
                SetReceiveBuffer(fd, options.ReceiveBufferBytes, local);
            bool timestamps = options.KernelTimestamps && TrySetInt(fd, LibC.SOL_SOCKET, LibC.SO_TIMESTAMPNS, 1);
            bool hardware = options.HardwareTimestamps && SetTimestamping(fd, options.TransmitTimestamps, hardware: true);
            bool transmitTimestamps = options.TransmitTimestamps && (hardware || SetTimestamping(fd, transmit: true, hardware: false));
            SetReceiveTimeout(fd, options.ReceiveTimeout, local);

            byte* address = stackalloc byte[Layout.NameSlotBytes];
            new Span<byte>(address, Layout.NameSlotBytes).Clear();
            uint addressLength = PeerAddress.FromEndPoint(local).WriteSockAddr(address, family);
            if (family == LibC.AF_INET6)
                *(uint*)(address + 24) = (uint)local.Address.ScopeId;
            if (LibC.Bind(fd, address, addressLength) != 0)
                throw SocketErrors.Exception(Marshal.GetLastPInvokeError(), $"cannot bind {local}");

            uint nameLength = Layout.NameSlotBytes;
            if (LibC.GetSockName(fd, address, &nameLength) != 0)
                throw SocketErrors.Exception(Marshal.GetLastPInvokeError(), $"getsockname after binding {local}");
            var bound = new IPEndPoint(local.Address, PeerAddress.FromSockAddr(address, nameLength).Port);

            int effective = GetInt(fd, LibC.SOL_SOCKET, LibC.SO_RCVBUF);
            return new BatchedUdpSocket(fd, family, bound, effective, timestamps, transmitTimestamps, hardware);
        }
        catch
        {
            LibC.Close(fd);
            throw;
        }
    }

    /// <summary>
    /// recvmmsg with MSG_WAITFORONE: blocks until at least one datagram arrives or the receive timeout passes,
    /// then takes whatever else is already queued, up to the batch capacity. Returns the count; 0 on timeout,
    /// on EINTR and after Dispose. For every received slot Destination = Source and OutgoingLength = 0.
    /// </summary>
    public int Receive(DatagramBatch batch) => ReceiveCore(batch, LibC.MSG_WAITFORONE);

    /// <summary>Like <see cref="Receive"/> but never blocks (MSG_DONTWAIT): 0 when nothing is waiting.</summary>
    public int ReceiveNonBlocking(DatagramBatch batch) => ReceiveCore(batch, LibC.MSG_DONTWAIT);

    /// <summary>
    /// sendmmsg of every slot i &lt; <paramref name="count"/> whose OutgoingLength(i) &gt; 0, each to Destination(i),
    /// repeating the call after partial sends. A datagram the kernel refuses (unreachable address, wrong family…)
    /// is skipped and counted in <see cref="SendFailures"/> so one bad peer cannot stop a server. Returns the
    /// number of datagrams sent (0 after Dispose).
    /// </summary>
    public int Send(DatagramBatch batch, int count)
    {
        ArgumentNullException.ThrowIfNull(batch);
        MMsgHdr* headers = batch.PrepareSend(count, _family, out int packed, out int unsendable);
        if (unsendable != 0)
        {
            Interlocked.Add(ref _sendFailures, unsendable);
            Volatile.Write(ref _lastSendErrno, -1);
        }
        if (packed == 0)
            return 0;
        if (!TryEnter())
            return 0;
        int sent = 0;
        try
        {
            int position = 0;
            int interrupts = 0;
            while (position < packed)
            {
                int result = LibC.SendMMsg(_fd, headers + position, (uint)(packed - position), 0);
                if (result > 0)
                {
                    position += result;
                    sent += result;
                    continue;
                }
                int errno = result < 0 ? Marshal.GetLastPInvokeError() : LibC.EAGAIN;
                if ((errno == LibC.EINTR || errno == LibC.EAGAIN) && ++interrupts < 16)
                    continue;
                if (errno == LibC.EBADF || IsDisposed)
                    break;
                // The datagram at 'position' was refused: drop it and carry on with the rest.
                Interlocked.Increment(ref _sendFailures);
                Volatile.Write(ref _lastSendErrno, errno);
                position++;
                interrupts = 0;
            }
        }
        finally
        {
            Exit();
        }
        GC.KeepAlive(batch);
        return sent;
    }

    /// <summary>
    /// The kernel's CLOCK_REALTIME time (ns since 1970) at which the oldest datagram sent and not yet read back
    /// here was handed to the network device (SCM_TSTAMP_SND from the error queue), waiting up to
    /// <paramref name="wait"/> for it to be queued. 0 when transmit timestamps are off, none came in time, or
    /// after Dispose. <paramref name="id"/> is the datagram's number on this socket (0 for the first one sent).
    /// Reads only the error queue; received datagrams stay queued for <see cref="Receive"/>.
    /// </summary>
    public long ReadTransmitTimestampUnixNanoseconds(TimeSpan wait, out uint id)
    {
        var stamp = ReadTransmitTimestamp(wait);
        id = stamp.Id;
        return stamp.UnixNanoseconds;
    }

    /// <summary>
    /// Like <see cref="ReadTransmitTimestampUnixNanoseconds"/>, with the NIC's hardware stamp when the socket has
    /// <see cref="HardwareTimestampsEnabled"/> and the datagram left through an interface that gives one (then the kernel
    /// reports that one instead of the software stamp). Both stamps 0 when none came in time.
    /// </summary>
    public TransmitTimestamp ReadTransmitTimestamp(TimeSpan wait)
    {
        if (!TransmitTimestampsEnabled || !TryEnter())
            return default;
        try
        {
            long deadline = System.Diagnostics.Stopwatch.GetTimestamp()
                + (long)(Math.Max(0, wait.TotalSeconds) * System.Diagnostics.Stopwatch.Frequency);
            while (true)
            {
                if (TryReadErrorQueue(out long stamp, out long hardwareStamp, out uint id, out bool gotMessage) && (stamp != 0 || hardwareStamp != 0))
                    return new TransmitTimestamp(id, stamp, hardwareStamp);
                if (gotMessage)
                    continue;   // something else was queued (another kind of report): look at the next one
                long remaining = deadline - System.Diagnostics.Stopwatch.GetTimestamp();
                if (remaining <= 0 || IsDisposed)
                    return default;
                var poll = new PollFd { Fd = _fd, Events = 0 };   // POLLERR is always reported
                int ms = (int)Math.Clamp(remaining * 1000 / System.Diagnostics.Stopwatch.Frequency + 1, 1, 1000);
                LibC.Poll(&poll, 1, ms);
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>The most transmit timestamps <see cref="ReadTransmitTimestamps"/> takes per system call.</summary>
    public const int MaxTransmitTimestampsPerRead = 64;

    /// <summary>
    /// Takes the transmit timestamps the kernel has queued so far (SCM_TSTAMP_SND from the error queue), without
    /// waiting: one recvmmsg(MSG_ERRQUEUE | MSG_DONTWAIT) for up to <see cref="MaxTransmitTimestampsPerRead"/> of
    /// them. Returns how many were written to <paramref name="stamps"/>; 0 when none is queued, when transmit
    /// timestamps are off, and after Dispose. Other error-queue reports are consumed and skipped. Allocates nothing;
    /// received datagrams stay queued for <see cref="Receive"/>.
    /// </summary>
    public int ReadTransmitTimestamps(Span<TransmitTimestamp> stamps)
    {
        if (!TransmitTimestampsEnabled || stamps.IsEmpty || !TryEnter())
            return 0;
        try
        {
            const int ControlBytes = 128;   // CMSG_SPACE(scm_timestamping) 64 + CMSG_SPACE(sock_extended_err + sockaddr_in6) 64
            const int PayloadBytes = 16;    // OPT_TSONLY: no payload comes back; room for a stray one (truncated)
            int count = Math.Min(stamps.Length, MaxTransmitTimestampsPerRead);
            MMsgHdr* headers = stackalloc MMsgHdr[count];
            IoVec* iov = stackalloc IoVec[count];
            byte* control = stackalloc byte[count * ControlBytes];
            byte* payload = stackalloc byte[count * PayloadBytes];
            for (int i = 0; i < count; i++)
            {
                iov[i] = new IoVec { Base = payload + i * PayloadBytes, Length = PayloadBytes };
                headers[i] = new MMsgHdr
                {
                    Header = new MsgHdr { Iov = iov + i, IovLength = 1, Control = control + i * ControlBytes, ControlLength = ControlBytes },
                };
            }
            int result = LibC.RecvMMsg(_fd, headers, (uint)count, LibC.MSG_ERRQUEUE | LibC.MSG_DONTWAIT, null);
            int written = 0;
            for (int i = 0; i < result; i++)
            {
                nuint length = Math.Min(headers[i].Header.ControlLength, (nuint)ControlBytes);
                if (TryParseSendStamp(control + i * ControlBytes, length, out long stamp, out long hardwareStamp, out uint id))
                    stamps[written++] = new TransmitTimestamp(id, stamp, hardwareStamp);
            }
            return written;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Turns the kernel's transmit timestamps of a socket bound with them (<see cref="TransmitTimestampsEnabled"/>) off
    /// or on again, e.g. so a server pays for them only once a client uses them. Turning them on numbers the next
    /// timestamped datagram 0. False when they were never enabled, after Dispose, or when the kernel refused.
    /// </summary>
    public bool SetTransmitTimestamps(bool on)
    {
        if (!TransmitTimestampsEnabled || !TryEnter())
            return false;
        try
        {
            // Off keeps the hardware receive flags of a socket that has them.
            return SetTimestamping(_fd, on, HardwareTimestampsEnabled);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Makes the kernel number the next timestamped datagram 0 again (SO_TIMESTAMPING off, then on with OPT_ID), for a
    /// sender that lost count, e.g. after a refused datagram. Stamps already queued keep their old numbers: read them
    /// first. False when transmit timestamps are off, after Dispose, or when the kernel refused.
    /// </summary>
    public bool ResetTransmitTimestampIds()
    {
        if (!TransmitTimestampsEnabled || !TryEnter())
            return false;
        try
        {
            return SetTimestamping(_fd, transmit: false, HardwareTimestampsEnabled) && SetTimestamping(_fd, transmit: true, HardwareTimestampsEnabled);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>The SCM_TSTAMP_SND report in one error-queue message's control data: its software or hardware stamp and datagram number.</summary>
    private static bool TryParseSendStamp(byte* control, nuint length, out long stampNs, out long hardwareNs, out uint id)
    {
        stampNs = 0;
        hardwareNs = 0;
        id = 0;
        bool isSendStamp = false;
        nuint offset = 0;
        while (offset + Layout.CMsgHdrSize <= length)
        {
            byte* cmsg = control + offset;
            nuint cmsgLength = *(nuint*)cmsg;
            if (cmsgLength < Layout.CMsgHdrSize || offset + cmsgLength > length)
                break;
            int level = *(int*)(cmsg + 8);
            int type = *(int*)(cmsg + 12);
            byte* data = cmsg + Layout.CMsgHdrSize;
            if (level == LibC.SOL_SOCKET && type == LibC.SCM_TIMESTAMPING && cmsgLength >= Layout.CMsgHdrSize + Layout.TimeSpecSize)
            {
                TimeSpec64* ts = (TimeSpec64*)data;   // ts[0]: software, ts[2]: raw hardware
                stampNs = ts->Seconds * 1_000_000_000L + ts->Fraction;
                if (cmsgLength >= Layout.CMsgHdrSize + 3 * Layout.TimeSpecSize)
                    hardwareNs = ts[2].Seconds * 1_000_000_000L + ts[2].Fraction;
            }
            else if (((level == LibC.SOL_IP && type == LibC.IP_RECVERR) || (level == LibC.SOL_IPV6 && type == LibC.IPV6_RECVERR))
                     && cmsgLength >= Layout.CMsgHdrSize + 16)
            {
                isSendStamp = data[4] == LibC.SO_EE_ORIGIN_TIMESTAMPING && *(uint*)(data + 8) == LibC.SCM_TSTAMP_SND;
                id = *(uint*)(data + 12);
            }
            offset += (cmsgLength + 7) & ~(nuint)7;   // CMSG_ALIGN
        }
        return isSendStamp && (stampNs != 0 || hardwareNs != 0);
    }

    /// <summary>One recvmsg(MSG_ERRQUEUE | MSG_DONTWAIT): false when the queue was empty.</summary>
    private bool TryReadErrorQueue(out long stampNs, out long hardwareNs, out uint id, out bool gotMessage)
    {
        stampNs = 0;
        hardwareNs = 0;
        id = 0;
        gotMessage = false;
        const int ControlBytes = 256;
        byte* control = stackalloc byte[ControlBytes];
        byte* payload = stackalloc byte[64];
        IoVec iov = new() { Base = payload, Length = 64 };
        MsgHdr header = new() { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlBytes };
        nint result = LibC.RecvMsg(_fd, &header, LibC.MSG_ERRQUEUE | LibC.MSG_DONTWAIT);
        if (result < 0)
            return false;
        gotMessage = true;
        long software = 0, hardware = 0;
        bool isSendStamp = false;
        foreach (ControlMessage message in new ControlMessages(control, header.ControlLength, ControlBytes))
        {
            if (message.Level == LibC.SOL_SOCKET && message.Type == LibC.SCM_TIMESTAMPING && message.DataLength >= Layout.TimeSpecSize)
            {
                // struct scm_timestamping: ts[0] software, ts[1] deprecated, ts[2] hardware.
                software = message.TimeSpecUnixNanoseconds();
                if (message.DataLength >= 3 * Layout.TimeSpecSize)
                {
                    TimeSpec64* ts = (TimeSpec64*)message.Data;
                    hardware = ts[2].Seconds * 1_000_000_000L + ts[2].Fraction;
                }
            }
            else if (((message.Level == LibC.SOL_IP && message.Type == LibC.IP_RECVERR) || (message.Level == LibC.SOL_IPV6 && message.Type == LibC.IPV6_RECVERR))
                     && message.DataLength >= 16)
            {
                // struct sock_extended_err: u32 errno; u8 origin, type, code, pad; u32 info; u32 data.
                byte* data = message.Data;
                byte origin = data[4];
                uint info = *(uint*)(data + 8);
                isSendStamp = origin == LibC.SO_EE_ORIGIN_TIMESTAMPING && info == LibC.SCM_TSTAMP_SND;
                id = *(uint*)(data + 12);
            }
        }
        if (isSendStamp)
        {
            stampNs = software;
            hardwareNs = hardware;
        }
        return true;
    }

    /// <summary>
    /// Stops the socket: wakes a blocked Receive (shutdown), and closes the descriptor once no call is in progress.
    /// </summary>
    public void Dispose()
    {
        // Hold a call reference while touching the descriptor so it cannot be closed (and its number reused) under us.
        if (!TryEnter())
            return;
        int state = Volatile.Read(ref _state);
        while (true)
        {
            if ((state & ClosedFlag) != 0)
            {
                Exit();             // another thread is disposing
                return;
            }
            int seen = Interlocked.CompareExchange(ref _state, state | ClosedFlag, state);
            if (seen == state)
                break;
            state = seen;
        }
        GC.SuppressFinalize(this);
        if (state != CallUnit)
            LibC.Shutdown(_fd, LibC.SHUT_RDWR);   // wakes blocked receivers (ENOTCONN for unconnected UDP is expected)
        Exit();                                    // the last call out closes the descriptor
    }

    private int ReceiveCore(DatagramBatch batch, int flags)
    {
        ArgumentNullException.ThrowIfNull(batch);
        MMsgHdr* headers = batch.PrepareReceive();
        if (!TryEnter())
            return 0;
        int result;
        int errno = 0;
        try
        {
            result = LibC.RecvMMsg(_fd, headers, (uint)batch.Capacity, flags, null);
            if (result < 0)
                errno = Marshal.GetLastPInvokeError();
        }
        finally
        {
            Exit();
        }
        GC.KeepAlive(batch);
        if (result > 0)
        {
            if (IsDisposed)
            {
                batch.InvalidateReceiveHeaders();
                return 0;   // a shutdown wakes receivers with empty pseudo-datagrams
            }
            batch.CompleteReceive(result);
            return result;
        }
        batch.InvalidateReceiveHeaders();
        if (result == 0 || errno == LibC.EAGAIN || errno == LibC.EINTR || IsDisposed)
            return 0;
        throw SocketErrors.Exception(errno, $"recvmmsg on {LocalEndPoint}");
    }

    private bool TryEnter()
    {
        int state = Volatile.Read(ref _state);
        while (true)
        {
            if ((state & ClosedFlag) != 0)
                return false;
            int seen = Interlocked.CompareExchange(ref _state, state + CallUnit, state);
            if (seen == state)
                return true;
            state = seen;
        }
    }

    private void Exit()
    {
        // After ClosedFlag is set no call can enter, so the count reaches zero exactly once.
        if (Interlocked.Add(ref _state, -CallUnit) == ClosedFlag)
            LibC.Close(_fd);
    }

    private static void SetReceiveBuffer(int fd, int bytes, IPEndPoint local)
    {
        int max = ReadRmemMax();
        if (max > 0 && bytes > max && TrySetInt(fd, LibC.SOL_SOCKET, LibC.SO_RCVBUFFORCE, bytes))
            return;
        SetInt(fd, LibC.SOL_SOCKET, LibC.SO_RCVBUF, bytes, local, "SO_RCVBUF");
    }

    private static int ReadRmemMax()
    {
        try
        {
            return int.TryParse(File.ReadAllText("/proc/sys/net/core/rmem_max").Trim(), out int value) ? value : 0;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static void SetReceiveTimeout(int fd, TimeSpan timeout, IPEndPoint local)
    {
        TimeSpec64 value = default;   // zero = block without limit
        if (timeout > TimeSpan.Zero)
        {
            long micros = Math.Max(1, (long)Math.Ceiling(timeout.TotalMicroseconds));
            value.Seconds = micros / 1_000_000;
            value.Fraction = micros % 1_000_000;
        }
        if (LibC.SetSockOpt(fd, LibC.SOL_SOCKET, LibC.SO_RCVTIMEO, &value, (uint)sizeof(TimeSpec64)) != 0)
            throw SocketErrors.Exception(Marshal.GetLastPInvokeError(), $"cannot set SO_RCVTIMEO on {local}");
    }

    /// <summary>
    /// The SO_TIMESTAMPING flags for software transmit stamps (<paramref name="transmit"/>) and the NIC's hardware stamps
    /// (<paramref name="hardware"/>: raw hardware receive stamps with the interface they came in on, and hardware transmit
    /// stamps when <paramref name="transmit"/>). Without OPT_TX_SWHW the kernel reports one transmit stamp per datagram:
    /// the hardware one where the NIC made it, else the software one, so numbering by OPT_ID stays one report a datagram.
    /// </summary>
    internal static int TimestampingFlags(bool transmit, bool hardware)
    {
        int flags = 0;
        if (transmit)
            flags |= LibC.SOF_TIMESTAMPING_TX_SOFTWARE | LibC.SOF_TIMESTAMPING_SOFTWARE | LibC.SOF_TIMESTAMPING_OPT_ID | LibC.SOF_TIMESTAMPING_OPT_TSONLY;
        if (hardware)
            flags |= LibC.SOF_TIMESTAMPING_RX_HARDWARE | LibC.SOF_TIMESTAMPING_RAW_HARDWARE | LibC.SOF_TIMESTAMPING_OPT_PKTINFO
                     | (transmit ? LibC.SOF_TIMESTAMPING_TX_HARDWARE : 0);
        return flags;
    }

    private static bool SetTimestamping(int fd, bool transmit, bool hardware)
    {
        int flags = TimestampingFlags(transmit, hardware);
        if (flags == 0)
            return TrySetInt(fd, LibC.SOL_SOCKET, LibC.SO_TIMESTAMPING, 0);
        // RX_FILTER keeps received datagrams to their SCM_TIMESTAMPNS (and the hardware stamp, when asked for) alone; older
        // kernels refuse it, and then a software stamp may come in the SCM_TIMESTAMPING message too, which readers skip.
        return TrySetInt(fd, LibC.SOL_SOCKET, LibC.SO_TIMESTAMPING, flags | LibC.SOF_TIMESTAMPING_OPT_RX_FILTER)
               || TrySetInt(fd, LibC.SOL_SOCKET, LibC.SO_TIMESTAMPING, flags);
    }

    private static bool TrySetInt(int fd, int level, int name, int value) =>
        LibC.SetSockOpt(fd, level, name, &value, sizeof(int)) == 0;

    private static void SetInt(int fd, int level, int name, int value, IPEndPoint local, string what)
    {
        if (!TrySetInt(fd, level, name, value))
            throw SocketErrors.Exception(Marshal.GetLastPInvokeError(), $"cannot set {what} on {local}");
    }

    private static int GetInt(int fd, int level, int name)
    {
        int value = 0;
        uint length = sizeof(int);
        return LibC.GetSockOpt(fd, level, name, &value, &length) == 0 ? value : 0;
    }
}
