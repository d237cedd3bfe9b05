using System.Globalization;
using System.Net;
using System.Text;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Import;

/// <summary>Something in chrony.conf the import could not carry over, or changed, with the line it is on.</summary>
public sealed record ChronyImportNote(int Line, string Subject, string Message)
{
    public override string ToString() => $"line {Line}: {Subject} — {Message}";
}

/// <summary>
/// The TimeMesh HOCON equivalent of a chrony.conf and what it could not translate. <see cref="Insecure"/>:
/// lines whose authentication or trust TimeMesh cannot keep; unless the import was asked to allow that
/// (<c>--allow-insecure</c>) it is <see cref="Refused"/> and <see cref="Hocon"/> is empty.
/// <see cref="MachineFileKeys"/>: the keys written whose values name files on the node's machine (keyfile,
/// NTS certificates); whether they exist and can be read is the machine's business, not the translation's.
/// </summary>
public sealed record ChronyImportResult(
    string Hocon,
    IReadOnlyList<ChronyImportNote> Notes,
    IReadOnlyList<ChronyImportNote> Insecure,
    bool Refused,
    IReadOnlyList<string> MachineFileKeys);

/// <summary>
/// Translates chrony.conf (chrony 4.x syntax, chrony.conf(5)) into TimeMesh HOCON: text in, text and
/// notes out; it reads no files and resolves no names. Directives are parsed the way chronyd parses them;
/// what chronyd would refuse is reported as invalid and skipped, what TimeMesh has no key for or would
/// refuse (out of range) is reported and left out, so the output always loads. Authentication is never
/// lowered silently: what cannot keep its key, NTS or trust is <see cref="ChronyImportResult.Insecure"/>
/// and refuses the translation unless it is allowed. One partial file per directive family.
/// </summary>
public static partial class ChronyConfImporter
{
    /// <param name="allowInsecure">Translate lines whose security cannot be kept anyway (listed in <see cref="ChronyImportResult.Insecure"/>) instead of refusing.</param>
    public static ChronyImportResult Translate(string chronyConf, string sourceName = "chrony.conf", bool allowInsecure = false) =>
        new Translation(sourceName).Run(chronyConf, allowInsecure);

    /// <summary>A directive chronyd keeps only the last of; <see cref="Hocon"/> empty when it could not be translated.</summary>
    private sealed record LastWins(int Line, string Text, IReadOnlyList<string> Hocon);

    private sealed partial class Translation(string sourceName)
    {
        private readonly List<ChronyImportNote> _notes = new();
        private readonly List<ChronyImportNote> _insecure = new();
        private readonly List<string> _machineFileKeys = new();
        private readonly Dictionary<string, LastWins> _singles = new();

        private void Note(int line, string subject, string message) => _notes.Add(new ChronyImportNote(line, subject, message));

        /// <summary>Something whose authentication or trust TimeMesh would not keep: the import fails unless allowed.</summary>
        private void Insecure(int line, string subject, string message) => _insecure.Add(new ChronyImportNote(line, subject, message));

        private void Invalid(int line, string text, string why) =>
            Note(line, text, $"invalid, chronyd would refuse this line ({why}); skipped");

        public ChronyImportResult Run(string text, bool allowInsecure)
        {
            string[] lines = text.Replace("\r\n", "\n").Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                string[] words = Words(lines[i]);
                if (words.Length == 0) continue;
                Directive(i + 1, words[0].ToLowerInvariant(), words[1..], string.Join(' ', words));
            }
            string hocon = Render();
            bool refused = _insecure.Count > 0 && !allowInsecure;
            return new ChronyImportResult(refused ? "" : hocon, _notes.OrderBy(n => n.Line).ToList(), _insecure.OrderBy(n => n.Line).ToList(),
                refused, _machineFileKeys.Distinct().ToList());
        }

        /// <summary>chrony's CPS_NormalizeLine: a line whose first non-blank is one of !;#% is a comment.</summary>
        private static string[] Words(string line)
        {
            string trimmed = line.TrimStart();
            if (trimmed.Length == 0 || "!;#%".Contains(trimmed[0])) return [];
            return trimmed.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        }

        private void Directive(int line, string name, string[] args, string text)
        {
            // One family per file: ChronyConfImporter.<Family>.cs.
            if (SourceDirective(line, name, args, text) || AccessDirective(line, name, args, text) || LocalDirective(line, name, args, text)
                || DisciplineDirective(line, name, args, text) || KeyDirective(line, name, args, text) || NtsDirective(line, name, args, text)
                || TimestampDirective(line, name, args, text) || IncludeDirective(line, name, args, text))
                return;
            IgnoredDirective(line, name, args, text);
        }

        /// <summary>include, confdir, sourcedir: not followed.</summary>
        private bool IncludeDirective(int line, string name, string[] args, string text)
        {
            switch (name)
            {
                case "include":
                case "confdir":
                case "sourcedir":
                    // chronyd checks include's and confdir's words when parsing; an empty sourcedir only fails to find files.
                    if (name == "include" && args.Length != 1) Invalid(line, text, "include takes one file pattern");
                    else if (name == "confdir" && args.Length == 0) Invalid(line, text, "confdir takes one or more directories");
                    else Note(line, text, "not followed: the import reads one file; run import-chrony on the included files and merge their sources and rules by hand");
                    return true;
            }
            return false;
        }

        /// <summary>Records a directive chronyd keeps only the last of; an earlier one is reported as overridden.</summary>
        private void Keep(int line, string text, string slot, IReadOnlyList<string> hocon, string? problem = null)
        {
            if (_singles.TryGetValue(slot, out var earlier))
                Note(earlier.Line, earlier.Text, $"overridden by line {line} (chronyd keeps the last)");
            _singles[slot] = new LastWins(line, text, hocon);
            if (problem is not null) Note(line, text, problem);
        }

        private void KeepNumber(int line, string text, string key, double value, double min, double max, string fallback, bool whole = false)
        {
            string Format(double v) => whole ? ((long)v).ToString(CultureInfo.InvariantCulture) : Num(v);
            if (value < min || value > max)
                Keep(line, text, key, [], $"not translated: TimeMesh allows {key} from {Format(min)} to {Format(max)}; its default {fallback} applies");
            else
                Keep(line, text, key, [$"{key} = {Format(value)}"]);
        }

        /// <summary>chronyd 4.3 reads these with sscanf("%d"): the number at the start of the word counts.</summary>
        private long? Int(int line, string text, string[] args)
        {
            var prefix = args.Length == 1 ? LeadingInteger().Match(args[0]) : null;
            if (prefix is not { Success: true } || !long.TryParse(prefix.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            {
                Invalid(line, text, $"{Words(text)[0]} takes one whole number");
                return null;
            }
            if (prefix.Length != args[0].Length)
                Note(line, text, $"chronyd reads '{args[0]}' as {prefix.Value} and ignores the rest; translated as {prefix.Value}");
            return value;
        }

        [System.Text.RegularExpressions.GeneratedRegex(@"^[+-]?\d+")]
        private static partial System.Text.RegularExpressions.Regex LeadingInteger();

        /// <summary>
        /// chronyd reads these directives' value with sscanf("%lf"), which takes the number at the start of
        /// the word and ignores the rest ("1.5s" is 1.5): so does the import, and it says so.
        /// </summary>
        private double? Double(int line, string text, string[] args)
        {
            var prefix = args.Length == 1 ? LeadingNumber().Match(args[0]) : null;
            if (prefix is not { Success: true } || ParseDouble(prefix.Value) is not { } value)
            {
                Invalid(line, text, $"{Words(text)[0]} takes one number");
                return null;
            }
            if (prefix.Length != args[0].Length)
                Note(line, text, $"chronyd reads '{args[0]}' as {prefix.Value} and ignores the rest; translated as {prefix.Value}");
            return value;
        }

        [System.Text.RegularExpressions.GeneratedRegex(@"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")]
        private static partial System.Text.RegularExpressions.Regex LeadingNumber();

        private static double? ParseDouble(string token) =>
            double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) ? value : null;

        private static int? ParseInt(string token) =>
            int.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) ? value : null;

        private string Render()
        {
            var body = new List<string>();
            // Authentication first: which sources keep a key or NTS decides which may be selected at all.
            ResolveKeys();
            ResolveNtsTrust();
            ResolveAuthSelectMode();

            RenderListen(body);
            if (_singles.TryGetValue("local", out var local) && local.Hocon.Count > 0) Emit(body, local);
            if (_singles.TryGetValue("ratelimit", out var rate) && rate.Hocon.Count > 0) Emit(body, rate);
            if (_singles.TryGetValue("clientloglimit", out var cll) && cll.Hocon.Count > 0) Emit(body, cll);

            RenderKeys(body);
            RenderSources(body);
            RenderNts(body);

            if (_singles.TryGetValue("makestep", out var step) && step.Hocon.Count > 0) Emit(body, step);
            else if (!_singles.ContainsKey("makestep"))
            {
                body.Add("# No makestep in chrony.conf: chronyd never steps, it only slews.");
                body.Add("makestep = off");
            }
            foreach (string key in new[] { "maxslewrate", "minsources", "maxdistance", "maxjitter", "combinelimit", "reselectdist" })
                if (_singles.TryGetValue(key, out var single) && single.Hocon.Count > 0) Emit(body, single);
            if (_singles.TryGetValue("driftfile", out var drift) && drift.Hocon.Count > 0) Emit(body, drift);
            RenderHardwareTimestamps(body);
            RenderCommandPort(body);

            var output = new StringBuilder();
            output.AppendLine($"# TimeMesh configuration translated from {sourceName} by `timemesh import-chrony`.");
            output.AppendLine("# Keys not written here keep the defaults of TimeMesh's reference.conf.");
            output.AppendLine("# chronyd steers this machine's clock; this config leaves clock = virtual (TimeMesh serves corrected");
            output.AppendLine("# time without touching the OS clock). Set clock = system only once chronyd is stopped and disabled.");
            var insecure = _insecure.OrderBy(n => n.Line).ToList();
            if (insecure.Count > 0)
            {
                output.AppendLine("#");
                output.AppendLine($"# LESS SECURE THAN chrony.conf, imported with --allow-insecure ({insecure.Count}):");
                foreach (var note in insecure) output.AppendLine("# " + note);
            }
            var notes = _notes.OrderBy(n => n.Line).ToList();
            if (notes.Count > 0)
            {
                output.AppendLine("#");
                output.AppendLine($"# Not translated or changed ({notes.Count}):");
                foreach (var note in notes) output.AppendLine("# " + note);
            }
            output.AppendLine("timemesh {");
            foreach (string l in body) output.AppendLine("  " + l);
            output.AppendLine("}");
            return output.ToString();
        }

        private static void Emit(List<string> body, LastWins single)
        {
            body.Add($"# line {single.Line}: {single.Text}");
            body.AddRange(single.Hocon);
        }
    }

    private static string OnOff(bool value) => value ? "on" : "off";

    private static string Num(double value) =>
        value == Math.Floor(value) && Math.Abs(value) < 1e15
            ? value.ToString("0.0", CultureInfo.InvariantCulture)
            : value.ToString("R", CultureInfo.InvariantCulture);
}