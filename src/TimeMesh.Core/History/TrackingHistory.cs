namespace TimeMesh.Core.History;

/// <summary>
/// One point of a node's own history: what <c>chronyc tracking</c> said at <see cref="TimeUnixNs"/>, plus
/// the mesh leader this node saw. NaN in a double means "not known" (e.g. no offset before the first update).
/// </summary>
public readonly record struct HistorySample
{
    /// <summary>When the sample was taken, on the node's served clock, Unix ns.</summary>
    public required long TimeUnixNs { get; init; }
    /// <summary>The offset measured at the last clock update (chronyc tracking's "Last offset"), seconds.</summary>
    public required double LastOffsetSeconds { get; init; }
    /// <summary>When that update was (chronyc tracking's "Ref time"), Unix ns; 0 = never. Samples taken between
    /// two updates repeat it, so a plot can draw each update once, at its own time.</summary>
    public long LastUpdateUnixNs { get; init; }
    /// <summary>The clock's frequency error (chronyc tracking's "Frequency"; positive = fast), ppm.</summary>
    public required double FrequencyPpm { get; init; }
    /// <summary>The error bound of <see cref="FrequencyPpm"/> (chronyc tracking's "Skew"), ppm.</summary>
    public required double SkewPpm { get; init; }
    /// <summary>Root delay / 2 + root dispersion, seconds.</summary>
    public required double RootDistanceSeconds { get; init; }
    /// <summary>The stratum the node served at (chronyc tracking's "Stratum"), 0 to 16; 0 while it had no reference.</summary>
    public required byte Stratum { get; init; }
    /// <summary>Whether the node had a selected reference at that moment; when false, <see cref="RootDistanceSeconds"/> is NaN.</summary>
    public required bool Synchronised { get; init; }
    /// <summary>The selected upstream source (an NTP endpoint or name), or null.</summary>
    public string? Source { get; init; }
    /// <summary>The mesh leader this node saw (its cluster address), or null outside a mesh or without a leader.</summary>
    public string? Leader { get; init; }
}

/// <summary>
/// A node's recent history in fixed memory: a ring of <see cref="Capacity"/> samples, the oldest
/// overwritten first. Samples are expected in time order; one that goes back in time is still kept (the
/// served clock may be stepped) and readers see samples in the order they were added. Not thread-safe:
/// one actor owns it.
/// </summary>
public sealed class TrackingHistory
{
    private readonly HistorySample[] _ring;
    private int _next;

    /// <summary>Creates an empty history that keeps the newest <paramref name="capacity"/> samples.</summary>
    /// <param name="capacity">Size of the ring, in samples.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is less than 1.</exception>
    public TrackingHistory(int capacity)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "at least one sample");
        _ring = new HistorySample[capacity];
    }

    /// <summary>How many samples the ring holds at most.</summary>
    public int Capacity => _ring.Length;

    /// <summary>How many samples it holds now.</summary>
    public int Count { get; private set; }

    /// <summary>Samples ever added (including those overwritten since).</summary>
    public long Added { get; private set; }

    /// <summary>
    /// Appends <paramref name="sample"/> as the newest; when the ring is full the oldest sample is overwritten.
    /// The sample's time is not checked against the others.
    /// </summary>
    public void Add(in HistorySample sample)
    {
        _ring[_next] = sample;
        _next = (_next + 1) % _ring.Length;
        if (Count < _ring.Length) Count++;
        Added++;
    }

    /// <summary>The i-th sample, oldest first (0 ≤ i &lt; Count).</summary>
    public HistorySample this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"0 to {Count - 1}");
            int start = Count < _ring.Length ? 0 : _next;
            return _ring[(start + index) % _ring.Length];
        }
    }

    /// <summary>
    /// The samples taken at or after <paramref name="sinceUnixNs"/>, oldest first, in increasing time: the
    /// window starts after the last backward step of the clock, if any.
    /// </summary>
    public HistorySample[] Since(long sinceUnixNs)
    {
        // Walk back from the newest: after a backward step of the clock the window ends at the step, which is
        // what a plot of "the last hours" can show without folding time onto itself.
        int first = Count;
        while (first > 0 && this[first - 1].TimeUnixNs >= sinceUnixNs
            && (first == Count || this[first - 1].TimeUnixNs <= this[first].TimeUnixNs)) first--;
        var result = new HistorySample[Count - first];
        for (int i = 0; i < result.Length; i++) result[i] = this[first + i];
        return result;
    }

    /// <summary>
    /// At most <paramref name="maxPoints"/> samples for a plot: when there are more, consecutive samples are
    /// merged in equal groups. A merged sample takes the group's last time, stratum, state, source and leader,
    /// the mean of offset, frequency and skew over the group's known values, and the group's largest root
    /// distance (the worst case is what an operator looks for). Unknown (NaN) values are left out of means;
    /// a group with none stays NaN.
    /// </summary>
    public static HistorySample[] Downsample(IReadOnlyList<HistorySample> samples, int maxPoints)
    {
        if (maxPoints < 1) throw new ArgumentOutOfRangeException(nameof(maxPoints), maxPoints, "at least one point");
        if (samples.Count <= maxPoints) return [.. samples];
        int groupSize = (samples.Count + maxPoints - 1) / maxPoints;
        int groups = (samples.Count + groupSize - 1) / groupSize;
        var result = new HistorySample[groups];
        for (int g = 0; g < groups; g++)
        {
            int from = g * groupSize, to = Math.Min(samples.Count, from + groupSize);
            var offset = new Mean();
            var frequency = new Mean();
            var skew = new Mean();
            double rootDistance = double.NaN;
            for (int i = from; i < to; i++)
            {
                var s = samples[i];
                offset.Add(s.LastOffsetSeconds);
                frequency.Add(s.FrequencyPpm);
                skew.Add(s.SkewPpm);
                if (!double.IsNaN(s.RootDistanceSeconds) && (double.IsNaN(rootDistance) || s.RootDistanceSeconds > rootDistance))
                    rootDistance = s.RootDistanceSeconds;
            }
            result[g] = samples[to - 1] with
            {
                LastOffsetSeconds = offset.Value,
                FrequencyPpm = frequency.Value,
                SkewPpm = skew.Value,
                RootDistanceSeconds = rootDistance,
            };
        }
        return result;
    }

    private struct Mean
    {
        private double _sum;
        private int _count;

        public void Add(double value)
        {
            if (double.IsNaN(value)) return;
            _sum += value;
            _count++;
        }

        public readonly double Value => _count == 0 ? double.NaN : _sum / _count;
    }
}
