using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

public class RegressionTests
{
    private static double[] Ones(int n) => Enumerable.Repeat(1.0, n).ToArray();

    /// <summary>Gaussian noise from a seeded generator (Box–Muller), so every run sees the same points.</summary>
    private static double[] Noise(int n, double sigma, int seed)
    {
        var random = new Random(seed);
        var noise = new double[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
            noise[i] = sigma * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
        return noise;
    }

    [Fact]
    public void FitRecoversANoiselessLineExactly()
    {
        // x as SourceStatistics builds it: seconds before the newest sample (≤ 0).
        double[] x = Enumerable.Range(0, 20).Select(i => (i - 19) * 16.0).ToArray();
        double[] y = x.Select(t => 0.0123 + 45e-6 * t).ToArray();

        var fit = Regression.Fit(x, y, Ones(20));

        Assert.Equal(0.0123, fit.Intercept, 12);
        Assert.Equal(45e-6, fit.Slope, 14);
        Assert.Equal(20, fit.Count);
        Assert.True(fit.ResidualStdDev < 1e-12, $"residual {fit.ResidualStdDev}");
        Assert.True(fit.SlopeStdError < 1e-13, $"slope se {fit.SlopeStdError}");
    }

    [Fact]
    public void FitOfANoisyLineIsWithinItsStandardErrors()
    {
        const int n = 64;
        const double sigma = 1e-3;
        double[] x = Enumerable.Range(0, n).Select(i => (i - (n - 1)) * 10.0).ToArray();
        double[] noise = Noise(n, sigma, seed: 7);
        double[] y = x.Select((t, i) => -0.25 + 3e-5 * t + noise[i]).ToArray();

        var fit = Regression.Fit(x, y, Ones(n));

        // Standard errors that mean something: close to the theory, and the truth inside 4 of them.
        double expectedSlopeSe = sigma / Math.Sqrt(x.Sum(t => (t - x.Average()) * (t - x.Average())));
        Assert.InRange(fit.SlopeStdError, 0.7 * expectedSlopeSe, 1.3 * expectedSlopeSe);
        Assert.InRange(fit.ResidualStdDev, 0.7 * sigma, 1.3 * sigma);
        Assert.InRange(fit.Slope, 3e-5 - 4 * fit.SlopeStdError, 3e-5 + 4 * fit.SlopeStdError);
        Assert.InRange(fit.Intercept, -0.25 - 4 * fit.InterceptStdError, -0.25 + 4 * fit.InterceptStdError);
        Assert.True(fit.InterceptStdError < 1e-3, $"intercept se {fit.InterceptStdError}");
    }

    [Fact]
    public void LargeVarianceDownWeightsAnOutlier()
    {
        double[] x = Enumerable.Range(0, 10).Select(i => (double)i).ToArray();
        double[] y = x.Select(t => 1.0 + 0.5 * t).ToArray();
        y[4] += 10; // one wild point

        var equal = Regression.Fit(x, y, Ones(10));
        double[] variance = Ones(10);
        variance[4] = 1e8;
        var weighted = Regression.Fit(x, y, variance);

        // Unweighted, the outlier drags the line up by ~1; weighted away, the line is back within 1e-6.
        Assert.True(Math.Abs(equal.Intercept + equal.Slope * 4 - 3.0) > 0.5);
        Assert.Equal(1.0, weighted.Intercept, 5);
        Assert.Equal(0.5, weighted.Slope, 6);
    }

    [Fact]
    public void FitOfOneOrTwoPointsHasNoSlopeError()
    {
        var one = Regression.Fit([5.0], [2.0], [1.0]);
        Assert.Equal((2.0, 0.0, 1), (one.Intercept, one.Slope, one.Count));
        Assert.Equal(double.PositiveInfinity, one.SlopeStdError);

        var two = Regression.Fit([-10.0, 0.0], [1.0, 2.0], [1.0, 1.0]);
        Assert.Equal(2.0, two.Intercept, 12);
        Assert.Equal(0.1, two.Slope, 12);
        Assert.Equal(2, two.Count);
        Assert.Equal(double.PositiveInfinity, two.SlopeStdError);
    }

    [Fact]
    public void RunsTestDropsTheOldPointsBeforeAFrequencyChange()
    {
        // 40 points: slope 0 for the first 24, then slope 1e-4 (the clock's frequency moved), small noise.
        const int n = 40;
        double[] x = Enumerable.Range(0, n).Select(i => (i - (n - 1)) * 16.0).ToArray();
        double[] noise = Noise(n, 1e-6, seed: 3);
        double kink = x[23];
        double[] y = x.Select((t, i) => (t <= kink ? 0 : 1e-4 * (t - kink)) + noise[i]).ToArray();

        var whole = Regression.Fit(x, y, Ones(n));
        var fit = Regression.FitWithRunsTest(x, y, Ones(n));

        Assert.True(fit.Count < n, $"kept all {fit.Count}");
        // What is left follows the new frequency, which a fit across the kink does not.
        Assert.True(fit.Count <= n - 16, $"kept {fit.Count}: old points remain");
        Assert.Equal(1e-4, fit.Slope, 6);
        Assert.True(Math.Abs(whole.Slope - 1e-4) > 1e-5, $"whole fit slope {whole.Slope}");
        Assert.Equal(y[^1], fit.Intercept, 5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(11)]
    public void RunsTestKeepsEveryPointOfAStraightNoisyLine(int seed)
    {
        const int n = 32;
        double[] x = Enumerable.Range(0, n).Select(i => (i - (n - 1)) * 64.0).ToArray();
        double[] noise = Noise(n, 1e-4, seed);
        double[] y = x.Select((t, i) => 0.01 - 2e-5 * t + noise[i]).ToArray();

        var fit = Regression.FitWithRunsTest(x, y, Ones(n));

        Assert.Equal(n, fit.Count);
        Assert.True(fit.Runs >= 8, $"runs {fit.Runs}");
        Assert.Equal(-2e-5, fit.Slope, 6);
    }

    [Fact]
    public void RunsTestKeepsEveryPointOfANoiselessLine()
    {
        // Identical offsets (a constant path, a clock without drift): a perfect fit is no evidence
        // that the frequency moved.
        const int n = 32;
        double[] x = Enumerable.Range(0, n).Select(i => (i - (n - 1)) * 64.0).ToArray();
        double[] y = Enumerable.Repeat(-0.05, n).ToArray();

        var fit = Regression.FitWithRunsTest(x, y, Ones(n));

        Assert.Equal(n, fit.Count);
    }

    [Fact]
    public void RunsTestOnACurveKeepsOnlyARecentStretch()
    {
        // A parabola (the frequency drifting all the time): no long stretch of it is a line.
        double[] x = Enumerable.Range(0, 50).Select(i => (double)(i - 49)).ToArray();
        double[] y = x.Select(t => t * t * 1e-3).ToArray();

        var fit = Regression.FitWithRunsTest(x, y, Ones(50));

        Assert.InRange(fit.Count, Regression.MinPoints, 12);
        // The slope of the kept stretch is the curve's recent one (2·1e-3·x near the end), not the whole span's.
        var whole = Regression.Fit(x, y, Ones(50));
        Assert.True(Math.Abs(fit.Slope) < Math.Abs(whole.Slope) / 4, $"slope {fit.Slope} vs {whole.Slope}");
    }

    [Fact]
    public void CountRunsCountsSignChangesWithZeroAsPositive()
    {
        Assert.Equal(3, Regression.CountRuns([1.0, 2.0, -1.0, -2.0, 3.0], out int p, out int m));
        Assert.Equal((3, 2), (p, m));
        Assert.Equal(6, Regression.CountRuns([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], out p, out m));
        Assert.Equal((3, 3), (p, m));
        Assert.Equal(1, Regression.CountRuns([0.0, 1.0, 2.0], out p, out m));
        Assert.Equal((3, 0), (p, m));
        Assert.Equal(0, Regression.CountRuns([], out p, out m));
    }

    [Theory]
    // Wald–Wolfowitz: mean = 2·n₁·n₂/n + 1, variance = (mean−1)(mean−2)/(n−1), minimum = ⌊mean − 1.645·σ⌋.
    [InlineData(5, 5, 3)]     // mean 6, σ 1.491
    [InlineData(10, 10, 7)]   // mean 11, σ 2.176
    [InlineData(32, 32, 26)]  // mean 33, σ 3.968
    [InlineData(3, 7, 3)]     // mean 5.2, σ 1.337
    [InlineData(1, 1, 2)]     // mean 2, σ 0
    [InlineData(0, 5, 2)]     // one sign only
    [InlineData(4, 0, 1)]
    public void MinimumRunsMatchesTheNormalApproximation(int positives, int negatives, int expected)
    {
        Assert.Equal(expected, Regression.MinimumRuns(positives, negatives));
    }
}
