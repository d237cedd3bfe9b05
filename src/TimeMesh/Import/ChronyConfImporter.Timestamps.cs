using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Import;

/// <summary>hwtimestamp: the interfaces whose NICs stamp NTP packets in hardware (timemesh.hwtimestamp).</summary>
public static partial class ChronyConfImporter
{
    /// <summary>chrony 4.x's hwtimestamp options that take a value, and those that stand alone.</summary>
    private static readonly HashSet<string> HwTimestampValueOptions = new(StringComparer.OrdinalIgnoreCase)
    {
        "maxsamples", "minpoll", "minsamples", "precision", "rxcomp", "txcomp", "rxfilter",
    };

    private sealed partial class Translation
    {
        private readonly List<(int Line, string Text, string Interface)> _hwTimestamps = new();

        private bool TimestampDirective(int line, string name, string[] args, string text)
        {
            if (name != "hwtimestamp") return false;
            if (args.Length == 0)
            {
                Invalid(line, text, "hwtimestamp takes an interface name or *");
                return true;
            }
            string iface = args[0];
            var ignored = new List<string>();
            for (int i = 1; i < args.Length; i++)
            {
                string option = args[i];
                if (option.Equals("nocrossts", StringComparison.OrdinalIgnoreCase))
                {
                    ignored.Add(option);
                    continue;
                }
                if (!HwTimestampValueOptions.Contains(option) || i + 1 >= args.Length)
                {
                    Invalid(line, text, HwTimestampValueOptions.Contains(option) ? $"{option} takes a value" : $"unknown hwtimestamp option '{option}'");
                    return true;
                }
                string value = args[++i];
                // TimeMesh asks for the receive filter ALL (or NTP_ALL), which is what rxfilter all and ntp ask for.
                if (option.Equals("rxfilter", StringComparison.OrdinalIgnoreCase) && value.ToLowerInvariant() is "all" or "ntp") continue;
                ignored.Add($"{option} {value}");
            }
            if (iface != "*" && TimeMesh.Net.HardwareTimestamping.CheckName(iface) is { } why)
            {
                Note(line, text, $"not translated: {why}");
                return true;
            }
            if (_hwTimestamps.Any(h => h.Interface == iface))
            {
                Note(line, text, $"{iface} is already listed on line {_hwTimestamps.First(h => h.Interface == iface).Line}; kept once");
                return true;
            }
            _hwTimestamps.Add((line, text, iface));
            if (ignored.Count > 0)
                Note(line, text, $"translated without {string.Join(", ", ignored)}: TimeMesh reads the PTP clock once a second, fits its rate over the last 16 readings, " +
                                 "asks for the receive filter ALL (or NTP_ALL) and applies no delay compensation");
            return true;
        }

        private void RenderHardwareTimestamps(List<string> body)
        {
            if (_hwTimestamps.Count == 0) return;
            foreach (var (line, text, _) in _hwTimestamps) body.Add($"# line {line}: {text}");
            body.Add($"hwtimestamp = [{string.Join(", ", _hwTimestamps.Select(h => HoconText.Quote(h.Interface)))}]");
        }
    }
}
