using TimeMesh.Net.Native;

namespace TimeMesh.Net;

/// <summary>
/// Walks the ancillary messages (struct cmsghdr: size_t len; int level; int type; data) of a control buffer
/// filled by recvmsg/recvmmsg, as CMSG_FIRSTHDR/CMSG_NXTHDR do on 64-bit Linux. A header whose length is
/// shorter than a header or runs past the filled part ends the walk, so a truncated buffer (MSG_CTRUNC) is
/// read as far as it is whole. Used with <c>foreach</c>; allocates nothing.
/// </summary>
internal unsafe ref struct ControlMessages
{
    private readonly byte* _control;
    private readonly nuint _length;
    private nuint _next;
    private ControlMessage _current;

    /// <param name="control">The control buffer.</param>
    /// <param name="filledBytes">msg_controllen as the kernel left it (the filled part).</param>
    /// <param name="capacityBytes">The buffer's size: a filled length beyond it is not trusted.</param>
    public ControlMessages(byte* control, nuint filledBytes, nuint capacityBytes)
    {
        _control = control;
        _length = Math.Min(filledBytes, capacityBytes);
        _next = 0;
        _current = default;
    }

    public readonly ControlMessages GetEnumerator() => this;

    public readonly ControlMessage Current => _current;

    public bool MoveNext()
    {
        if (_control == null || _next + Layout.CMsgHdrSize > _length)
            return false;
        byte* cmsg = _control + _next;
        nuint cmsgLength = *(nuint*)cmsg;
        if (cmsgLength < Layout.CMsgHdrSize || cmsgLength > _length - _next)
        {
            _next = _length;
            return false;
        }
        _current = new ControlMessage(*(int*)(cmsg + 8), *(int*)(cmsg + 12), cmsg + Layout.CMsgHdrSize, (int)(cmsgLength - Layout.CMsgHdrSize));
        _next += (cmsgLength + 7) & ~(nuint)7;   // CMSG_ALIGN
        return true;
    }
}

/// <summary>One ancillary message: its level and type (SOL_SOCKET / SCM_TIMESTAMPNS…) and its data.</summary>
internal readonly unsafe struct ControlMessage(int level, int type, byte* data, int dataLength)
{
    public int Level { get; } = level;
    public int Type { get; } = type;
    public byte* Data { get; } = data;
    public int DataLength { get; } = dataLength;

    /// <summary>The data read as a struct timespec (ns since 1970), 0 when the data is too short for one.</summary>
    public long TimeSpecUnixNanoseconds()
    {
        if (DataLength < Layout.TimeSpecSize)
            return 0;
        TimeSpec64* ts = (TimeSpec64*)Data;
        return ts->Seconds * 1_000_000_000L + ts->Fraction;
    }
}
