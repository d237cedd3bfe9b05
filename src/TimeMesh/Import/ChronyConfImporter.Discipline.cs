using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Import;

/// <summary>How the clock is disciplined and sources selected: makestep, maxslewrate, minsources, maxdistance, maxjitter, combinelimit, reselectdist, driftfile.</summary>
public static partial class ChronyConfImporter
{
    private sealed partial class Translation
    {

        private void ParseMakeStep(int line, string text, string[] args)
        {
            // chronyd: sscanf("%lf %d"), so the limit may carry trailing characters, the threshold may not.
            var limitPrefix = args.Length == 2 ? LeadingInteger().Match(args[1]) : null;
            if (args.Length != 2 || ParseDouble(args[0]) is not { } threshold || limitPrefix is not { Success: true } || ParseInt(limitPrefix.Value) is not { } limit)
            {
                Invalid(line, text, "makestep takes a threshold in seconds and a whole number limit");
                return;
            }
            if (threshold < 0 || threshold > 1e9)
            {
                Keep(line, text, "makestep", [], "not translated: TimeMesh allows a makestep threshold from 0 to 1e9 s; its default (1.0 s, 3 updates) applies");
                return;
            }
            // chrony: "A negative value disables the limit"; TimeMesh spells that -1.
            Keep(line, text, "makestep", [$"makestep {{ threshold = {Num(threshold)}, limit = {(limit < 0 ? -1 : limit)} }}"]);
        }


        private void ParseDriftFile(int line, string text, string[] args)
        {
            int? interval = null;
            if (args.Length == 3 && args[1].Equals("interval", StringComparison.OrdinalIgnoreCase) && ParseInt(args[2]) is { } seconds)
                interval = seconds;
            else if (args.Length != 1)
            {
                Invalid(line, text, "driftfile takes a path and optionally interval SECONDS");
                return;
            }
            string path = args[0];
            int slash = path.LastIndexOf('/');
            string dir = slash < 0 ? "." : slash == 0 ? "/" : path[..slash];
            var hocon = new List<string>
            {
                $"# chronyd kept its frequency in {path}; TimeMesh keeps its drift state (frequency, skew, last",
                $"# offset, stratum, leap) in SQLite in data-dir: {dir}/timemesh.db. The drift file itself is not read.",
                $"data-dir = {HoconText.Quote(dir)}",
                "persistence { provider = sqlite }",
            };
            if (interval is { } i)
            {
                if (i is >= 0 and <= 86_400) hocon[^1] = $"persistence {{ provider = sqlite, write-interval = {i}s }}";
                else Note(line, $"interval {i} (driftfile)", "not translated: TimeMesh writes its drift state at most once per 0 s to 1 day; its default 60 s applies");
            }
            Keep(line, text, "driftfile", hocon);
        }

        /// <summary>makestep, driftfile and the selection and slew limits.</summary>
        private bool DisciplineDirective(int line, string name, string[] args, string text)
        {
            switch (name)
            {
                case "makestep":
                    ParseMakeStep(line, text, args);
                    return true;
                case "driftfile":
                    ParseDriftFile(line, text, args);
                    return true;
                case "minsources":
                    if (Int(line, text, args) is { } minSources)
                        KeepNumber(line, text, "minsources", minSources, 1, 64, "1", whole: true);
                    return true;
                case "maxdistance":
                    if (Double(line, text, args) is { } maxDistance) KeepNumber(line, text, "maxdistance", maxDistance, 1e-6, 1e6, "3.0 s");
                    return true;
                case "maxjitter":
                    if (Double(line, text, args) is { } maxJitter) KeepNumber(line, text, "maxjitter", maxJitter, 1e-9, 1e6, "1.0 s");
                    return true;
                case "combinelimit":
                    if (Double(line, text, args) is { } combineLimit) KeepNumber(line, text, "combinelimit", combineLimit, 0, 1e6, "3");
                    return true;
                case "reselectdist":
                    if (Double(line, text, args) is { } reselect) KeepNumber(line, text, "reselectdist", reselect, 0, 1e3, "0.0001 s");
                    return true;
                case "maxslewrate":
                    if (Double(line, text, args) is { } slew) KeepNumber(line, text, "maxslewrate", slew, 1, 500_000, "83333 ppm");
                    return true;
            }
            return false;
        }
    }
}
