using System.Globalization;
using System.Text;

namespace TimeMesh.Simulator;

public static class ResultsTable
{
    public static string Markdown(IReadOnlyList<ScenarioResult> results, int seed)
    {
        var sb = new StringBuilder();
        int runs = results.Count > 0 ? results[0].Runs : 0;
        sb.AppendLine(CultureInfo.InvariantCulture, $"Scenario results: {runs} run(s) each, seeds {seed}..{seed + runs - 1}. Sync time and maxima: worst run; RMS: mean over the runs (as chrony publishes).");
        sb.AppendLine();
        sb.AppendLine("| scenario | sync (s) | max \\|offset\\| | RMS offset | mean offset | max freq err (ppm) | RMS freq err (ppm) | requests / replies / lost / KoD | interleaved samples | steps | final poll | result | reference |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in results)
        {
            string sync = r.SyncSeconds is { } s ? s.ToString("0", CultureInfo.InvariantCulture) : "never" + (r.FinalNoSyncReason is { } why ? $" ({why})" : "");
            string verdict = r.Passed ? "pass" : "FAIL: " + string.Join("; ", r.Failures);
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Scenario.Id} {r.Scenario.Title} | {sync} | {Time(r.MaxOffsetSeconds)} | {Time(r.RmsOffsetSeconds)} | {Signed(r.MeanOffsetSeconds)} | {r.MaxFrequencyErrorPpm:0.###} | {r.RmsFrequencyErrorPpm:0.###} | {r.RequestsSent} / {r.RepliesReceived} / {r.PacketsLost} / {r.KissesReceived} | {Interleaved(r)} | {r.Steps} | {r.FinalPollLog2} | {verdict} | {r.Scenario.ChronyReference} |");
        }
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Wall time: {results.Sum(r => r.WallTime.TotalSeconds):0.0} s for {results.Count} scenarios.");
        return sb.ToString();
    }

    private static string Time(double seconds) => Math.Abs(seconds) switch
    {
        >= 1 => $"{seconds:0.###} s",
        >= 1e-3 => $"{seconds * 1e3:0.###} ms",
        _ => $"{seconds * 1e6:0.#} µs",
    };

    private static string Signed(double seconds) => (seconds >= 0 ? "+" : "−") + Time(Math.Abs(seconds));

    /// <summary>Interleaved samples of all samples, "—" where no sample was interleaved.</summary>
    private static string Interleaved(ScenarioResult r) =>
        r.InterleavedSamples == 0 ? "—" : string.Create(CultureInfo.InvariantCulture, $"{r.InterleavedSamples} of {r.Samples} ({r.InterleavedShare * 100:0.#} %)");
}
