using System.Globalization;
using System.Text.RegularExpressions;

namespace TimeMesh.Node.Tests.Control;

/// <summary>
/// A strict reader of Prometheus' text exposition format 0.0.4, for tests: every line must be a HELP, a
/// TYPE or a sample; a family's HELP and TYPE come once, before its samples; names, labels, escapes and
/// values follow the format. Anything else throws, naming the line.
/// </summary>
public sealed partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public Dictionary<string, string> Types { get; } = new();
    public Dictionary<string, string> Help { get; } = new();
    public List<Sample> Samples { get; } = new();

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    public static PrometheusText Parse(string text)
    {
        if (!text.EndsWith('\n')) throw new FormatException("the exposition does not end with a line feed");
        var result = new PrometheusText();
        var seenSeries = new HashSet<string>();
        var familiesWithSamples = new HashSet<string>();
        string[] lines = text[..^1].Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            string where = $"line {i + 1} '{line}'";
            if (line.Length == 0) continue;
            if (line.StartsWith("# HELP ") || line.StartsWith("# TYPE "))
            {
                string rest = line[7..];
                int space = rest.IndexOf(' ');
                if (space <= 0) throw new FormatException(where + ": no text after the name");
                string name = rest[..space], value = rest[(space + 1)..];
                if (!MetricName().IsMatch(name)) throw new FormatException(where + ": bad metric name");
                if (familiesWithSamples.Contains(name)) throw new FormatException(where + ": HELP or TYPE after the family's samples");
                if (line.StartsWith("# HELP "))
                {
                    if (!result.Help.TryAdd(name, value)) throw new FormatException(where + ": second HELP");
                }
                else
                {
                    if (value is not ("counter" or "gauge" or "histogram" or "summary" or "untyped")) throw new FormatException(where + ": unknown type");
                    if (!result.Types.TryAdd(name, value)) throw new FormatException(where + ": second TYPE");
                }
                continue;
            }
            if (line.StartsWith('#')) continue;
            var sample = ParseSample(line, where);
            if (!result.Types.ContainsKey(sample.Name)) throw new FormatException(where + ": sample before (or without) its TYPE");
            string series = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key).Select(l => l.Key + "=" + l.Value)) + "}";
            if (!seenSeries.Add(series)) throw new FormatException(where + ": duplicate series");
            familiesWithSamples.Add(sample.Name);
            result.Samples.Add(sample);
        }
        return result;
    }

    private static Sample ParseSample(string line, string where)
    {
        int i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ') i++;
        string name = line[..i];
        if (!MetricName().IsMatch(name)) throw new FormatException(where + ": bad metric name");
        var labels = new Dictionary<string, string>();
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                int eq = line.IndexOf('=', i);
                if (eq < 0) throw new FormatException(where + ": label without '='");
                string labelName = line[i..eq];
                if (!LabelName().IsMatch(labelName) || labelName.StartsWith("__")) throw new FormatException(where + ": bad label name");
                if (line[eq + 1] != '"') throw new FormatException(where + ": label value not quoted");
                var value = new System.Text.StringBuilder();
                int j = eq + 2;
                for (; ; j++)
                {
                    if (j >= line.Length) throw new FormatException(where + ": unterminated label value");
                    char c = line[j];
                    if (c == '"') break;
                    if (c == '\\')
                    {
                        char next = line[++j];
                        value.Append(next switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new FormatException(where + ": bad escape"),
                        });
                        continue;
                    }
                    value.Append(c);
                }
                if (!labels.TryAdd(labelName, value.ToString())) throw new FormatException(where + ": label given twice");
                i = j + 1;
                if (line[i] == ',') i++;
                else if (line[i] != '}') throw new FormatException(where + ": expected ',' or '}'");
            }
            i++;
        }
        if (i >= line.Length || line[i] != ' ') throw new FormatException(where + ": no value");
        string[] parts = line[(i + 1)..].Split(' ');
        if (parts.Length is < 1 or > 2) throw new FormatException(where + ": expected a value and an optional timestamp");
        double v = parts[0] switch
        {
            "NaN" => double.NaN,
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            _ when double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
            _ => throw new FormatException(where + ": bad value"),
        };
        if (parts.Length == 2 && !long.TryParse(parts[1], out _)) throw new FormatException(where + ": bad timestamp");
        return new Sample(name, labels, v);
    }

    public double Value(string name, params (string Key, string Value)[] labels) =>
        Samples.Single(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Value;
}
