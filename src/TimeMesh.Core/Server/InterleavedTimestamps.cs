namespace TimeMesh.Core.Server;

/// <summary>
/// The server half of the interleaved client/server mode (RFC 9769, chrony's xleave): the receive timestamps
/// of recent replies with the transmit timestamps those replies really left with, in a ring of fixed size.
/// A client in interleaved mode names its previous exchange by the receive timestamp the server sent it
/// (the request's origin field); the server answers with that exchange's true transmit time.
/// Keyed by the receive timestamp, not by the client address, as RFC 9769 and chrony do: receive
/// timestamps are made unique and increase along the ring, so a lookup is a binary search. Preallocated
/// and locked (several receive loops share one table); nothing allocates after construction.
/// </summary>
public sealed class InterleavedTimestamps
{
    /// <summary>Bytes one exchange costs (receive and transmit NTP timestamps).</summary>
    public const int EntryBytes = 16;

    /// <summary>
    /// A new receive timestamp at most this far (NTP 32.32 units, here 1 s) behind the newest one is moved just
    /// after it, keeping the ring sorted; further back the clock was stepped, and every entry is forgotten.
    /// </summary>
    private const ulong MaxBackwardNtp = 1UL << 32;

    private readonly ulong[] _receive;
    private readonly ulong[] _transmit;
    private readonly object _gate = new();
    private long _next;       // sequence number of the next exchange; exchange s lives in slot s % capacity
    private int _count;       // exchanges held: sequence numbers _next - _count .. _next - 1

    /// <summary>Allocates a ring of <paramref name="capacity"/> exchanges (<see cref="EntryBytes"/> each).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is less than 1.</exception>
    public InterleavedTimestamps(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _receive = new ulong[capacity];
        _transmit = new ulong[capacity];
    }

    /// <summary>The most exchanges held at once; when full, each new one evicts the oldest.</summary>
    public int Capacity => _receive.Length;

    /// <summary>Exchanges held now.</summary>
    public int Count
    {
        get { lock (_gate) return _count; }
    }

    /// <summary>
    /// Exchanges held and the time from the oldest to the newest, in seconds (chronyc serverstats' "NTP timestamps
    /// held" and "NTP timestamp span"): how long a client may wait between requests and still be answered interleaved.
    /// </summary>
    public (int Held, double SpanSeconds) Usage()
    {
        lock (_gate)
        {
            if (_count == 0) return (0, 0);
            ulong span = _receive[SlotOf(_next - 1)] - _receive[SlotOf(_next - _count)];
            return (_count, span / 4294967296.0);
        }
    }

    /// <summary>Exchanges forgotten to make room for newer ones before their client came back (or not).</summary>
    public long Evictions { get; private set; }

    /// <summary>
    /// Records a new exchange received at <paramref name="receiveNtp"/> and, when <paramref name="originNtp"/>
    /// is not zero, looks up the earlier exchange it names. Returns the receive timestamp to send: the one given,
    /// or the smallest larger value that keeps it unique. <paramref name="exchange"/> is the ticket for
    /// <see cref="SetTransmit"/>. <paramref name="previousTransmitNtp"/> is the earlier exchange's transmit
    /// timestamp, 0 when it is unknown (not held, or its reply's transmit time never came back).
    /// </summary>
    public ulong Record(ulong receiveNtp, ulong originNtp, out long exchange, out ulong previousTransmitNtp)
    {
        lock (_gate)
        {
            previousTransmitNtp = originNtp != 0 && TryFind(originNtp, out int slot) ? _transmit[slot] : 0;
            if (_count > 0)
            {
                ulong newest = _receive[SlotOf(_next - 1)];
                if (receiveNtp <= newest)
                {
                    if (newest - receiveNtp <= MaxBackwardNtp) receiveNtp = newest + 1;
                    else _count = 0;   // stepped back: the old entries would break the order
                }
            }
            if (receiveNtp == 0) receiveNtp = 1;   // 0 means "none" in a request's origin field
            exchange = _next;
            int at = SlotOf(_next);
            _receive[at] = receiveNtp;
            _transmit[at] = 0;
            _next++;
            if (_count < _receive.Length) _count++;
            else Evictions++;
            return receiveNtp;
        }
    }

    /// <summary>Sets the transmit timestamp of <paramref name="exchange"/>'s reply, if it is still held.</summary>
    public bool SetTransmit(long exchange, ulong transmitNtp)
    {
        lock (_gate)
        {
            if (exchange < _next - _count || exchange >= _next) return false;
            _transmit[SlotOf(exchange)] = transmitNtp;
            return true;
        }
    }

    /// <summary>The transmit timestamp held for the exchange received at <paramref name="receiveNtp"/>; 0 when none.</summary>
    public ulong TransmitOf(ulong receiveNtp)
    {
        lock (_gate) return TryFind(receiveNtp, out int slot) ? _transmit[slot] : 0;
    }

    private int SlotOf(long sequence) => (int)(sequence % _receive.Length);

    private bool TryFind(ulong receiveNtp, out int slot)
    {
        long low = _next - _count, high = _next - 1;
        while (low <= high)
        {
            long mid = low + ((high - low) >> 1);
            int at = SlotOf(mid);
            ulong value = _receive[at];
            if (value == receiveNtp)
            {
                slot = at;
                return true;
            }
            if (value < receiveNtp) low = mid + 1;
            else high = mid - 1;
        }
        slot = -1;
        return false;
    }
}
