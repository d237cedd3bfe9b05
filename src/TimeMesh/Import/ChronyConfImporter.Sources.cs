using System.Globalization;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Import;

/// <summary>chrony's server, pool and peer directives: the sources polled, and how each is authenticated.</summary>
public static partial class ChronyConfImporter
{
    /// <summary>Source options TimeMesh has no equivalent for, and why.</summary>
    private static readonly Dictionary<string, string> SourceOptionNotTranslated = new(StringComparer.OrdinalIgnoreCase)
    {
        ["auto_offline"] = "TimeMesh polls every source all the time",
        ["offline"] = "TimeMesh polls every source from the start",
        ["copy"] = "TimeMesh does not copy a source's reference id and stratum",
        ["ipv4"] = "TimeMesh uses every address the name resolves to",
        ["ipv6"] = "TimeMesh uses every address the name resolves to",
        ["trust"] = "TimeMesh's selection has no trusted sources",
        ["require"] = "TimeMesh's selection has no required sources",
        ["asymmetry"] = "TimeMesh does not correct for path asymmetry",
        ["extfield"] = "TimeMesh sends no extension fields",
        ["filter"] = "TimeMesh has no median filter",
        ["maxdelay"] = "TimeMesh's delay tests are fixed at chrony's defaults (maxdelay 3, maxdelaydevratio 10)",
        ["maxdelayratio"] = "TimeMesh's delay tests are fixed at chrony's defaults (maxdelay 3, maxdelaydevratio 10)",
        ["maxdelaydevratio"] = "TimeMesh's delay tests are fixed at chrony's defaults (maxdelay 3, maxdelaydevratio 10)",
        ["maxdelayquant"] = "TimeMesh's delay tests are fixed at chrony's defaults (maxdelay 3, maxdelaydevratio 10)",
        ["mindelay"] = "TimeMesh's delay tests are fixed at chrony's defaults (maxdelay 3, maxdelaydevratio 10)",
        ["maxsamples"] = "TimeMesh's sample count per source is built in",
        ["minsamples"] = "TimeMesh's sample count per source is built in",
        ["minstratum"] = "TimeMesh has no minstratum",
        ["offset"] = "TimeMesh has no per-source offset correction",
        ["presend"] = "TimeMesh sends no presend packets",
        ["version"] = "TimeMesh always sends NTPv4",
    };

    private static readonly HashSet<string> ValuedSourceOptions = new(StringComparer.OrdinalIgnoreCase)
    {
        "certset", "key", "asymmetry", "extfield", "filter", "maxdelay", "maxdelayratio", "maxdelaydevratio",
        "maxdelayquant", "maxpoll", "maxsamples", "maxsources", "maxunreach", "mindelay", "minpoll", "minsamples",
        "minstratum", "ntsport", "offset", "port", "polltarget", "presend", "version",
    };

    private static readonly HashSet<string> FlagSourceOptions = new(StringComparer.OrdinalIgnoreCase)
    {
        "auto_offline", "burst", "copy", "iburst", "offline", "ipv4", "ipv6", "nts", "xleave", "noselect", "prefer", "require", "trust",
    };

    // chronyd clamps poll exponents to this range at run time (ntp_core.c MIN_POLL, MAX_POLL).
    private const int ChronyMinPoll = -7;
    private const int ChronyMaxPoll = 24;

    /// <summary>
    /// A server or pool line. Its authentication (chrony's <c>key</c>, <c>nts</c>, <c>ntsport</c>, <c>certset</c>) is
    /// resolved once the whole file is read (ChronyConfImporter.Keys.cs, .Nts.cs), since the keyfile and the trusted
    /// certificates may come on any line; <see cref="Selectable"/> turns false when chrony would never select it.
    /// </summary>
    private sealed record Source(int Line, string Text, bool IsPool, string Address, List<string> Fields, int? PollTarget)
    {
        public bool Nts { get; init; }
        public int? NtsKePort { get; init; }
        public uint CertSet { get; init; }
        public uint? KeyId { get; init; }
        /// <summary>Set when the key or NTS is kept: requests and replies of this source are authenticated.</summary>
        public bool Authenticated { get; set; }
        public bool Selectable { get; set; } = true;
        public string Describe => $"{(IsPool ? "pool" : "server")} {Address}";
    }

    private sealed partial class Translation
    {
        private readonly List<Source> _sources = new();

        private void ParseSource(int line, string text, bool isPool, string[] args)
        {
            string kind = isPool ? "pool" : "server";
            if (args.Length == 0)
            {
                Invalid(line, text, $"{kind} needs an address");
                return;
            }
            string address = args[0];
            int port = 123, minPoll = 6, maxPoll = 10, maxSources = 4;
            int? maxUnreach = null, pollTarget = null;
            bool iburst = false, burst = false, prefer = false, noselect = false, nts = false, xleave = false;
            int? ntsPort = null;
            uint? sourceKeyId = null;
            uint certSet = 0;
            var untranslated = new List<(string Option, string Why)>();
            for (int i = 1; i < args.Length; i++)
            {
                string option = args[i].ToLowerInvariant();
                string? value = null;
                if (ValuedSourceOptions.Contains(option))
                {
                    if (i + 1 >= args.Length)
                    {
                        Invalid(line, text, $"{option} needs a value");
                        return;
                    }
                    value = args[++i];
                }
                else if (!FlagSourceOptions.Contains(option))
                {
                    Invalid(line, text, $"'{args[i]}' is not an option of {kind}");
                    return;
                }
                int? number = value is null ? null : ParseInt(value);
                bool needsInt = option is "minpoll" or "maxpoll" or "port" or "maxsources" or "maxunreach" or "polltarget" or "presend" or "version" or "filter" or "minsamples" or "maxsamples" or "minstratum" or "ntsport";
                if (needsInt && number is null)
                {
                    Invalid(line, text, $"{option} takes a whole number, not '{value}'");
                    return;
                }
                if (option is "maxdelay" or "maxdelayratio" or "maxdelaydevratio" or "maxdelayquant" or "mindelay" or "asymmetry" or "offset"
                    && ParseDouble(value!) is null)
                {
                    Invalid(line, text, $"{option} takes a number, not '{value}'");
                    return;
                }
                if ((option is "key" && (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint keyId) || keyId == 0))
                    || (option is "certset" && !uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    || (option is "extfield" && !uint.TryParse(value, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _)))
                {
                    Invalid(line, text, $"'{value}' is not a valid {option}");
                    return;
                }
                switch (option)
                {
                    case "minpoll": minPoll = number!.Value; break;
                    case "maxpoll": maxPoll = number!.Value; break;
                    case "port": port = number!.Value; break;
                    case "maxsources":
                        if (isPool) maxSources = number!.Value;
                        else untranslated.Add(($"maxsources {value}", "no effect on a server (chronyd ignores it too)"));
                        break;
                    case "maxunreach":
                        if (number < 0) { Invalid(line, text, "maxunreach must be at least 0"); return; }
                        maxUnreach = number;
                        break;
                    case "polltarget": pollTarget = number; break;
                    case "iburst": iburst = true; break;
                    case "burst": burst = true; break;
                    case "prefer": prefer = true; break;
                    case "xleave": xleave = true; break;
                    case "noselect": noselect = true; break;
                    case "nts": nts = true; break;
                    case "ntsport": ntsPort = number; break;
                    case "key": sourceKeyId = uint.Parse(value!, NumberStyles.None, CultureInfo.InvariantCulture); break;
                    case "certset": certSet = uint.Parse(value!, NumberStyles.None, CultureInfo.InvariantCulture); break;
                    default:
                        untranslated.Add((value is null ? option : $"{option} {value}", SourceOptionNotTranslated[option]));
                        break;
                }
            }

            if (noselect)
            {
                Note(line, text, $"not translated: noselect makes this {kind} monitoring-only, and TimeMesh would select it; it is left out");
                return;
            }
            if (port is < 1 or > 65535)
            {
                Note(line, text, $"not translated: port {port} is not a UDP port TimeMesh can poll; this {kind} is left out");
                return;
            }
            foreach (var (option, why) in untranslated) Note(line, $"{option} ({kind} {address})", "not translated: " + why);

            // What chronyd does with these values at run time, then whether TimeMesh takes the result.
            int effectiveMin = Math.Clamp(minPoll, ChronyMinPoll, ChronyMaxPoll);
            int effectiveMax = Math.Max(Math.Clamp(maxPoll, ChronyMinPoll, ChronyMaxPoll), effectiveMin);
            int clampedMax = Math.Clamp(maxPoll, ChronyMinPoll, ChronyMaxPoll);
            if (effectiveMin != minPoll)
                Note(line, $"minpoll {minPoll} ({kind} {address})", $"chronyd uses {effectiveMin}; translated as that");
            if (clampedMax != maxPoll)
                Note(line, $"maxpoll {maxPoll} ({kind} {address})", $"chronyd uses {clampedMax}; translated as that");
            if (effectiveMax != clampedMax)
                Note(line, $"maxpoll {clampedMax} ({kind} {address})", $"below minpoll {effectiveMin}: chronyd raises it to {effectiveMax}; translated as that");

            var fields = new List<string> { $"address = {HoconText.Quote(address)}", $"port = {port}" };
            if (isPool)
            {
                int clamped = Math.Clamp(maxSources, 1, 16);
                if (clamped != maxSources) Note(line, $"maxsources {maxSources} (pool {address})", $"chronyd keeps maxsources within 1 to 16: translated as {clamped}");
                fields.Add($"maxsources = {clamped}");
            }
            fields.Add($"iburst = {OnOff(iburst)}");
            fields.Add($"burst = {OnOff(burst)}");
            const int timeMeshMinPoll = Core.Sources.SourceSettings.MinPollFloor, timeMeshMaxPoll = Core.Sources.SourceSettings.MaxPollCeiling;
            if (effectiveMin < timeMeshMinPoll)
            {
                Note(line, $"minpoll {minPoll} ({kind} {address})", $"not translated: TimeMesh allows minpoll from {timeMeshMinPoll} to {timeMeshMaxPoll}; {timeMeshMinPoll} is written");
                effectiveMin = timeMeshMinPoll;
                effectiveMax = Math.Max(effectiveMax, effectiveMin);
            }
            fields.Add($"minpoll = {effectiveMin}");
            fields.Add($"maxpoll = {effectiveMax}");
            fields.Add($"prefer = {OnOff(prefer)}");
            // TimeMesh asks NTS sources in the basic mode only (noted below, once the source is kept).
            fields.Add($"xleave = {OnOff(xleave && !nts)}");
            if (maxUnreach is { } unreach)
            {
                if (unreach is >= 1 and <= 100_000) fields.Add($"maxunreach = {unreach}");
                else Note(line, $"maxunreach {unreach} ({kind} {address})", "not translated: TimeMesh allows maxunreach from 1 to 100000; its default 4 applies");
            }
            if (ntsPort is { } p && !nts)
                Note(line, $"ntsport {p} ({kind} {address})", "no effect without nts (chronyd ignores it too)");
            else if (ntsPort is { } kePort && kePort is < 1 or > 65535)
            {
                Note(line, $"ntsport {kePort} ({kind} {address})", "not a TCP port: chronyd could never reach the key exchange, so this source would never be authenticated; it is left out");
                return;
            }
            if (certSet != 0 && !nts) Note(line, $"certset {certSet} ({kind} {address})", "no effect without nts (chronyd ignores it too)");
            if (nts && xleave)
                Note(line, $"xleave ({kind} {address})", "not translated: TimeMesh polls NTS sources in the basic mode; its xleave is for sources without NTS");
            if (nts && sourceKeyId is { } ignoredKey)
            {
                Note(line, $"key {ignoredKey} ({kind} {address})", "not translated: chronyd authenticates a source with both nts and key by NTS only; so does TimeMesh (nts = on)");
                sourceKeyId = null;
            }
            _sources.Add(new Source(line, text, isPool, address, fields, pollTarget) { Nts = nts, NtsKePort = ntsPort, CertSet = certSet, KeyId = sourceKeyId });
        }


        private void RenderSources(List<string> body)
        {
            // chrony's polltarget is per source, TimeMesh's is one value for the node.
            var targets = _sources.Where(s => s.Selectable).Select(s => s.PollTarget ?? 8).Distinct().ToList();
            if (targets.Count == 1 && targets[0] != 8)
            {
                var first = _sources.First(s => s.PollTarget is not null);
                if (targets[0] is >= 6 and <= 60)
                {
                    body.Add($"# line {first.Line}: polltarget {targets[0]} (on every source)");
                    body.Add($"polltarget = {targets[0]}");
                }
                else
                    foreach (var s in _sources)
                        Note(s.Line, $"polltarget {targets[0]} ({(s.IsPool ? "pool" : "server")} {s.Address})", "not translated: TimeMesh allows polltarget from 6 to 60; its default 8 applies");
            }
            else if (targets.Count > 1)
            {
                foreach (var s in _sources.Where(s => s.PollTarget is not null))
                    Note(s.Line, $"polltarget {s.PollTarget} ({(s.IsPool ? "pool" : "server")} {s.Address})",
                        "not translated: TimeMesh has one polltarget for all sources and these sources differ; its default 8 applies");
            }

            foreach (bool pools in new[] { false, true })
            {
                var list = _sources.Where(s => s.IsPool == pools && s.Selectable).ToList();
                if (list.Count == 0) continue;
                body.Add((pools ? "pool" : "server") + " = [");
                foreach (var s in list)
                {
                    body.Add($"  # line {s.Line}: {s.Text}");
                    body.Add("  { " + string.Join(", ", s.Fields.Concat(AuthenticationFields(s))) + " }");
                }
                body.Add("]");
            }
        }

        /// <summary>server, pool, peer.</summary>
        private bool SourceDirective(int line, string name, string[] args, string text)
        {
            switch (name)
            {
                case "server":
                case "pool":
                    ParseSource(line, text, name == "pool", args);
                    return true;
                case "peer":
                    if (args.Length == 0) Invalid(line, text, "peer needs an address");
                    else Note(line, text, "not supported: TimeMesh has no symmetric (peer) mode; use server on both sides, as chrony's manual advises, or make both nodes masters of one TimeMesh mesh");
                    return true;
            }
            return false;
        }
    }
}
