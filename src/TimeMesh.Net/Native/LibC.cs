using System.Runtime.InteropServices;

namespace TimeMesh.Net.Native;

/// <summary>
/// The few libc socket calls we need, with Linux (x86_64 / arm64, asm-generic) constants.
/// Every import is blittable (ints and raw pointers), so the generated stubs do not allocate.
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc";

    // address families, socket types
    internal const int AF_INET = 2;
    internal const int AF_INET6 = 10;
    internal const int SOCK_DGRAM = 2;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int IPPROTO_UDP = 17;
    internal const int IPPROTO_IPV6 = 41;

    // socket options (asm-generic/socket.h, used by both x86_64 and arm64)
    internal const int SOL_SOCKET = 1;
    internal const int SO_RCVBUF = 8;
    internal const int SO_REUSEPORT = 15;
    internal const int SO_RCVTIMEO = 20;      // SO_RCVTIMEO_OLD: struct timeval with 64-bit fields on 64-bit targets
    internal const int SO_RCVBUFFORCE = 33;
    internal const int SO_TIMESTAMPNS = 35;   // SO_TIMESTAMPNS_OLD: struct timespec with 64-bit fields
    internal const int SCM_TIMESTAMPNS = SO_TIMESTAMPNS;
    internal const int IPV6_V6ONLY = 26;

    // transmit timestamps (linux/net_tstamp.h, linux/errqueue.h)
    internal const int SO_TIMESTAMPING = 37;  // SO_TIMESTAMPING_OLD: three struct timespec with 64-bit fields
    internal const int SCM_TIMESTAMPING = SO_TIMESTAMPING;
    internal const int SOF_TIMESTAMPING_TX_HARDWARE = 1 << 0;
    internal const int SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1;
    internal const int SOF_TIMESTAMPING_RX_HARDWARE = 1 << 2;
    internal const int SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3;
    internal const int SOF_TIMESTAMPING_SOFTWARE = 1 << 4;
    internal const int SOF_TIMESTAMPING_SYS_HARDWARE = 1 << 5;
    internal const int SOF_TIMESTAMPING_RAW_HARDWARE = 1 << 6;
    internal const int SOF_TIMESTAMPING_OPT_ID = 1 << 7;
    internal const int SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11;
    internal const int SOF_TIMESTAMPING_OPT_PKTINFO = 1 << 13;   // SCM_TIMESTAMPING_PKTINFO (the interface) with hardware receive stamps
    internal const int SCM_TIMESTAMPING_PKTINFO = 58;
    internal const int SOF_TIMESTAMPING_OPT_RX_FILTER = 1 << 17;   // no SCM_TIMESTAMPING on received datagrams (Linux 6.1+)
    internal const int SOL_IP = 0;
    internal const int IP_RECVERR = 11;
    internal const int SOL_IPV6 = 41;
    internal const int IPV6_RECVERR = 25;
    internal const byte SO_EE_ORIGIN_TIMESTAMPING = 4;
    internal const uint SCM_TSTAMP_SND = 0;
    internal const short POLLERR = 0x8;

    // message flags
    internal const int MSG_CTRUNC = 0x8;
    internal const int MSG_TRUNC = 0x20;
    internal const int MSG_ERRQUEUE = 0x2000;
    internal const int MSG_DONTWAIT = 0x40;
    internal const int MSG_WAITFORONE = 0x10000;

    internal const int SHUT_RDWR = 2;

    // hardware timestamping (linux/sockios.h, linux/ethtool.h, linux/net_tstamp.h, linux/ptp_clock.h)
    internal const uint SIOCETHTOOL = 0x8946;
    internal const uint SIOCSHWTSTAMP = 0x89b0;
    internal const uint SIOCGHWTSTAMP = 0x89b1;
    internal const uint ETHTOOL_GET_TS_INFO = 0x41;
    /// <summary>_IOWR('=', 9, struct ptp_sys_offset_extended) (1216 bytes).</summary>
    internal const uint PTP_SYS_OFFSET_EXTENDED = 0xC4C03D09;
    /// <summary>_IOW('=', 5, struct ptp_sys_offset) (832 bytes).</summary>
    internal const uint PTP_SYS_OFFSET = 0x43403D05;
    internal const int PTP_MAX_SAMPLES = 25;
    internal const int O_RDONLY = 0;
    internal const int O_CLOEXEC = 0x80000;
    internal const int IFNAMSIZ = 16;

    // errno values (asm-generic/errno-base.h, errno.h)
    internal const int EPERM = 1;
    internal const int EINTR = 4;
    internal const int EBADF = 9;
    internal const int EAGAIN = 11;           // == EWOULDBLOCK
    internal const int ENOMEM = 12;
    internal const int EACCES = 13;
    internal const int EINVAL = 22;
    internal const int ENFILE = 23;
    internal const int EMFILE = 24;
    internal const int ENODEV = 19;
    internal const int ENOTSOCK = 88;
    internal const int EMSGSIZE = 90;
    internal const int EPROTONOSUPPORT = 93;
    internal const int EOPNOTSUPP = 95;
    internal const int EAFNOSUPPORT = 97;
    internal const int EADDRINUSE = 98;
    internal const int EADDRNOTAVAIL = 99;
    internal const int ENETDOWN = 100;
    internal const int ENETUNREACH = 101;
    internal const int ENOBUFS = 105;
    internal const int ENOTCONN = 107;
    internal const int ECONNREFUSED = 111;
    internal const int EHOSTUNREACH = 113;

    /// <summary>UIO_MAXIOV: the kernel caps the vlen of recvmmsg/sendmmsg at this.</summary>
    internal const int UIO_MAXIOV = 1024;

    [LibraryImport(Lib, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Lib, EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    [LibraryImport(Lib, EntryPoint = "getsockopt", SetLastError = true)]
    internal static partial int GetSockOpt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport(Lib, EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(int fd, void* address, uint length);

    [LibraryImport(Lib, EntryPoint = "getsockname", SetLastError = true)]
    internal static partial int GetSockName(int fd, void* address, uint* length);

    [LibraryImport(Lib, EntryPoint = "recvmmsg", SetLastError = true)]
    internal static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport(Lib, EntryPoint = "sendmmsg", SetLastError = true)]
    internal static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    [LibraryImport(Lib, EntryPoint = "recvmsg", SetLastError = true)]
    internal static partial nint RecvMsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Lib, EntryPoint = "shutdown", SetLastError = true)]
    internal static partial int Shutdown(int fd, int how);

    /// <summary>ioctl(fd, request, argp): the variadic third argument is a pointer, passed as on a fixed signature (64-bit Linux).</summary>
    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport(Lib, EntryPoint = "if_nametoindex", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial uint IfNameToIndex(string name);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}

/// <summary>struct iovec (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public byte* Base;
    public nuint Length;
}

/// <summary>struct msghdr (56 bytes on 64-bit Linux).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MsgHdr
{
    public void* Name;
    public uint NameLength;
    public IoVec* Iov;
    public nuint IovLength;
    public void* Control;
    public nuint ControlLength;
    public int Flags;
}

/// <summary>struct mmsghdr (64 bytes on 64-bit Linux).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MMsgHdr
{
    public MsgHdr Header;
    public uint Length;
}

/// <summary>struct pollfd (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short ReturnedEvents;
}

/// <summary>struct timespec / struct timeval with 64-bit fields (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TimeSpec64
{
    public long Seconds;
    public long Fraction;   // nanoseconds (timespec) or microseconds (timeval)
}

/// <summary>Sizes and offsets of the C structs, checked once against what the runtime laid out.</summary>
internal static unsafe class Layout
{
    internal const int MsgHdrSize = 56;
    internal const int MMsgHdrSize = 64;
    internal const int CMsgHdrSize = 16;      // size_t cmsg_len; int cmsg_level; int cmsg_type
    internal const int TimeSpecSize = 16;
    internal const int SockAddrIn4Size = 16;
    internal const int SockAddrIn6Size = 28;
    /// <summary>Room kept per slot for a peer's sockaddr (sockaddr_in6 rounded up to 8 bytes).</summary>
    internal const int NameSlotBytes = 32;
    /// <summary>
    /// Room kept per slot for ancillary data: CMSG_SPACE(timespec) 32 for SCM_TIMESTAMPNS, and with hardware
    /// timestamps CMSG_SPACE(scm_timestamping) 64 and CMSG_SPACE(scm_ts_pktinfo) 32 besides.
    /// </summary>
    internal const int ControlSlotBytes = 128;

    /// <summary>Throws PlatformNotSupportedException unless this is 64-bit Linux with the expected layouts.</summary>
    internal static void EnsureSupported()
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("TimeMesh.Net batched sockets need Linux (recvmmsg/sendmmsg).");
        if (IntPtr.Size != 8 || !BitConverter.IsLittleEndian || sizeof(MsgHdr) != MsgHdrSize || sizeof(MMsgHdr) != MMsgHdrSize
            || sizeof(IoVec) != 16 || sizeof(TimeSpec64) != TimeSpecSize)
            throw new PlatformNotSupportedException(
                $"unexpected struct layout (pointer {IntPtr.Size}, msghdr {sizeof(MsgHdr)}, mmsghdr {sizeof(MMsgHdr)}): only 64-bit Linux is supported");
    }
}
