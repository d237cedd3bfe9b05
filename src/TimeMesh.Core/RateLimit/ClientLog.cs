using System.Runtime.InteropServices;
using TimeMesh.Core.Access;

namespace TimeMesh.Core.RateLimit;

/// <summary>What the client log says about one request.</summary>
public enum RateDecision : byte
{
    /// <summary>
    /// Answer normally: the client had credit for one more request (which this one spent), or there is no limit,
    /// or the client is exempt.
    /// </summary>
    Answer,
    /// <summary>Over the limit, but the leak lets this one through.</summary>
    AnswerLeaked,
    /// <summary>Over the limit and not leaked: send nothing. The client's drop count goes up.</summary>
    Drop,
    /// <summary>
    /// Over the limit with <c>kod</c> on, and no kiss sent to this client within the last interval: reply with a RATE
    /// kiss-o'-death instead of the time. Counted as a drop.
    /// </summary>
    KissOfDeath,
}

/// <summary>
/// Per-client state in a table bounded by <c>clientloglimit</c> bytes (chrony's clientlog): request
/// counts for monitoring and a token bucket per client for rate limiting. Full buckets evict their
/// least recently heard client. Preallocated: logging a request allocates nothing.
/// Times are nanoseconds on any clock that does not run backwards by much; a step back counts as no time passed.
/// </summary>
public sealed class ClientLog
{
    /// <summary>The bytes one record is charged against clientloglimit (chrony's default 524288 ≈ 4096 clients).</summary>
    public const int RecordBytes = 128;
    /// <summary>
    /// Records per hash bucket: a client can only live in its address's bucket, and a new client evicts the least
    /// recently heard of those 16. A table smaller than that is a single bucket.
    /// </summary>
    public const int SlotsPerBucket = 16;

    private readonly Record[] _records;
    private readonly int _bucketCount;
    private readonly int _slotsPerBucket;
    private readonly ulong _hashSeed;
    private readonly RateLimitSettings? _limit;
    private readonly long _intervalNs;
    private readonly long _maxCreditNs;
    private readonly uint _leakMask;
    private ulong _random;
    private readonly object _gate = new();

    [StructLayout(LayoutKind.Auto)]
    private struct Record
    {
        public IpAddress128 Address;
        public bool InUse;
        public long FirstHitNs;
        public long LastHitNs;
        public long LastKissNs;
        /// <summary>Token bucket: time-credit in ns; a request costs one interval.</summary>
        public long CreditNs;
        public long Hits;
        public long Drops;
    }

    /// <summary>Allocates the whole table up front.</summary>
    /// <param name="clientLogLimitBytes">
    /// chrony's <c>clientloglimit</c>: the memory budget, at <see cref="RecordBytes"/> a client. The record count is
    /// clamped to 1-16777216 and, from 16 up, rounded down to a whole number of buckets.
    /// </param>
    /// <param name="limit">The rate limit to enforce; null to count requests without ever limiting them.</param>
    /// <param name="seed">
    /// Keys the address hash (so that outsiders cannot aim at one bucket) and drives the leak's random choice;
    /// the same seed gives the same decisions.
    /// </param>
    public ClientLog(long clientLogLimitBytes, RateLimitSettings? limit, ulong seed)
    {
        int capacity = (int)Math.Clamp(clientLogLimitBytes / RecordBytes, 1, 1 << 24);
        _slotsPerBucket = Math.Min(SlotsPerBucket, capacity);
        _bucketCount = capacity / _slotsPerBucket;
        _records = new Record[_bucketCount * _slotsPerBucket];
        _hashSeed = seed | 1;
        _random = seed ^ 0x9E37_79B9_7F4A_7C15;
        if (_random == 0) _random = 1;
        _limit = limit;
        if (limit is not null)
        {
            _intervalNs = limit.IntervalNanoseconds;
            _maxCreditNs = _intervalNs * limit.Burst;
            _leakMask = (1u << limit.LeakLog2) - 1;
        }
    }

    /// <summary>How many clients the table can hold at once.</summary>
    public int Capacity => _records.Length;
    /// <summary>The rate limit this log enforces; null when it only counts requests.</summary>
    public RateLimitSettings? Limit => _limit;

    /// <summary>Records evicted to make room for new clients (chronyc serverstats' "Client log records dropped").</summary>
    public long Evictions { get; private set; }

    /// <summary>
    /// Logs a request from <paramref name="client"/> at <paramref name="nowNs"/> and decides whether to answer it.
    /// An <paramref name="exempt"/> client (chrony's localhost on the command port) is counted, never limited.
    /// </summary>
    public RateDecision Hit(IpAddress128 client, long nowNs, bool exempt = false)
    {
        lock (_gate)
        {
            ref Record record = ref Find(client, nowNs);
            long elapsed = Math.Max(0, nowNs - record.LastHitNs);
            record.LastHitNs = Math.Max(record.LastHitNs, nowNs);
            record.Hits++;
            if (_limit is null || exempt) return RateDecision.Answer;

            record.CreditNs = Math.Min(_maxCreditNs, record.CreditNs + elapsed);
            if (record.CreditNs >= _intervalNs)
            {
                record.CreditNs -= _intervalNs;
                return RateDecision.Answer;
            }
            if ((NextRandom() & _leakMask) == 0)
            {
                // As chrony does: a leaked answer spends what credit is left.
                record.CreditNs = 0;
                return RateDecision.AnswerLeaked;
            }
            record.Drops++;
            // At most one kiss-o'-death per interval, so that the server never answers a flood in full.
            if (_limit.KissOfDeath && (record.LastKissNs == 0 || nowNs - record.LastKissNs >= _intervalNs))
            {
                record.LastKissNs = nowNs;
                return RateDecision.KissOfDeath;
            }
            return RateDecision.Drop;
        }
    }

    private ref Record Find(IpAddress128 client, long nowNs)
    {
        int bucket = (int)(Hash(client) % (ulong)_bucketCount);
        Span<Record> slots = _records.AsSpan(bucket * _slotsPerBucket, _slotsPerBucket);
        int victim = 0;
        for (int i = 0; i < slots.Length; i++)
        {
            ref Record r = ref slots[i];
            if (!r.InUse)
            {
                victim = i;
                goto fresh;
            }
            if (r.Address == client) return ref r;
            if (r.LastHitNs < slots[victim].LastHitNs) victim = i;
        }
        Evictions++;
    fresh:
        ref Record record = ref slots[victim];
        record = new Record
        {
            Address = client,
            InUse = true,
            FirstHitNs = nowNs,
            LastHitNs = nowNs,
            CreditNs = _maxCreditNs,
        };
        return ref record;
    }

    private ulong Hash(IpAddress128 a)
    {
        ulong h = (a.High ^ _hashSeed) * 0x9E37_79B9_7F4A_7C15;
        h ^= (a.Low + (h >> 29)) * 0xBF58_476D_1CE4_E5B9;
        return h ^ (h >> 31);
    }

    private ulong NextRandom()
    {
        // xorshift64*: deterministic for a seed, so tests on virtual time are repeatable.
        _random ^= _random >> 12;
        _random ^= _random << 25;
        _random ^= _random >> 27;
        return (_random * 0x2545_F491_4F6C_DD1D) >> 32;
    }

    /// <summary>One client as chronyc clients shows it.</summary>
    public readonly record struct ClientEntry(IpAddress128 Address, long Hits, long Drops, long FirstHitNs, long LastHitNs);

    /// <summary>A copy of the table's live records (for monitoring; allocates).</summary>
    public IReadOnlyList<ClientEntry> Snapshot()
    {
        lock (_gate)
        {
            var list = new List<ClientEntry>();
            foreach (ref readonly Record r in _records.AsSpan())
            {
                if (r.InUse) list.Add(new ClientEntry(r.Address, r.Hits, r.Drops, r.FirstHitNs, r.LastHitNs));
            }
            return list;
        }
    }
}
