using System.Runtime.InteropServices;
using TimeMesh.Net.Native;

namespace TimeMesh.Net;

/// <summary>
/// A reusable set of datagram slots in native memory for <see cref="BatchedUdpSocket.Receive"/> and
/// <see cref="BatchedUdpSocket.Send"/>: every slot has a receive buffer, an outgoing buffer, a source and a
/// destination address. Everything is allocated once by the constructor; no call allocates managed memory.
/// Not thread-safe: one batch belongs to one loop at a time (a batch may be used with several sockets).
/// Receiving and sending use separate memory, so one batch can hold received requests and their replies.
/// </summary>
public sealed unsafe class DatagramBatch : IDisposable
{
    /// <summary>The kernel takes at most this many messages per recvmmsg/sendmmsg call (UIO_MAXIOV).</summary>
    public const int MaxCapacity = LibC.UIO_MAXIOV;

    /// <summary>Largest buffer per slot: a UDP payload is at most 65 507 (IPv4) / 65 527 (IPv6) bytes.</summary>
    public const int MaxBufferBytes = 65536;

    private const nuint Alignment = 64;

    private readonly int _capacity;
    private readonly int _bufferBytes;
    private byte* _memory;
    private readonly MMsgHdr* _receiveHeaders;
    private readonly MMsgHdr* _sendHeaders;
    private readonly IoVec* _receiveIov;
    private readonly IoVec* _sendIov;
    private readonly byte* _sourceNames;
    private readonly byte* _destinationNames;
    private readonly byte* _control;
    private readonly int* _outgoingLengths;
    private readonly PeerAddress* _destinations;
    private readonly byte* _receiveBuffers;
    private readonly byte* _outgoingBuffers;
    private int _receiveHeadersDirty;   // slots whose receive headers the kernel changed since the last reset

    /// <summary>Allocates <paramref name="capacity"/> slots of <paramref name="bufferBytes"/> bytes each (twice: in and out).</summary>
    public DatagramBatch(int capacity = 32, int bufferBytes = 2048)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bufferBytes, MaxBufferBytes);
        Layout.EnsureSupported();
        _capacity = capacity;
        _bufferBytes = bufferBytes;

        nuint n = (nuint)capacity;
        nuint offset = 0;
        nuint receiveHeaders = Take(ref offset, n * Layout.MMsgHdrSize);
        nuint sendHeaders = Take(ref offset, n * Layout.MMsgHdrSize);
        nuint receiveIov = Take(ref offset, n * (nuint)sizeof(IoVec));
        nuint sendIov = Take(ref offset, n * (nuint)sizeof(IoVec));
        nuint sourceNames = Take(ref offset, n * Layout.NameSlotBytes);
        nuint destinationNames = Take(ref offset, n * Layout.NameSlotBytes);
        nuint control = Take(ref offset, n * Layout.ControlSlotBytes);
        nuint outgoingLengths = Take(ref offset, n * sizeof(int));
        nuint destinations = Take(ref offset, n * (nuint)sizeof(PeerAddress));
        nuint receiveBuffers = Take(ref offset, n * (nuint)bufferBytes);
        nuint outgoingBuffers = Take(ref offset, n * (nuint)bufferBytes);

        _memory = (byte*)NativeMemory.AlignedAlloc(offset, Alignment);
        NativeMemory.Clear(_memory, offset);
        _receiveHeaders = (MMsgHdr*)(_memory + receiveHeaders);
        _sendHeaders = (MMsgHdr*)(_memory + sendHeaders);
        _receiveIov = (IoVec*)(_memory + receiveIov);
        _sendIov = (IoVec*)(_memory + sendIov);
        _sourceNames = _memory + sourceNames;
        _destinationNames = _memory + destinationNames;
        _control = _memory + control;
        _outgoingLengths = (int*)(_memory + outgoingLengths);
        _destinations = (PeerAddress*)(_memory + destinations);
        _receiveBuffers = _memory + receiveBuffers;
        _outgoingBuffers = _memory + outgoingBuffers;

        for (int i = 0; i < capacity; i++)
        {
            MMsgHdr* h = _receiveHeaders + i;
            h->Header.Name = _sourceNames + (nint)i * Layout.NameSlotBytes;
            h->Header.Iov = _receiveIov + i;
            h->Header.IovLength = 1;
            h->Header.Control = _control + (nint)i * Layout.ControlSlotBytes;
            _receiveIov[i].Base = _receiveBuffers + (nint)i * bufferBytes;
            _receiveIov[i].Length = (nuint)bufferBytes;
            _sendIov[i].Base = _outgoingBuffers + (nint)i * bufferBytes;
        }
        _receiveHeadersDirty = capacity;
        ResetReceiveHeaders();
    }

    ~DatagramBatch() => Free();

    /// <summary>Number of slots.</summary>
    public int Capacity => _capacity;

    /// <summary>Bytes per slot buffer (received datagrams longer than this are truncated).</summary>
    public int BufferBytes => _bufferBytes;

    /// <summary>The datagram received into slot <paramref name="i"/> (msg_len bytes, at most <see cref="BufferBytes"/>).</summary>
    public ReadOnlySpan<byte> Received(int i)
    {
        CheckSlot(i);
        uint length = _receiveHeaders[i].Length;
        return new ReadOnlySpan<byte>(_receiveBuffers + (nint)i * _bufferBytes, (int)Math.Min(length, (uint)_bufferBytes));
    }

    /// <summary>MSG_TRUNC: the datagram in slot <paramref name="i"/> was larger than <see cref="BufferBytes"/>.</summary>
    public bool IsTruncated(int i)
    {
        CheckSlot(i);
        return (_receiveHeaders[i].Header.Flags & LibC.MSG_TRUNC) != 0;
    }

    /// <summary>The kernel's CLOCK_REALTIME arrival time (SCM_TIMESTAMPNS) of slot <paramref name="i"/> in ns since 1970, 0 when absent.</summary>
    public long KernelTimestampUnixNanoseconds(int i)
    {
        CheckSlot(i);
        var messages = new ControlMessages(_control + (nint)i * Layout.ControlSlotBytes, _receiveHeaders[i].Header.ControlLength, Layout.ControlSlotBytes);
        foreach (ControlMessage message in messages)
        {
            if (message.Level == LibC.SOL_SOCKET && message.Type == LibC.SCM_TIMESTAMPNS && message.DataLength >= Layout.TimeSpecSize)
                return message.TimeSpecUnixNanoseconds();
        }
        return 0;
    }

    /// <summary>
    /// The NIC's raw hardware arrival time of slot <paramref name="i"/> (SCM_TIMESTAMPING ts[2], ns in the time scale of
    /// the interface's PTP hardware clock, not the system's), 0 when absent (the socket was not bound with
    /// <see cref="UdpSocketOptions.HardwareTimestamps"/>, or the datagram came through an interface without them).
    /// <paramref name="interfaceIndex"/> is the interface it came in on (SCM_TIMESTAMPING_PKTINFO), 0 when unknown.
    /// </summary>
    public long HardwareTimestampNanoseconds(int i, out int interfaceIndex)
    {
        CheckSlot(i);
        interfaceIndex = 0;
        long stamp = 0;
        var messages = new ControlMessages(_control + (nint)i * Layout.ControlSlotBytes, _receiveHeaders[i].Header.ControlLength, Layout.ControlSlotBytes);
        foreach (ControlMessage message in messages)
        {
            if (message.Level != LibC.SOL_SOCKET) continue;
            if (message.Type == LibC.SCM_TIMESTAMPING && message.DataLength >= 3 * Layout.TimeSpecSize)
            {
                TimeSpec64* ts = (TimeSpec64*)message.Data;   // ts[0] software, ts[1] unused, ts[2] raw hardware
                stamp = ts[2].Seconds * 1_000_000_000L + ts[2].Fraction;
            }
            else if (message.Type == LibC.SCM_TIMESTAMPING_PKTINFO && message.DataLength >= 4)
                interfaceIndex = *(int*)message.Data;
        }
        return stamp;
    }

    /// <summary>The sender of the datagram in slot <paramref name="i"/>.</summary>
    public PeerAddress Source(int i)
    {
        CheckSlot(i);
        return PeerAddress.FromSockAddr(_sourceNames + (nint)i * Layout.NameSlotBytes, _receiveHeaders[i].Header.NameLength);
    }

    /// <summary>The <see cref="BufferBytes"/>-long buffer of slot <paramref name="i"/> to write a datagram to send into.</summary>
    public Span<byte> Outgoing(int i)
    {
        CheckSlot(i);
        return new Span<byte>(_outgoingBuffers + (nint)i * _bufferBytes, _bufferBytes);
    }

    /// <summary>How many bytes of <see cref="Outgoing"/> slot <paramref name="i"/> to send; 0 = nothing to send.</summary>
    public void SetOutgoing(int i, int length)
    {
        CheckSlot(i);
        if ((uint)length > (uint)_bufferBytes)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"must be between 0 and {_bufferBytes}");
        _outgoingLengths[i] = length;
    }

    /// <summary>The length set by <see cref="SetOutgoing"/> (Receive resets it to 0 for every received slot).</summary>
    public int OutgoingLength(int i)
    {
        CheckSlot(i);
        return _outgoingLengths[i];
    }

    /// <summary>Where slot <paramref name="i"/> is sent (Receive sets it to the slot's source).</summary>
    public void SetDestination(int i, PeerAddress destination)
    {
        CheckSlot(i);
        _destinations[i] = destination;
    }

    /// <summary>Where slot <paramref name="i"/> is sent.</summary>
    public PeerAddress Destination(int i)
    {
        CheckSlot(i);
        return _destinations[i];
    }

    /// <summary>Frees the native memory; the batch cannot be used afterwards.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    // ---- used by BatchedUdpSocket ----

    internal bool IsDisposed => _memory == null;

    /// <summary>The receive headers, reset for a new recvmmsg call.</summary>
    internal MMsgHdr* PrepareReceive()
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        ResetReceiveHeaders();
        return _receiveHeaders;
    }

    /// <summary>After recvmmsg filled <paramref name="count"/> slots: destination = source, nothing to send.</summary>
    internal void CompleteReceive(int count)
    {
        // The kernel may have touched the header after the last one it filled before it stopped.
        _receiveHeadersDirty = Math.Min(count + 1, _capacity);
        for (int i = 0; i < count; i++)
        {
            _destinations[i] = PeerAddress.FromSockAddr(_sourceNames + (nint)i * Layout.NameSlotBytes, _receiveHeaders[i].Header.NameLength);
            _outgoingLengths[i] = 0;
        }
    }

    /// <summary>
    /// Packs the send headers for every slot below <paramref name="count"/> with something to send, with
    /// destinations written for <paramref name="family"/>. Returns how many headers were packed; slots whose
    /// destination cannot be expressed in that family are counted in <paramref name="unsendable"/>.
    /// </summary>
    internal MMsgHdr* PrepareSend(int count, int family, out int packed, out int unsendable)
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        if ((uint)count > (uint)_capacity)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"must be between 0 and {_capacity}");
        packed = 0;
        unsendable = 0;
        for (int i = 0; i < count; i++)
        {
            int length = _outgoingLengths[i];
            if (length <= 0)
                continue;
            byte* name = _destinationNames + (nint)i * Layout.NameSlotBytes;
            uint nameLength = _destinations[i].WriteSockAddr(name, family);
            if (nameLength == 0)
            {
                unsendable++;
                continue;
            }
            _sendIov[i].Length = (nuint)length;
            MMsgHdr* h = _sendHeaders + packed;
            h->Header.Name = name;
            h->Header.NameLength = nameLength;
            h->Header.Iov = _sendIov + i;
            h->Header.IovLength = 1;
            h->Header.Control = null;
            h->Header.ControlLength = 0;
            h->Header.Flags = 0;
            h->Length = 0;
            packed++;
        }
        return _sendHeaders;
    }

    private void ResetReceiveHeaders()
    {
        // Only these fields are written by the kernel; the pointers were set once by the constructor.
        int dirty = _receiveHeadersDirty;
        for (int i = 0; i < dirty; i++)
        {
            MMsgHdr* h = _receiveHeaders + i;
            h->Header.NameLength = Layout.NameSlotBytes;
            h->Header.ControlLength = Layout.ControlSlotBytes;
            h->Header.Flags = 0;
            h->Length = 0;
        }
        _receiveHeadersDirty = 0;
    }

    /// <summary>Marks every receive header as possibly changed (a failed call may have touched any of them).</summary>
    internal void InvalidateReceiveHeaders() => _receiveHeadersDirty = _capacity;

    private void CheckSlot(int i)
    {
        if ((uint)i >= (uint)_capacity)
            ThrowSlot(i);
        if (_memory == null)
            ThrowDisposed();
    }

    private void ThrowSlot(int i) => throw new ArgumentOutOfRangeException(nameof(i), i, $"slot must be between 0 and {_capacity - 1}");

    private void ThrowDisposed() => throw new ObjectDisposedException(nameof(DatagramBatch));

    private void Free()
    {
        byte* memory = _memory;
        _memory = null;
        if (memory != null)
            NativeMemory.AlignedFree(memory);
    }

    private static nuint Take(ref nuint offset, nuint bytes)
    {
        nuint start = offset;
        offset = (offset + bytes + (Alignment - 1)) & ~(Alignment - 1);
        return start;
    }
}
