using System.Globalization;
using TimeMesh.Simulator;

// timemesh-sim [SCENARIO...] [--seed N]: runs scenarios (all by default) and prints the results table.
int seed = 1;
int runs = 10;
bool trace = false;
var ids = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--seed" && i + 1 < args.Length) seed = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--trace") { trace = true; runs = 1; }
    else if (args[i] == "--mesh")
    {
        Console.WriteLine("| mesh scenario | seed | member max \\|offset\\| | member RMS | max spread of live nodes | leader changes | fail-over | result |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        bool allPassed = true;
        foreach (var s in MeshScenarioRunner.All)
            for (int meshSeed = 1; meshSeed <= 3; meshSeed++)
            {
                var r = MeshScenarioRunner.Run(s, meshSeed);
                allPassed &= r.Passed;
                Console.WriteLine(FormattableString.Invariant(
                    $"| {s.Id} {s.Title} | {meshSeed} | {r.MaxMemberOffsetSeconds * 1e6:0.0} µs | {r.RmsMemberOffsetSeconds * 1e6:0.0} µs | {r.MaxSpreadSeconds * 1e6:0.0} µs | {r.LeaderChanges} | {(r.FailoverSeconds is { } f ? $"{f:0.0} s" : "—")} | {(r.Passed ? "pass" : string.Join("; ", r.Failures))} |"));
            }
        return allPassed ? 0 : 1;
    }
    else if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] is "--help" or "-h")
    {
        Console.WriteLine("usage: timemesh-sim [SCENARIO...] [--runs N (default 10)] [--seed FIRST] [--trace (one run)] | --mesh\nscenarios: " + string.Join(", ", Scenarios.All.Select(s => s.Id)));
        return 0;
    }
    else ids.Add(args[i]);
}
var scenarios = ids.Count == 0 ? Scenarios.All : ids.Select(Scenarios.Get).ToList();
var results = trace
    ? scenarios.Select(s => ScenarioRunner.Run(s, seed, Console.Out)).ToList()
    : scenarios.Select(s => ScenarioRunner.RunMany(s, runs, seed)).ToList();
Console.WriteLine(ResultsTable.Markdown(results, seed));
return results.All(r => r.Passed) ? 0 : 1;
