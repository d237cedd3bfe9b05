namespace TimeMesh.Cli.Import;

/// <summary>Serving without sources and serving many clients: local (stratum), ratelimit.</summary>
public static partial class ChronyConfImporter
{
    private sealed partial class Translation
    {

        private void ParseLocal(int line, string text, string[] args)
        {
            int stratum = 10;
            var untranslated = new List<(string, string)>();
            for (int i = 0; i < args.Length; i++)
            {
                string option = args[i].ToLowerInvariant();
                if (option == "orphan")
                {
                    untranslated.Add(("orphan", "TimeMesh has no orphan mode; two or more servers sharing a local stratum should be masters of one TimeMesh mesh, which elects the one that serves"));
                    continue;
                }
                if (option is not ("stratum" or "distance" or "activate" or "waitsynced" or "waitunsynced"))
                {
                    Invalid(line, text, $"'{args[i]}' is not an option of local");
                    return;
                }
                if (i + 1 >= args.Length)
                {
                    Invalid(line, text, $"{option} needs a value");
                    return;
                }
                string value = args[++i];
                if (option == "stratum")
                {
                    if (ParseInt(value) is not { } s || s is < 1 or > 15)
                    {
                        Invalid(line, text, "local stratum must be from 1 to 15");
                        return;
                    }
                    stratum = s;
                    continue;
                }
                if (ParseDouble(value) is null)
                {
                    Invalid(line, text, $"{option} takes a number");
                    return;
                }
                untranslated.Add(($"{option} {value}", option switch
                {
                    "distance" => "TimeMesh serves its local clock as soon as no source is selected; it does not wait for the root distance to grow",
                    "activate" => "TimeMesh has no activation distance (a mesh node serves local only once synchronised or with persisted drift)",
                    _ => "TimeMesh has no wait timers for local",
                }));
            }
            Keep(line, text, "local", [$"local {{ stratum = {stratum} }}"]);
            foreach (var (option, why) in untranslated) Note(line, $"{option} (local)", "not translated: " + why);
        }


        private void ParseRateLimit(int line, string text, string[] args)
        {
            // chrony's defaults; out-of-range values are clamped by chronyd (clientlog.c), so they are here too.
            int interval = 3, burst = 8, leak = 2, kod = 0;
            bool sawKod = false;
            if (args.Length % 2 != 0)
            {
                Invalid(line, text, "ratelimit takes option-value pairs");
                return;
            }
            for (int i = 0; i < args.Length; i += 2)
            {
                if (ParseInt(args[i + 1]) is not { } value || value is < -32 or > 32)
                {
                    Invalid(line, text, $"'{args[i + 1]}' is not a whole number from -32 to 32");
                    return;
                }
                switch (args[i].ToLowerInvariant())
                {
                    case "interval": interval = value; break;
                    case "burst": burst = value; break;
                    case "leak": leak = value; break;
                    case "kod": kod = value; sawKod = true; break;
                    default:
                        Invalid(line, text, $"'{args[i]}' is not an option of ratelimit");
                        return;
                }
            }
            var clamped = (Interval: Math.Clamp(interval, -19, 12), Burst: Math.Clamp(burst, 1, 255), Leak: Math.Clamp(leak, 1, 4));
            if (clamped != (interval, burst, leak))
                Note(line, text, $"chronyd clamps this to interval {clamped.Interval} burst {clamped.Burst} leak {clamped.Leak}; translated as that");
            if (sawKod && kod > 0)
                Note(line, $"kod {kod} (ratelimit)", "translated as kod = on: TimeMesh answers an over-limit client with a RATE kiss-o'-death at most once per interval, chronyd at random 1 in 2^kod");
            Keep(line, text, "ratelimit",
                [$"ratelimit {{ interval = {clamped.Interval}, burst = {clamped.Burst}, leak = {clamped.Leak}, kod = {OnOff(kod > 0)} }}"]);
        }

        /// <summary>local, ratelimit, clientloglimit.</summary>
        private bool LocalDirective(int line, string name, string[] args, string text)
        {
            switch (name)
            {
                case "local":
                    ParseLocal(line, text, args);
                    return true;
                case "ratelimit":
                    ParseRateLimit(line, text, args);
                    return true;
                case "clientloglimit":
                    if (Int(line, text, args) is not { } limit) return true;
                    if (limit < 128 || limit > 1L << 32)
                        Keep(line, text, "clientloglimit", [], $"not translated: TimeMesh allows 128 to {1L << 32} bytes; its default {524288} applies");
                    else
                        Keep(line, text, "clientloglimit", [$"clientloglimit = {limit}"]);
                    return true;
            }
            return false;
        }
    }
}
