using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Sources;

/// <summary>chronyc's source states.</summary>
public enum SourceState : byte
{
    /// <summary>'?' unreachable, no samples yet, demobilised, or too far (maxdistance).</summary>
    Unusable,
    /// <summary>'x' outside the majority's intersection: may be in error.</summary>
    Falseticker,
    /// <summary>'~' its jitter exceeds maxjitter.</summary>
    TooVariable,
    /// <summary>'-' a survivor left out of the combination.</summary>
    NotCombined,
    /// <summary>'+' combined with the selected source.</summary>
    Combined,
    /// <summary>'*' the selected source.</summary>
    Selected,
}

public static class SourceStateSymbols
{
    public static char Symbol(this SourceState state) => state switch
    {
        SourceState.Selected => '*',
        SourceState.Combined => '+',
        SourceState.NotCombined => '-',
        SourceState.Falseticker => 'x',
        SourceState.TooVariable => '~',
        _ => '?',
    };
}

/// <summary>
/// One source as the selection sees it, at one instant. <paramref name="Demoted"/>: it votes in the intersection,
/// but is selected only when no survivor that is not demoted is left, and is never combined with another.
/// </summary>
public readonly record struct SelectionCandidate(
    int Id,
    bool Usable,
    double OffsetSeconds,
    double FrequencySecondsPerSecond,
    double SkewSecondsPerSecond,
    double RootDistanceSeconds,
    double JitterSeconds,
    byte Stratum,
    bool Prefer,
    LeapIndicator Leap,
    bool Demoted = false,
    // Standard error of OffsetSeconds (chrony's offset_sd: the fit's intercept error grown by the skew since), seconds.
    double OffsetSdSeconds = 0);

public sealed record SelectionSettings
{
    public int MinSources { get; init; } = 1;
    public double MaxDistanceSeconds { get; init; } = 3.0;
    public double MaxJitterSeconds { get; init; } = 1.0;
    /// <summary>chrony's combinelimit: survivors whose distance is within this factor of the selected one's are combined.</summary>
    public double CombineLimit { get; init; } = 3.0;
    /// <summary>chrony's reselectdist: another source must be this much closer to take over (hysteresis).</summary>
    public double ReselectDistanceSeconds { get; init; } = 100e-6;
}

public sealed record SelectionResult(
    int? SelectedId,
    double OffsetSeconds,
    double FrequencySecondsPerSecond,
    double SkewSecondsPerSecond,
    double RootDistanceSeconds,
    IReadOnlyDictionary<int, SourceState> States,
    LeapIndicator Leap,
    string? NoSelectionReason)
{
    public bool HasSelection => SelectedId is not null;

    /// <summary>
    /// Standard error of <see cref="OffsetSeconds"/>, seconds: the combined sources' offset errors and their spread
    /// about the selected one, weighted as the offsets are (chrony's combined offset_sd). The discipline corrects an
    /// offset of this size slowly and a larger one faster.
    /// </summary>
    public double OffsetSdSeconds { get; init; }
}

/// <summary>
/// Source selection (RFC 5905 / chrony sources.c): usable sources, the intersection algorithm to find
/// the majority's interval (falsetickers outside it), the best survivor by stratum then root distance
/// with hysteresis, and a combination of the close survivors weighted by 1/distance.
/// </summary>
public static class SourceSelection
{
    public static SelectionResult Select(IReadOnlyList<SelectionCandidate> candidates, SelectionSettings settings, int? currentSelectedId)
    {
        var states = new Dictionary<int, SourceState>();
        var usable = new List<SelectionCandidate>();
        foreach (var c in candidates)
        {
            if (!c.Usable || c.RootDistanceSeconds > settings.MaxDistanceSeconds) states[c.Id] = SourceState.Unusable;
            else if (c.JitterSeconds > settings.MaxJitterSeconds) states[c.Id] = SourceState.TooVariable;
            else usable.Add(c);
        }
        if (usable.Count == 0)
            return None(states, candidates.Count == 0 ? "no sources" : "no selectable sources");

        if (!TryIntersect(usable, out double low, out double high))
        {
            foreach (var c in usable) states[c.Id] = SourceState.Falseticker;
            return None(states, "no majority");
        }

        var survivors = new List<SelectionCandidate>();
        foreach (var c in usable)
        {
            bool overlaps = c.OffsetSeconds - c.RootDistanceSeconds <= high && c.OffsetSeconds + c.RootDistanceSeconds >= low;
            if (overlaps) survivors.Add(c);
            else states[c.Id] = SourceState.Falseticker;
        }
        if (survivors.Count < settings.MinSources)
        {
            foreach (var c in survivors) states[c.Id] = SourceState.NotCombined;
            return None(states, $"{survivors.Count} of minsources {settings.MinSources} sources agree");
        }

        // Demoted survivors have voted; they are chosen from only when nothing else survived.
        var eligible = survivors.Any(c => !c.Demoted) ? survivors.Where(c => !c.Demoted).ToList() : survivors;
        var pool = eligible.Any(c => c.Prefer) ? eligible.Where(c => c.Prefer).ToList() : eligible;
        var best = pool.OrderBy(c => c.Stratum).ThenBy(c => c.RootDistanceSeconds).ThenBy(c => c.Id).First();
        int incumbentIndex = currentSelectedId is { } current ? pool.FindIndex(c => c.Id == current) : -1;
        if (incumbentIndex >= 0)
        {
            var incumbent = pool[incumbentIndex];
            bool clearlyBetter = best.Stratum < incumbent.Stratum
                || (best.Stratum == incumbent.Stratum && best.RootDistanceSeconds + settings.ReselectDistanceSeconds < incumbent.RootDistanceSeconds);
            if (!clearlyBetter) best = incumbent;
        }

        double offsetWeight = 0, offsetSum = 0, freqWeight = 0, freqSum = 0, offsetVarianceSum = 0;
        foreach (var c in survivors)
        {
            bool combine = c.Id == best.Id
                || (!c.Demoted && c.RootDistanceSeconds <= settings.CombineLimit * best.RootDistanceSeconds && (!best.Prefer || c.Prefer));
            states[c.Id] = c.Id == best.Id ? SourceState.Selected : combine ? SourceState.Combined : SourceState.NotCombined;
            if (!combine) continue;
            double w = 1 / Math.Max(c.RootDistanceSeconds, 1e-9);
            offsetWeight += w;
            offsetSum += w * c.OffsetSeconds;
            double apart = c.OffsetSeconds - best.OffsetSeconds;
            offsetVarianceSum += w * (c.OffsetSdSeconds * c.OffsetSdSeconds + apart * apart);
            double fw = 1 / Math.Max(c.SkewSecondsPerSecond * c.SkewSecondsPerSecond, 1e-24);
            freqWeight += fw;
            freqSum += fw * c.FrequencySecondsPerSecond;
        }

        return new SelectionResult(best.Id, offsetSum / offsetWeight, freqSum / freqWeight, Math.Sqrt(1 / freqWeight),
            best.RootDistanceSeconds, states, MajorityLeap(survivors), null)
        {
            OffsetSdSeconds = Math.Sqrt(offsetVarianceSum / offsetWeight),
        };
    }

    private static SelectionResult None(Dictionary<int, SourceState> states, string reason) =>
        new(null, 0, 0, 0, 0, states, LeapIndicator.Unsynchronised, reason);

    /// <summary>
    /// Marzullo's intersection as RFC 5905 uses it: the smallest number of falsetickers f (f &lt; n/2) for
    /// which some interval lies within n − f of the correctness intervals.
    /// </summary>
    internal static bool TryIntersect(IReadOnlyList<SelectionCandidate> sources, out double low, out double high)
    {
        int n = sources.Count;
        var edges = new List<(double Value, int Type)>(2 * n);
        foreach (var c in sources)
        {
            edges.Add((c.OffsetSeconds - c.RootDistanceSeconds, -1));
            edges.Add((c.OffsetSeconds + c.RootDistanceSeconds, +1));
        }
        edges.Sort((a, b) => a.Value != b.Value ? a.Value.CompareTo(b.Value) : a.Type.CompareTo(b.Type));
        low = high = 0;
        for (int falsetickers = 0; 2 * falsetickers < n; falsetickers++)
        {
            int needed = n - falsetickers;
            int count = 0;
            bool foundLow = false;
            foreach (var (value, type) in edges)
            {
                count -= type;
                if (count >= needed) { low = value; foundLow = true; break; }
            }
            count = 0;
            bool foundHigh = false;
            for (int i = edges.Count - 1; i >= 0; i--)
            {
                count += edges[i].Type;
                if (count >= needed) { high = edges[i].Value; foundHigh = true; break; }
            }
            if (foundLow && foundHigh && low <= high) return true;
        }
        return false;
    }

    private static LeapIndicator MajorityLeap(List<SelectionCandidate> survivors)
    {
        int insert = survivors.Count(c => c.Leap == LeapIndicator.InsertSecond);
        int delete = survivors.Count(c => c.Leap == LeapIndicator.DeleteSecond);
        if (2 * insert > survivors.Count) return LeapIndicator.InsertSecond;
        if (2 * delete > survivors.Count) return LeapIndicator.DeleteSecond;
        return LeapIndicator.NoWarning;
    }
}
