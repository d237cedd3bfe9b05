namespace TimeMesh.Core.Sources;

/// <summary>Result of a weighted linear fit y = Intercept + Slope·x over the last <see cref="Count"/> points.</summary>
/// <param name="Intercept">The line's value at x = 0.</param>
/// <param name="Slope">The line's slope, y units per x unit.</param>
/// <param name="SlopeStdError">Standard error of <paramref name="Slope"/>; infinite with fewer than three points.</param>
/// <param name="InterceptStdError">Standard error of <paramref name="Intercept"/>; 0 with fewer than three points.</param>
/// <param name="ResidualStdDev">Unweighted scatter of the points about the line, √(Σr² / (n − 2)); 0 with fewer than three points.</param>
/// <param name="Count">How many of the newest points the fit used (the runs test may have dropped older ones).</param>
/// <param name="Runs">
/// Runs of same-sign residuals, when the runs test judged this fit; 0 when it did not (three points, or a line that
/// fits to rounding error). With one or two points, the number of points.
/// </param>
public readonly record struct RegressionFit(
    double Intercept,
    double Slope,
    double SlopeStdError,
    double InterceptStdError,
    double ResidualStdDev,
    int Count,
    int Runs);

/// <summary>
/// Weighted least squares with chrony's idea of a runs test: the oldest points are dropped while the
/// signs of the residuals run in too few runs to be noise (the clock's frequency moved), so the fit
/// follows a wandering clock without giving up the averaging of a steady one.
/// </summary>
public static class Regression
{
    /// <summary>
    /// The fewest points with a residual left over to estimate errors from: below it <see cref="Fit"/> reports infinite
    /// slope error, and <see cref="FitWithRunsTest"/> never drops points below it.
    /// </summary>
    public const int MinPoints = 3;

    /// <summary>Fits the last points of <paramref name="x"/>/<paramref name="y"/>/<paramref name="variance"/>.</summary>
    /// <param name="x">The sample times.</param>
    /// <param name="y">The values at those times.</param>
    /// <param name="variance">Relative variance of each point (weight = 1 / variance).</param>
    public static RegressionFit FitWithRunsTest(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> variance)
    {
        int n = x.Length;
        if (n == 0) return default;
        if (n < MinPoints) return Fit(x, y, variance);
        int start = 0;
        RegressionFit fit;
        Span<double> residuals = n <= 256 ? stackalloc double[n] : new double[n];
        while (true)
        {
            fit = Fit(x[start..], y[start..], variance[start..]);
            int m = n - start;
            if (m <= MinPoints) break;
            double largest = 0;
            for (int i = 0; i < m; i++)
            {
                residuals[i] = y[start + i] - (fit.Intercept + fit.Slope * x[start + i]);
                largest = Math.Max(largest, Math.Abs(residuals[i]));
            }
            // A line that fits to rounding error has no runs to judge: keep it whole.
            if (largest <= 1e-12 * (1 + Math.Abs(fit.Intercept))) break;
            int runs = CountRuns(residuals[..m], out int positives, out int negatives);
            fit = fit with { Runs = runs };
            if (runs >= MinimumRuns(positives, negatives)) break;
            // Too few runs: the oldest points no longer fit a line. Drop a quarter of them and retry.
            start += Math.Max(1, m / 4);
            if (n - start < MinPoints) start = n - MinPoints;
        }
        return fit;
    }

    /// <summary>
    /// One weighted least-squares line through all the points, with no runs test (<see cref="RegressionFit.Runs"/> is
    /// left 0 from three points on). One point gives a flat line through it, two the line through both; for both, the
    /// slope's standard error is infinite and the other errors are 0. No points give <c>default</c>.
    /// </summary>
    /// <param name="x">The sample times.</param>
    /// <param name="y">The values at those times.</param>
    /// <param name="variance">Relative variance of each point (weight = 1 / variance); the error estimates take their scale from the residuals.</param>
    /// <returns>The fit; <see cref="RegressionFit.ResidualStdDev"/> is the unweighted scatter about the line.</returns>
    public static RegressionFit Fit(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> variance)
    {
        int n = x.Length;
        if (n == 0) return default;
        double sw = 0, swx = 0, swy = 0;
        for (int i = 0; i < n; i++)
        {
            double w = 1 / variance[i];
            sw += w;
            swx += w * x[i];
            swy += w * y[i];
        }
        double mx = swx / sw, my = swy / sw;
        if (n == 1) return new RegressionFit(y[0], 0, double.PositiveInfinity, 0, 0, 1, 1);
        double sxx = 0, sxy = 0;
        for (int i = 0; i < n; i++)
        {
            double w = 1 / variance[i];
            double dx = x[i] - mx;
            sxx += w * dx * dx;
            sxy += w * dx * (y[i] - my);
        }
        double slope = sxx > 0 ? sxy / sxx : 0;
        double intercept = my - slope * mx;
        if (n == 2) return new RegressionFit(intercept, slope, double.PositiveInfinity, 0, 0, 2, 2);
        double ssr = 0, ssrUnweighted = 0;
        for (int i = 0; i < n; i++)
        {
            double r = y[i] - (intercept + slope * x[i]);
            ssr += r * r / variance[i];
            ssrUnweighted += r * r;
        }
        // Variance of a unit-weight point; the weights are relative, so this carries the scale.
        double s2 = ssr / (n - 2);
        double slopeSe = sxx > 0 ? Math.Sqrt(s2 / sxx) : double.PositiveInfinity;
        double interceptSe = Math.Sqrt(s2 * (1.0 / sw + (sxx > 0 ? mx * mx / sxx : 0)));
        return new RegressionFit(intercept, slope, slopeSe, interceptSe, Math.Sqrt(ssrUnweighted / (n - 2)), n, 0);
    }

    internal static int CountRuns(ReadOnlySpan<double> residuals, out int positives, out int negatives)
    {
        positives = negatives = 0;
        int runs = 0;
        int lastSign = 0;
        foreach (double r in residuals)
        {
            int sign = r >= 0 ? 1 : -1;
            if (sign > 0) positives++; else negatives++;
            if (sign != lastSign) runs++;
            lastSign = sign;
        }
        return runs;
    }

    /// <summary>
    /// The fewest runs that random signs produce with 95 % probability (Wald–Wolfowitz, normal
    /// approximation, one-sided): fewer means the residuals are correlated.
    /// </summary>
    internal static int MinimumRuns(int positives, int negatives)
    {
        int n = positives + negatives;
        if (positives == 0 || negatives == 0) return n > 4 ? 2 : 1;
        double mean = 2.0 * positives * negatives / n + 1;
        double variance = (mean - 1) * (mean - 2) / (n - 1);
        return (int)Math.Floor(mean - 1.645 * Math.Sqrt(Math.Max(variance, 0)));
    }
}
