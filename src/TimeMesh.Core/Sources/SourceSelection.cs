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

/// <summary>The characters chronyc sources prints in its state column.</summary>
public static class SourceStateSymbols
{
    /// <summary>The state's chronyc character: <c>*</c>, <c>+</c>, <c>-</c>, <c>x</c>, <c>~</c>, or <c>?</c> for <see cref="SourceState.Unusable"/> (and any unknown value).</summary>
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
/// <param name="Id">The source's id, the key of <see cref="SelectionResult.States"/>.</param>
/// <param name="Usable">False when the source has no estimate yet or is unreachable: it is then unusable whatever the other fields say.</param>
/// <param name="OffsetSeconds">Source − local clock at that instant, seconds: the centre of its correctness interval.</param>
/// <param name="FrequencySecondsPerSecond">Its estimate of how fast that offset changes, s/s.</param>
/// <param name="SkewSecondsPerSecond">Standard error of <paramref name="FrequencySecondsPerSecond"/>, s/s; it weights the combined frequency.</param>
/// <param name="RootDistanceSeconds">
/// Half the width of its correctness interval (RFC 5905's root distance: half the delays plus the dispersions to the
/// primary reference, grown with age), seconds; it ranks survivors and weights the combined offset.
/// </param>
/// <param name="JitterSeconds">Scatter of its samples about their fit, seconds, held against maxjitter.</param>
/// <param name="Stratum">Its server's stratum: a lower one wins.</param>
/// <param name="Prefer">chrony's prefer option on the source.</param>
/// <param name="Leap">The leap indicator of its last sample; the survivors' majority decides the result's.</param>
/// <param name="Demoted">Votes in the intersection but is chosen last and never combined (see above).</param>
/// <param name="OffsetSdSeconds">
/// Standard error of <paramref name="OffsetSeconds"/> (chrony's offset_sd: the fit's intercept error grown by the skew
/// since), seconds.
/// </param>
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
    double OffsetSdSeconds = 0);

/// <summary>The selection's limits, named after the chrony.conf directives they mirror.</summary>
public sealed record SelectionSettings
{
    /// <summary>chrony's minsources: how many sources must survive the intersection before any is selected.</summary>
    public int MinSources { get; init; } = 1;
    /// <summary>chrony's maxdistance: a source whose root distance exceeds this many seconds is unusable ('?').</summary>
    public double MaxDistanceSeconds { get; init; } = 3.0;
    /// <summary>chrony's maxjitter: a source whose samples scatter about its fit by more than this many seconds is too variable ('~').</summary>
    public double MaxJitterSeconds { get; init; } = 1.0;
    /// <summary>chrony's combinelimit: survivors whose distance is within this factor of the selected one's are combined.</summary>
    public double CombineLimit { get; init; } = 3.0;
    /// <summary>chrony's reselectdist: another source must be this much closer to take over (hysteresis).</summary>
    public double ReselectDistanceSeconds { get; init; } = 100e-6;
}

/// <summary>What one run of <see cref="SourceSelection.Select"/> decided.</summary>
/// <param name="SelectedId">The selected source's id; null when none is (then <paramref name="NoSelectionReason"/> says why).</param>
/// <param name="OffsetSeconds">
/// The offset of the selected and combined sources, each weighted by 1 / root distance, seconds, in the candidates'
/// sense (source − local clock); 0 when the selection found no source.
/// </param>
/// <param name="FrequencySecondsPerSecond">The combined sources' frequencies, each weighted by 1 / skew², s/s; 0 when the selection found no source.</param>
/// <param name="SkewSecondsPerSecond">The standard error of that combined frequency, s/s.</param>
/// <param name="RootDistanceSeconds">The selected source's own root distance (not combined), seconds.</param>
/// <param name="States">Every candidate's state by id, as chronyc sources shows it.</param>
/// <param name="Leap">
/// The leap second a majority of the survivors announce, or <see cref="LeapIndicator.NoWarning"/>;
/// <see cref="LeapIndicator.Unsynchronised"/> when the selection found no source.
/// </param>
/// <param name="NoSelectionReason">Why no source is selected, for an operator (e.g. "no majority"); null when one is.</param>
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
    /// <summary>True when a source is selected (<see cref="SelectedId"/> is set).</summary>
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
    /// <summary>
    /// Runs the selection over <paramref name="candidates"/>. Sources that are not usable, too far or too variable are
    /// left out; the intersection marks falsetickers; from the survivors (preferred ones first, demoted ones last) the
    /// lowest stratum wins, then the smallest root distance. The survivors within <see cref="SelectionSettings.CombineLimit"/>
    /// of the winner's distance are combined with it.
    /// </summary>
    /// <param name="candidates">Every source, with its estimate at the same instant.</param>
    /// <param name="settings">The limits to apply.</param>
    /// <param name="currentSelectedId">
    /// The source selected last time, or null. While it may still win, it stays selected unless another has a lower
    /// stratum, or the same stratum and a root distance smaller by more than <see cref="SelectionSettings.ReselectDistanceSeconds"/>.
    /// </param>
    /// <returns>The decision; it has no selection (a reason instead) when nothing usable, no majority or fewer than minsources agree.</returns>
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
