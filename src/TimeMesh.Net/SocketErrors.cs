using System.Net.Sockets;
using System.Runtime.InteropServices;
using TimeMesh.Net.Native;

namespace TimeMesh.Net;

/// <summary>Turns a Linux errno into a <see cref="SocketException"/> with a readable message.</summary>
internal static class SocketErrors
{
    /// <summary>
    /// Builds the exception. The errno comes first so callers read it before formatting the message: formatting
    /// an endpoint can run other interop that overwrites the saved last error.
    /// </summary>
    internal static SocketException Exception(int errno, string what)
    {
        string text = Marshal.GetPInvokeErrorMessage(errno);
        // SocketException takes a SocketError code and derives NativeErrorCode (the errno) from it; errnos
        // without a SocketError equivalent keep SocketError.SocketError.
        var exception = new SocketException((int)ToSocketError(errno), $"{what}: {text}");
        exception.Data["errno"] = errno;
        return exception;
    }

    internal static SocketError ToSocketError(int errno) => errno switch
    {
        LibC.EPERM or LibC.EACCES => SocketError.AccessDenied,
        LibC.EINTR => SocketError.Interrupted,
        LibC.EBADF => SocketError.OperationAborted,
        LibC.EAGAIN => SocketError.WouldBlock,
        LibC.ENOMEM or LibC.ENOBUFS => SocketError.NoBufferSpaceAvailable,
        LibC.EINVAL => SocketError.InvalidArgument,
        LibC.ENFILE or LibC.EMFILE => SocketError.TooManyOpenSockets,
        LibC.ENOTSOCK => SocketError.NotSocket,
        LibC.EMSGSIZE => SocketError.MessageSize,
        LibC.EPROTONOSUPPORT => SocketError.ProtocolNotSupported,
        LibC.EOPNOTSUPP => SocketError.OperationNotSupported,
        LibC.EAFNOSUPPORT => SocketError.AddressFamilyNotSupported,
        LibC.EADDRINUSE => SocketError.AddressAlreadyInUse,
        LibC.EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        LibC.ENETDOWN => SocketError.NetworkDown,
        LibC.ENETUNREACH => SocketError.NetworkUnreachable,
        LibC.ENOTCONN => SocketError.NotConnected,
        LibC.ECONNREFUSED => SocketError.ConnectionRefused,
        LibC.EHOSTUNREACH => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };
}
