using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

public class SourceSelectionTests
{
    private static readonly SelectionSettings Defaults = new();

    private static SelectionCandidate C(int id, double offset, double distance = 0.010, byte stratum = 2, double jitter = 1e-4,
        bool prefer = false, LeapIndicator leap = LeapIndicator.NoWarning, double frequency = 0, double skew = 1e-7, bool usable = true, bool demoted = false) =>
        new(id, usable, offset, frequency, skew, distance, jitter, stratum, prefer, leap, demoted);

    /// <summary>
    /// The rogue-master case: two honest masters and a liar of equal stratum, one honest master demoted for a moment
    /// (it answered at a worse stratum). Its vote still makes the majority: the liar is the falseticker and the other
    /// honest master is selected. Without that vote the two left disagree and nothing is selected ("no majority").
    /// </summary>
    [Fact]
    public void ADemotedSourceStillVotesAndOutvotesTheLiarButIsNotSelectedOrCombined()
    {
        var result = SourceSelection.Select([C(1, 0.0002, stratum: 3, demoted: true), C(2, 0.0001), C(3, 2.0)], Defaults, null);
        Assert.Equal(2, result.SelectedId);
        Assert.Equal(SourceState.Falseticker, result.States[3]);
        Assert.Equal(SourceState.NotCombined, result.States[1]);
        Assert.Equal(0.0001, result.OffsetSeconds, 9);
        var withoutItsVote = SourceSelection.Select([C(1, 0.0002, stratum: 3, usable: false), C(2, 0.0001), C(3, 2.0)], Defaults, null);
        Assert.Equal("no majority", withoutItsVote.NoSelectionReason);

        // A demoted source does not take the selection from the incumbent or from a preferred one, even when closer.
        var incumbent = SourceSelection.Select([C(1, 0.0, distance: 0.001, demoted: true), C(2, 0.0001, distance: 0.02)], Defaults, 1);
        Assert.Equal(2, incumbent.SelectedId);
        var preferred = SourceSelection.Select([C(1, 0.0, prefer: true, demoted: true), C(2, 0.0001)], Defaults, null);
        Assert.Equal(2, preferred.SelectedId);
    }

    [Fact]
    public void WhenOnlyDemotedSourcesSurviveTheBestOfThemIsSelected()
    {
        // The master that demoted the others is the falseticker here: better a demoted survivor than no time.
        var result = SourceSelection.Select([C(1, 0.0001, stratum: 3, demoted: true), C(2, 0.0002, stratum: 3, demoted: true), C(3, 2.0)], Defaults, null);
        Assert.Contains(result.SelectedId!.Value, new[] { 1, 2 });
        Assert.Equal(SourceState.Falseticker, result.States[3]);
    }

    [Fact]
    public void ThreeAgreeingSourcesOutvoteTwoFalsetickers()
    {
        var result = SourceSelection.Select(
            [C(0, 0.500), C(1, 0.0010), C(2, 0.0012), C(3, -0.500), C(4, 0.0008)], Defaults, null);

        Assert.True(result.HasSelection);
        Assert.Contains(result.SelectedId!.Value, new[] { 1, 2, 4 });
        Assert.Equal(SourceState.Falseticker, result.States[0]);
        Assert.Equal(SourceState.Falseticker, result.States[3]);
        Assert.All(new[] { 1, 2, 4 }, id => Assert.Contains(result.States[id], new[] { SourceState.Selected, SourceState.Combined }));
        // The combination is the survivors' (equal distances: their mean), untouched by the falsetickers.
        Assert.Equal(0.0010, result.OffsetSeconds, 9);
        Assert.Null(result.NoSelectionReason);
    }

    [Fact]
    public void TwoPairsThatDisagreeHaveNoMajority()
    {
        var result = SourceSelection.Select([C(0, 0.0), C(1, 0.001), C(2, 1.0), C(3, 1.001)], Defaults, null);

        Assert.False(result.HasSelection);
        Assert.Equal("no majority", result.NoSelectionReason);
        Assert.All(result.States.Values, s => Assert.Equal(SourceState.Falseticker, s));
        Assert.Equal(LeapIndicator.Unsynchronised, result.Leap);
    }

    [Fact]
    public void TwoSourcesThatDisagreeHaveNoMajority()
    {
        var result = SourceSelection.Select([C(0, 0.0), C(1, 0.1)], Defaults, null);
        Assert.Equal("no majority", result.NoSelectionReason);
    }

    [Fact]
    public void SourcesFartherThanMaxDistanceAreUnusable()
    {
        var settings = Defaults with { MaxDistanceSeconds = 0.5 };
        var result = SourceSelection.Select([C(0, 0.0, distance: 0.6), C(1, 0.0, distance: 0.4), C(2, 0.0, usable: false)], settings, null);

        Assert.Equal(SourceState.Unusable, result.States[0]);
        Assert.Equal(SourceState.Unusable, result.States[2]);
        Assert.Equal(1, result.SelectedId);

        var none = SourceSelection.Select([C(0, 0.0, distance: 0.6)], settings, null);
        Assert.Equal("no selectable sources", none.NoSelectionReason);
        Assert.Equal("no sources", SourceSelection.Select([], settings, null).NoSelectionReason);
    }

    [Fact]
    public void SourcesWithMoreJitterThanMaxJitterAreTooVariable()
    {
        var settings = Defaults with { MaxJitterSeconds = 0.001 };
        var result = SourceSelection.Select([C(0, 0.0, distance: 0.001, jitter: 0.002), C(1, 0.0, distance: 0.005, jitter: 0.0005)], settings, null);

        Assert.Equal(SourceState.TooVariable, result.States[0]);
        Assert.Equal(1, result.SelectedId);
    }

    [Fact]
    public void FewerSurvivorsThanMinSourcesSelectNothing()
    {
        var settings = Defaults with { MinSources = 3 };
        var result = SourceSelection.Select([C(0, 0.0), C(1, 0.001)], settings, null);

        Assert.False(result.HasSelection);
        Assert.Equal("2 of minsources 3 sources agree", result.NoSelectionReason);
        Assert.Equal(SourceState.NotCombined, result.States[0]);
        Assert.Equal(SourceState.NotCombined, result.States[1]);

        Assert.True(SourceSelection.Select([C(0, 0.0), C(1, 0.001), C(2, 0.002)], settings, null).HasSelection);
    }

    [Fact]
    public void LowerStratumWinsOverShorterDistance()
    {
        var result = SourceSelection.Select([C(0, 0.0, distance: 0.001, stratum: 3), C(1, 0.0, distance: 0.050, stratum: 2)], Defaults, null);
        Assert.Equal(1, result.SelectedId);
        Assert.Equal(0.050, result.RootDistanceSeconds);
    }

    [Fact]
    public void AmongEqualStrataTheShortestDistanceWins()
    {
        var result = SourceSelection.Select([C(0, 0.0, distance: 0.030), C(1, 0.0, distance: 0.010), C(2, 0.0, distance: 0.020)], Defaults, null);
        Assert.Equal(1, result.SelectedId);
        Assert.Equal(SourceState.Selected.Symbol(), result.States[1].Symbol());
    }

    [Fact]
    public void APreferredSourceIsSelectedAndOnlyPreferredOnesCombined()
    {
        var result = SourceSelection.Select(
            [C(0, 0.0, distance: 0.001, stratum: 1), C(1, 0.002, distance: 0.020, stratum: 2, prefer: true)], Defaults, null);

        Assert.Equal(1, result.SelectedId);
        Assert.Equal(SourceState.NotCombined, result.States[0]);
        Assert.Equal(0.002, result.OffsetSeconds, 12);
    }

    [Fact]
    public void APreferredFalsetickerIsNotSelected()
    {
        var result = SourceSelection.Select([C(0, 0.0), C(1, 0.001), C(2, 0.5, prefer: true)], Defaults, null);
        Assert.Equal(SourceState.Falseticker, result.States[2]);
        Assert.Equal(0, result.SelectedId);
    }

    [Fact]
    public void TheIncumbentStaysUnlessAnotherIsClearlyCloser()
    {
        var settings = Defaults with { ReselectDistanceSeconds = 100e-6 };
        SelectionCandidate[] slightly = [C(1, 0.0, distance: 0.01005), C(2, 0.0, distance: 0.01000)];
        SelectionCandidate[] clearly = [C(1, 0.0, distance: 0.01020), C(2, 0.0, distance: 0.01000)];

        Assert.Equal(2, SourceSelection.Select(slightly, settings, null).SelectedId);
        Assert.Equal(1, SourceSelection.Select(slightly, settings, currentSelectedId: 1).SelectedId);
        Assert.Equal(2, SourceSelection.Select(clearly, settings, currentSelectedId: 1).SelectedId);
    }

    [Fact]
    public void ALowerStratumTakesOverFromTheIncumbentWhateverTheDistance()
    {
        var result = SourceSelection.Select([C(1, 0.0, distance: 0.010, stratum: 3), C(2, 0.0, distance: 0.012, stratum: 2)], Defaults, currentSelectedId: 1);
        Assert.Equal(2, result.SelectedId);
    }

    [Fact]
    public void AnIncumbentThatIsNoLongerUsableIsReplaced()
    {
        var result = SourceSelection.Select([C(1, 0.0, usable: false), C(2, 0.001), C(3, 0.002)], Defaults, currentSelectedId: 1);
        Assert.Equal(2, result.SelectedId);
        Assert.Equal(SourceState.Unusable, result.States[1]);
    }

    [Fact]
    public void AnIncumbentWithIdZeroThatIsNoLongerUsableIsReplaced()
    {
        var result = SourceSelection.Select([C(0, 0.0, usable: false), C(1, 0.001), C(2, 0.002)], Defaults, currentSelectedId: 0);

        Assert.Equal(1, result.SelectedId);
        Assert.Equal(SourceState.Unusable, result.States[0]);
        Assert.Equal(SourceState.Selected, result.States[1]);
        Assert.True(double.IsFinite(result.OffsetSeconds));
    }

    [Fact]
    public void TheOffsetsStandardErrorIsTheSelectedOnesAloneAndGrowsWithTheSpreadOfTheCombined()
    {
        static SelectionCandidate Sd(int id, double offset, double distance, double sd) =>
            C(id, offset, distance: distance) with { OffsetSdSeconds = sd };
        var alone = SourceSelection.Select([Sd(0, 0.001, 0.01, 20e-6)], Defaults, null);
        Assert.Equal(20e-6, alone.OffsetSdSeconds, 15);

        // Weighted by 1/distance as the offsets: (100·(20e-6² + 0) + 50·(40e-6² + 3e-3²)) / 150.
        var two = SourceSelection.Select([Sd(0, 0.001, 0.01, 20e-6), Sd(1, 0.004, 0.02, 40e-6)], Defaults, null);
        Assert.Equal(SourceState.Combined, two.States[1]);
        Assert.Equal(Math.Sqrt((100 * 400e-12 + 50 * (1600e-12 + 9e-6)) / 150), two.OffsetSdSeconds, 12);
        Assert.Equal(0, SourceSelection.Select([C(0, 0.2)], Defaults, null).OffsetSdSeconds);
    }

    [Fact]
    public void CloseSurvivorsAreCombinedWeightedByDistanceAndFarOnesAreNot()
    {
        var settings = Defaults with { CombineLimit = 3 };
        var result = SourceSelection.Select(
        [
            C(0, 0.001, distance: 0.01, frequency: 1e-6, skew: 1e-7),
            C(1, 0.004, distance: 0.02, frequency: 4e-6, skew: 2e-7),
            C(2, 0.010, distance: 0.05, frequency: 9e-6, skew: 1e-7),
        ], settings, null);

        Assert.Equal(0, result.SelectedId);
        Assert.Equal(SourceState.Combined, result.States[1]);   // 0.02 ≤ 3 × 0.01
        Assert.Equal(SourceState.NotCombined, result.States[2]); // 0.05 > 3 × 0.01
        // Offsets weighted by 1/distance: (0.001/0.01 + 0.004/0.02) / (1/0.01 + 1/0.02).
        Assert.Equal(0.002, result.OffsetSeconds, 12);
        // Frequencies weighted by 1/skew²: (1e14·1e-6 + 2.5e13·4e-6) / 1.25e14, skew √(1/1.25e14).
        Assert.Equal(1.6e-6, result.FrequencySecondsPerSecond, 15);
        Assert.Equal(Math.Sqrt(1 / 1.25e14), result.SkewSecondsPerSecond, 15);
        Assert.Equal(0.01, result.RootDistanceSeconds);

        var wider = SourceSelection.Select(
        [
            C(0, 0.001, distance: 0.01), C(1, 0.004, distance: 0.02), C(2, 0.010, distance: 0.05),
        ], settings with { CombineLimit = 10 }, null);
        Assert.Equal(SourceState.Combined, wider.States[2]);
        Assert.Equal((0.1 + 0.2 + 0.2) / (100 + 50 + 20), wider.OffsetSeconds, 12);
    }

    [Theory]
    [InlineData(2, LeapIndicator.InsertSecond)]
    [InlineData(1, LeapIndicator.NoWarning)]
    public void TheLeapIsTheSurvivorsMajority(int inserting, LeapIndicator expected)
    {
        var candidates = Enumerable.Range(0, 3)
            .Select(i => C(i, 0.0001 * i, leap: i < inserting ? LeapIndicator.InsertSecond : LeapIndicator.NoWarning))
            // Two falsetickers announcing a deletion: their vote does not count.
            .Concat([C(10, 0.8, leap: LeapIndicator.DeleteSecond), C(11, 0.801, leap: LeapIndicator.DeleteSecond)])
            .ToList();

        var result = SourceSelection.Select(candidates, Defaults, null);

        Assert.Equal(SourceState.Falseticker, result.States[10]);
        Assert.Equal(expected, result.Leap);
    }

    [Fact]
    public void SymbolsAreChronycs()
    {
        Assert.Equal("*+-x~?", new string(new[]
        {
            SourceState.Selected, SourceState.Combined, SourceState.NotCombined,
            SourceState.Falseticker, SourceState.TooVariable, SourceState.Unusable,
        }.Select(s => s.Symbol()).ToArray()));
    }
}
