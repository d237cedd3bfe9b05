namespace TimeMesh.LoadGen;

/// <summary>Latencies in 100 ns buckets up to a limit (larger values land in the last bucket); allocated once.</summary>
internal sealed class LatencyHistogram
{
    private const long BucketNs = 100;
    private readonly long[] _counts;
    private long _total;
    private long _maxNs;

    public LatencyHistogram(long limitNs) => _counts = new long[limitNs / BucketNs + 2];

    public long Count => _total;

    public void Record(long ns)
    {
        if (ns < 0)
            ns = 0;
        long bucket = Math.Min(ns / BucketNs, _counts.Length - 1);
        _counts[bucket]++;
        _total++;
        if (ns > _maxNs)
            _maxNs = ns;
    }

    public double MaxMicroseconds => _maxNs / 1000.0;

    /// <summary>The latency below which <paramref name="fraction"/> of the samples lie, in µs (bucket midpoint); 0 without samples.</summary>
    public double PercentileMicroseconds(double fraction)
    {
        if (_total == 0)
            return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(fraction * _total));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
                return (i * BucketNs + BucketNs / 2) / 1000.0;
        }
        return _maxNs / 1000.0;
    }
}
