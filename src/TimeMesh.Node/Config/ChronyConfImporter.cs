using System.Globalization;
using System.Net;
using System.Text;

namespace TimeMesh.Node.Config;

/// <summary>Something in chrony.conf the import could not carry over, or changed, with the line it is on.</summary>
public sealed record ChronyImportNote(int Line, string Subject, string Message)
{
    public override string ToString() => $"line {Line}: {Subject} — {Message}";
}

/// <summary>The TimeMesh HOCON equivalent of a chrony.conf, and what it could not translate.</summary>
public sealed record ChronyImportResult(string Hocon, IReadOnlyList<ChronyImportNote> Notes);

/// <summary>
/// Translates chrony.conf (chrony 4.x syntax, chrony.conf(5)) into TimeMesh HOCON: text in, text and
/// notes out; it reads no files and resolves no names. Directives are parsed the way chronyd parses them;
/// what chronyd would refuse is reported as invalid and skipped, what TimeMesh has no key for or would
/// refuse (out of range) is reported and left out, so the output always loads.
/// </summary>
public static partial class ChronyConfImporter
{
    public static ChronyImportResult Translate(string chronyConf, string sourceName = "chrony.conf") =>
        new Translation(sourceName).Run(chronyConf);

    /// <summary>Directives TimeMesh has no equivalent for, and why.</summary>
    private static readonly Dictionary<string, string> NotTranslated = new(StringComparer.OrdinalIgnoreCase)
    {
        ["acquisitionport"] = "TimeMesh sends every request from a fresh random port (RFC 9109)",
        ["authselectmode"] = "TimeMesh has no NTP authentication yet",
        ["bindacqaddress"] = "TimeMesh picks the source address of its requests from the routing table",
        ["bindacqdevice"] = "TimeMesh does not bind its requests to a device",
        ["bindcmddevice"] = "TimeMesh has no chronyc command socket",
        ["binddevice"] = "TimeMesh does not bind to a device; listen on the device's address instead",
        ["broadcast"] = "TimeMesh does not send NTP broadcasts",
        ["clockprecision"] = "TimeMesh measures its clock's precision itself",
        ["cmdratelimit"] = "TimeMesh limits command requests from hosts other than localhost with chrony's cmdratelimit values (interval -4, burst 8, leak 2) unless timemesh.cmdratelimit says otherwise",
        ["corrtimeratio"] = "TimeMesh's slew timing is fixed",
        ["dscp"] = "TimeMesh does not set DSCP on its packets",
        ["dumpdir"] = "TimeMesh keeps its measurement history in memory only",
        ["dumponexit"] = "TimeMesh keeps its measurement history in memory only",
        ["fallbackdrift"] = "TimeMesh has no fallback drifts",
        ["hwclockfile"] = "TimeMesh does not use the RTC",
        ["hwtimestamp"] = "TimeMesh uses kernel software receive timestamps (timemesh.ntp-server.kernel-timestamps), not NIC timestamps",
        ["hwtstimeout"] = "TimeMesh uses kernel software receive timestamps, not NIC timestamps",
        ["initstepslew"] = "deprecated in chrony; TimeMesh's makestep covers it",
        ["keyfile"] = "left to you: the same file works as timemesh.keyfile unchanged once only the node's user can read it (chrony accepts 0640 root:_chrony, TimeMesh wants 0600), but the importer reads no files and its output must load without it (docs/security.md)",
        ["leapsecmode"] = "TimeMesh passes leap seconds on as its source announces them",
        ["leapseclist"] = "TimeMesh takes leap seconds from its sources only",
        ["leapsectz"] = "TimeMesh takes leap seconds from its sources only",
        ["lock_all"] = "TimeMesh runs on .NET and does not lock its memory",
        ["log"] = "TimeMesh logs through Akka.NET to stdout/journald; its measurements are in `timemesh sources`",
        ["logbanner"] = "TimeMesh writes no chrony statistics logs",
        ["logchange"] = "TimeMesh logs steps itself",
        ["logdir"] = "TimeMesh writes no chrony statistics logs; it logs to stdout/journald",
        ["mailonchange"] = "TimeMesh sends no mail",
        ["manual"] = "TimeMesh has no manual (settime) input",
        ["maxchange"] = "TimeMesh has no maxchange limit",
        ["maxclockerror"] = "TimeMesh's frequency error bound is built in",
        ["maxdrift"] = "TimeMesh's frequency limit is built in",
        ["maxntsconnections"] = "TimeMesh has no NTS server yet",
        ["maxsamples"] = "TimeMesh's sample count per source is built in",
        ["maxstratum"] = "TimeMesh has no maxstratum",
        ["maxtxbuffers"] = "TimeMesh uses no transmit timestamps",
        ["maxupdateskew"] = "TimeMesh has no maxupdateskew",
        ["minsamples"] = "TimeMesh's sample count per source is built in",
        ["minstratum"] = "TimeMesh has no minstratum",
        ["nocerttimecheck"] = "TimeMesh has no NTS yet",
        ["noclientlog"] = "TimeMesh always keeps its client table (rate limiting needs it); size it with clientloglimit",
        ["nosystemcert"] = "TimeMesh has no NTS yet",
        ["ntpsigndsocket"] = "TimeMesh does not sign replies for Samba",
        ["ntsaeads"] = "TimeMesh has no NTS yet",
        ["ntscachedir"] = "TimeMesh has no NTS yet",
        ["ntsdumpdir"] = "TimeMesh has no NTS yet",
        ["ntsntpserver"] = "TimeMesh has no NTS yet",
        ["ntsport"] = "TimeMesh has no NTS yet",
        ["ntsprocesses"] = "TimeMesh has no NTS yet",
        ["ntsratelimit"] = "TimeMesh has no NTS yet",
        ["ntsrefresh"] = "TimeMesh has no NTS yet",
        ["ntsrotate"] = "TimeMesh has no NTS yet",
        ["ntsservercert"] = "TimeMesh has no NTS yet",
        ["ntsserverkey"] = "TimeMesh has no NTS yet",
        ["ntstrustedcerts"] = "TimeMesh has no NTS yet",
        ["opencommands"] = "TimeMesh's command port is read-only: every changing command is refused",
        ["pidfile"] = "TimeMesh writes no pid file (systemd tracks it)",
        ["ptpdomain"] = "TimeMesh does not speak NTP over PTP",
        ["ptpport"] = "TimeMesh does not speak NTP over PTP",
        ["refclock"] = "TimeMesh has no reference clock drivers; serve the refclock from a chronyd and list it as a server",
        ["refresh"] = "TimeMesh re-resolves pool names on its own schedule",
        ["rtcautotrim"] = "TimeMesh does not use the RTC",
        ["rtcdevice"] = "TimeMesh does not use the RTC",
        ["rtcfile"] = "TimeMesh does not use the RTC",
        ["rtconutc"] = "TimeMesh does not use the RTC",
        ["rtcsync"] = "TimeMesh does not set the RTC",
        ["sched_priority"] = "TimeMesh runs at normal priority",
        ["smoothtime"] = "TimeMesh does not smooth served time",
        ["stratumweight"] = "TimeMesh's selection does not weigh stratum",
        ["tempcomp"] = "TimeMesh has no temperature compensation",
        ["user"] = "TimeMesh runs as the user that starts it (see the systemd unit)",
        ["commandkey"] = "no longer supported by chrony either",
        ["generatecommandkey"] = "no longer supported by chrony either",
        ["linux_freq_scale"] = "no longer supported by chrony either",
        ["linux_hz"] = "no longer supported by chrony either",
    };

    // chronyd checks the number of words of these (parse_null, parse_string, parse_int, parse_double).
    private static readonly HashSet<string> NoArguments = new(StringComparer.OrdinalIgnoreCase)
    {
        "lock_all", "manual", "noclientlog", "nosystemcert", "rtconutc", "rtcsync",
    };

    private static readonly HashSet<string> OneArgument = new(StringComparer.OrdinalIgnoreCase)
    {
        "acquisitionport", "bindacqdevice", "bindcmddevice", "binddevice", "clockprecision", "corrtimeratio",
        "dscp", "dumpdir", "hwclockfile", "hwtstimeout", "keyfile", "leapseclist", "leapsectz", "logbanner", "logchange",
        "logdir", "maxclockerror", "maxdrift", "maxntsconnections", "maxsamples", "maxstratum", "maxtxbuffers",
        "maxupdateskew", "minsamples", "minstratum", "nocerttimecheck", "ntpsigndsocket", "ntscachedir", "ntsdumpdir",
        "ntsntpserver", "ntsport", "ntsprocesses", "ntsrefresh", "ntsrotate", "ptpdomain", "ptpport", "refresh",
        "rtcautotrim", "rtcdevice", "rtcfile", "sched_priority", "stratumweight", "user",
    };

    /// <summary>Source options TimeMesh has no equivalent for, and why.</summary>
    private static readonly Dictionary<string, string> SourceOptionNotTranslated = new(StringComparer.OrdinalIgnoreCase)
    {
        ["auto_offline"] = "TimeMesh polls every source all the time",
        ["offline"] = "TimeMesh polls every source from the start",
        ["copy"] = "TimeMesh does not copy a source's reference id and stratum",
        ["ipv4"] = "TimeMesh uses every address the name resolves to",
        ["ipv6"] = "TimeMesh uses every address the name resolves to",
        ["nts"] = "TimeMesh has no NTS yet: this source is polled unauthenticated",
        ["xleave"] = "TimeMesh uses the basic mode only",
        ["trust"] = "TimeMesh's selection has no trusted sources",
        ["require"] = "TimeMesh's selection has no required sources",
        ["key"] = "left to you: add key = N to this server once timemesh.keyfile is set (docs/security.md); until then it is polled unauthenticated",
        ["certset"] = "TimeMesh has no NTS yet",
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
        ["ntsport"] = "TimeMesh has no NTS yet",
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

    private sealed record Source(int Line, string Text, bool IsPool, string Address, List<string> Fields, int? PollTarget);

    /// <summary>A directive chronyd keeps only the last of; <see cref="Hocon"/> empty when it could not be translated.</summary>
    private sealed record LastWins(int Line, string Text, IReadOnlyList<string> Hocon);

    private sealed partial class Translation(string sourceName)
    {
        private readonly List<ChronyImportNote> _notes = new();
        private readonly List<Source> _sources = new();
        private readonly ChronyAccessTable _access = new();
        private readonly List<(int Line, string Text)> _accessLines = new();
        private readonly Dictionary<string, LastWins> _singles = new();
        private int? _ntpPort;
        private int _ntpPortLine;
        private (int Line, string Text, IPAddress Address)? _bind4, _bind6;
        // The command port: cmdallow/cmddeny in their own table, bindcmdaddress kept per family as chronyd does.
        private readonly ChronyAccessTable _cmdAccess = new();
        private readonly List<(int Line, string Text)> _cmdAccessLines = new();
        private (int Line, string Text, IPAddress Address)? _cmdBind4, _cmdBind6;

        private void Note(int line, string subject, string message) => _notes.Add(new ChronyImportNote(line, subject, message));

        private void Invalid(int line, string text, string why) =>
            Note(line, text, $"invalid, chronyd would refuse this line ({why}); skipped");

        public ChronyImportResult Run(string text)
        {
            string[] lines = text.Replace("\r\n", "\n").Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                string[] words = Words(lines[i]);
                if (words.Length == 0) continue;
                Directive(i + 1, words[0].ToLowerInvariant(), words[1..], string.Join(' ', words));
            }
            string hocon = Render();
            return new ChronyImportResult(hocon, _notes.OrderBy(n => n.Line).ToList());
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
            switch (name)
            {
                case "server":
                case "pool":
                    ParseSource(line, text, name == "pool", args);
                    return;
                case "peer":
                    if (args.Length == 0) Invalid(line, text, "peer needs an address");
                    else Note(line, text, "not supported: TimeMesh has no symmetric (peer) mode; use server on both sides, as chrony's manual advises, or make both nodes masters of one TimeMesh mesh");
                    return;
                case "allow":
                case "deny":
                    ParseAllowDeny(line, text, name == "allow", args);
                    return;
                case "cmdallow":
                case "cmddeny":
                    ParseAllowDeny(line, text, name == "cmdallow", args, command: true);
                    return;
                case "cmdport":
                    if (Int(line, text, args) is not { } cmdPort) return;
                    if (cmdPort is < 0 or > 65535)
                        Keep(line, text, "cmdport", [], "not translated: not a UDP port; TimeMesh's default 323 applies");
                    else
                        Keep(line, text, "cmdport", [$"cmdport = {cmdPort}"]);
                    return;
                case "bindcmdaddress":
                    ParseBindCmdAddress(line, text, args);
                    return;
                case "include":
                case "confdir":
                case "sourcedir":
                    // chronyd checks include's and confdir's words when parsing; an empty sourcedir only fails to find files.
                    if (name == "include" && args.Length != 1) Invalid(line, text, "include takes one file pattern");
                    else if (name == "confdir" && args.Length == 0) Invalid(line, text, "confdir takes one or more directories");
                    else Note(line, text, "not followed: the import reads one file; run import-chrony on the included files and merge their sources and rules by hand");
                    return;
                case "local":
                    ParseLocal(line, text, args);
                    return;
                case "makestep":
                    ParseMakeStep(line, text, args);
                    return;
                case "ratelimit":
                    ParseRateLimit(line, text, args);
                    return;
                case "port":
                    if (Int(line, text, args) is not { } port) return;
                    if (port is < 0 or > 65535)
                    {
                        Note(line, text, "not translated: not a UDP port (chronyd 4.3 takes it anyway, later versions refuse it); the listen port is unchanged");
                        return;
                    }
                    if (_ntpPort is not null) Note(_ntpPortLine, $"port {_ntpPort}", $"overridden by line {line} (chronyd keeps the last)");
                    _ntpPort = (int)port;
                    _ntpPortLine = line;
                    return;
                case "bindaddress":
                    ParseBindAddress(line, text, args);
                    return;
                case "driftfile":
                    ParseDriftFile(line, text, args);
                    return;
                case "clientloglimit":
                    if (Int(line, text, args) is not { } limit) return;
                    if (limit < 128 || limit > 1L << 32)
                        Keep(line, text, "clientloglimit", [], $"not translated: TimeMesh allows 128 to {1L << 32} bytes; its default {524288} applies");
                    else
                        Keep(line, text, "clientloglimit", [$"clientloglimit = {limit}"]);
                    return;
                case "minsources":
                    if (Int(line, text, args) is { } minSources)
                        KeepNumber(line, text, "minsources", minSources, 1, 64, "1", whole: true);
                    return;
                case "maxdistance":
                    if (Double(line, text, args) is { } maxDistance) KeepNumber(line, text, "maxdistance", maxDistance, 1e-6, 1e6, "3.0 s");
                    return;
                case "maxjitter":
                    if (Double(line, text, args) is { } maxJitter) KeepNumber(line, text, "maxjitter", maxJitter, 1e-9, 1e6, "1.0 s");
                    return;
                case "combinelimit":
                    if (Double(line, text, args) is { } combineLimit) KeepNumber(line, text, "combinelimit", combineLimit, 0, 1e6, "3");
                    return;
                case "reselectdist":
                    if (Double(line, text, args) is { } reselect) KeepNumber(line, text, "reselectdist", reselect, 0, 1e3, "0.0001 s");
                    return;
                case "maxslewrate":
                    if (Double(line, text, args) is { } slew) KeepNumber(line, text, "maxslewrate", slew, 1, 500_000, "83333 ppm");
                    return;
            }
            if (NotTranslated.TryGetValue(name, out string? why))
            {
                if (NoArguments.Contains(name) && args.Length != 0) Invalid(line, text, $"{name} takes no arguments");
                else if (OneArgument.Contains(name) && args.Length != 1) Invalid(line, text, $"{name} takes one argument");
                else Note(line, text, "not translated: " + why);
            }
            else
                Note(line, text, $"not translated: '{name}' is not a chrony directive (chronyd would refuse to start)");
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
            bool iburst = false, burst = false, prefer = false, noselect = false;
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
                    case "noselect": noselect = true; break;
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

            var fields = new List<string> { $"address = {Quote(address)}", $"port = {port}" };
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
            if (maxUnreach is { } unreach)
            {
                if (unreach is >= 1 and <= 100_000) fields.Add($"maxunreach = {unreach}");
                else Note(line, $"maxunreach {unreach} ({kind} {address})", "not translated: TimeMesh allows maxunreach from 1 to 100000; its default 4 applies");
            }
            _sources.Add(new Source(line, text, isPool, address, fields, pollTarget));
        }

        private void ParseAllowDeny(int line, string text, bool allow, string[] args, bool command = false)
        {
            string verb = (command ? "cmd" : "") + (allow ? "allow" : "deny");
            var table = command ? _cmdAccess : _access;
            var accessLines = command ? _cmdAccessLines : _accessLines;
            bool all = false;
            int at = 0;
            // chrony compares "all" case-sensitively; "ALL" would be a host name to it.
            if (args.Length > 0 && args[0] == "all")
            {
                all = true;
                at = 1;
            }
            if (args.Length - at > 1)
            {
                Invalid(line, text, $"{verb} takes at most one subnet");
                return;
            }
            if (args.Length == at)
            {
                table.Apply(line, allow, all, null, 0);
                accessLines.Add((line, text));
                return;
            }
            string spec = args[at];
            int? bits = null;
            string net = spec;
            int slash = spec.IndexOf('/');
            if (slash >= 0)
            {
                if (!int.TryParse(spec[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int b))
                {
                    Invalid(line, text, $"'{spec}' has no valid prefix length");
                    return;
                }
                bits = b;
                net = spec[..slash];
            }
            IPAddress? address = ParseChronyAddress(net, out int defaultBits);
            if (address is null)
            {
                if (bits is null && net.Length > 0 && !net.All(c => char.IsAsciiDigit(c) || c == '.'))
                    Note(line, text, $"not translated: '{net}' is a host name; chronyd resolves it once at start, TimeMesh takes addresses and subnets only (write its address)");
                else
                    Invalid(line, text, $"'{spec}' is not an address or subnet");
                return;
            }
            if (address.IsIPv4MappedToIPv6)
            {
                Note(line, text, "not translated: TimeMesh matches IPv4 clients by their IPv4 address, not by an IPv4-mapped IPv6 subnet");
                return;
            }
            if (!table.Apply(line, allow, all, address, bits ?? defaultBits))
            {
                Invalid(line, text, $"prefix length {bits} is too long for the address");
                return;
            }
            accessLines.Add((line, text));
        }

        /// <summary>chrony's address forms: a full IPv4 or IPv6 address, or 1-3 dotted IPv4 numbers ("192.168" = /16).</summary>
        private static IPAddress? ParseChronyAddress(string text, out int defaultBits)
        {
            defaultBits = 0;
            if (text.Contains(':'))
            {
                if (!IPAddress.TryParse(text, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || v6.ScopeId != 0)
                    return null;
                defaultBits = 128;
                return v6;
            }
            string[] parts = text.Split('.');
            if (parts.Length is < 1 or > 4) return null;
            var octets = new byte[4];
            for (int i = 0; i < parts.Length; i++)
            {
                if (parts[i].Length == 0 || !parts[i].All(char.IsAsciiDigit)) return null;
                if (!uint.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out uint octet) || octet > 255) return null;
                // A full dotted quad goes through inet_pton, which refuses leading zeros.
                if (parts.Length == 4 && parts[i].Length > 1 && parts[i][0] == '0') return null;
                octets[i] = (byte)octet;
            }
            defaultBits = parts.Length * 8;
            return new IPAddress(octets);
        }

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

        private void ParseBindAddress(int line, string text, string[] args)
        {
            if (args.Length != 1 || ParseChronyAddress(args[0], out int bits) is not { } address || bits is not (32 or 128))
            {
                Invalid(line, text, "bindaddress takes one IP address");
                return;
            }
            var entry = (line, text, address);
            if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            {
                if (_bind4 is { } earlier) Note(earlier.Line, earlier.Text, $"overridden by line {line} (chronyd keeps the last IPv4 bindaddress)");
                _bind4 = entry;
            }
            else
            {
                if (_bind6 is { } earlier) Note(earlier.Line, earlier.Text, $"overridden by line {line} (chronyd keeps the last IPv6 bindaddress)");
                _bind6 = entry;
            }
        }

        /// <summary>chrony's bindcmdaddress: an IP address (the last of each family wins) or a Unix socket path.</summary>
        private void ParseBindCmdAddress(int line, string text, string[] args)
        {
            if (args.Length == 1 && args[0].StartsWith('/'))
            {
                Note(line, text, "not translated: TimeMesh's Unix socket is timemesh.control.socket (HTTP, read by the timemesh CLI); chronyc reads the node over UDP (cmdport)");
                return;
            }
            if (args.Length != 1 || ParseChronyAddress(args[0], out int bits) is not { } address || bits is not (32 or 128))
            {
                Invalid(line, text, "bindcmdaddress takes one IP address or a socket path");
                return;
            }
            var entry = (line, text, address);
            if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            {
                if (_cmdBind4 is { } earlier) Note(earlier.Line, earlier.Text, $"overridden by line {line} (chronyd keeps the last IPv4 bindcmdaddress)");
                _cmdBind4 = entry;
            }
            else
            {
                if (_cmdBind6 is { } earlier) Note(earlier.Line, earlier.Text, $"overridden by line {line} (chronyd keeps the last IPv6 bindcmdaddress)");
                _cmdBind6 = entry;
            }
        }

        private void RenderCommandPort(List<string> body)
        {
            if (_singles.TryGetValue("cmdport", out var port) && port.Hocon.Count > 0) Emit(body, port);
            if (_cmdBind4 is not null || _cmdBind6 is not null)
            {
                if (_cmdBind4 is { } b4) Comment(body, b4.Line, b4.Text);
                if (_cmdBind6 is { } b6) Comment(body, b6.Line, b6.Text);
                body.Add($"bindcmdaddress = [{Quote(_cmdBind4?.Address.ToString() ?? "127.0.0.1")}, {Quote(_cmdBind6?.Address.ToString() ?? "::1")}]");
            }
            if (_cmdAccessLines.Count == 0) return;
            foreach (var (line, text) in _cmdAccessLines)
            {
                Comment(body, line, text);
                if (_cmdAccess.OverriddenBy(line) is { } by)
                    Note(line, text, $"no effect: line {by} overrides it (chronyd applies cmdallow/cmddeny in order)");
            }
            var rules = _cmdAccess.Rules();
            body.Add("# chronyd's cmdallow/cmddeny applied in file order, as most-specific-wins lists (127.0.0.1 and ::1 may always ask).");
            body.Add("cmdallow = [" + string.Join(", ", rules.Where(r => r.Allow).Select(r => Quote(r.Subnet))) + "]");
            body.Add("cmddeny = [" + string.Join(", ", rules.Where(r => !r.Allow).Select(r => Quote(r.Subnet))) + "]");
        }

        private static void Comment(List<string> body, int line, string text) => body.Add($"# line {line}: {text}");

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
                $"data-dir = {Quote(dir)}",
                "persistence { provider = sqlite }",
            };
            if (interval is { } i)
            {
                if (i is >= 0 and <= 86_400) hocon[^1] = $"persistence {{ provider = sqlite, write-interval = {i}s }}";
                else Note(line, $"interval {i} (driftfile)", "not translated: TimeMesh writes its drift state at most once per 0 s to 1 day; its default 60 s applies");
            }
            Keep(line, text, "driftfile", hocon);
        }

        private string Render()
        {
            var body = new List<string>();
            void Comment(int line, string text) => body.Add($"# line {line}: {text}");

            // Listening: chrony's port and bindaddress directives together.
            if (_ntpPort == 0)
            {
                Comment(_ntpPortLine, "port 0");
                body.Add("# chronyd opens no server port; TimeMesh always has one, so it listens on a free loopback port and answers no one.");
                body.Add("listen = [\"127.0.0.1:0\"]");
                body.Add("allow = []");
                body.Add("deny = []");
                Note(_ntpPortLine, "port 0", "translated as a closed server: listen on a free loopback port with allow = [] (TimeMesh cannot run without a server socket)");
                foreach (var (line, text) in _accessLines)
                    Note(line, text, $"no effect: port 0 (line {_ntpPortLine}) closes chronyd's server port");
                if (_bind4 is { } b4) Note(b4.Line, b4.Text, $"no effect: port 0 (line {_ntpPortLine}) closes chronyd's server port");
                if (_bind6 is { } b6) Note(b6.Line, b6.Text, $"no effect: port 0 (line {_ntpPortLine}) closes chronyd's server port");
            }
            else
            {
                if (_ntpPort is not null || _bind4 is not null || _bind6 is not null)
                {
                    int port = _ntpPort ?? 123;
                    if (_ntpPort is not null) Comment(_ntpPortLine, $"port {port}");
                    if (_bind4 is { } b4) Comment(b4.Line, b4.Text);
                    if (_bind6 is { } b6) Comment(b6.Line, b6.Text);
                    string v4 = _bind4?.Address.ToString() ?? "0.0.0.0";
                    string v6 = _bind6?.Address.ToString() ?? "::";
                    body.Add($"listen = [\"{v4}:{port}\", \"[{v6}]:{port}\"]");
                }
                RenderAccess(body);
            }

            if (_singles.TryGetValue("local", out var local) && local.Hocon.Count > 0) Emit(body, local);
            if (_singles.TryGetValue("ratelimit", out var rate) && rate.Hocon.Count > 0) Emit(body, rate);
            if (_singles.TryGetValue("clientloglimit", out var cll) && cll.Hocon.Count > 0) Emit(body, cll);

            RenderSources(body);

            if (_singles.TryGetValue("makestep", out var step) && step.Hocon.Count > 0) Emit(body, step);
            else if (!_singles.ContainsKey("makestep"))
            {
                body.Add("# No makestep in chrony.conf: chronyd never steps, it only slews.");
                body.Add("makestep = off");
            }
            foreach (string key in new[] { "maxslewrate", "minsources", "maxdistance", "maxjitter", "combinelimit", "reselectdist" })
                if (_singles.TryGetValue(key, out var single) && single.Hocon.Count > 0) Emit(body, single);
            if (_singles.TryGetValue("driftfile", out var drift) && drift.Hocon.Count > 0) Emit(body, drift);
            RenderCommandPort(body);

            var output = new StringBuilder();
            output.AppendLine($"# TimeMesh configuration translated from {sourceName} by `timemesh import-chrony`.");
            output.AppendLine("# Keys not written here keep the defaults of TimeMesh's reference.conf.");
            output.AppendLine("# chronyd steers this machine's clock; this config leaves clock = virtual (TimeMesh serves corrected");
            output.AppendLine("# time without touching the OS clock). Set clock = system only once chronyd is stopped and disabled.");
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

        private void RenderAccess(List<string> body)
        {
            if (_accessLines.Count == 0) return;
            foreach (var (line, text) in _accessLines)
            {
                body.Add($"# line {line}: {text}");
                if (_access.OverriddenBy(line) is { } by)
                    Note(line, text, $"no effect: line {by} overrides it (chronyd applies allow/deny in order)");
            }
            var rules = _access.Rules();
            body.Add("# chronyd's allow/deny applied in file order, written as TimeMesh's most-specific-wins lists.");
            body.Add("allow = [" + string.Join(", ", rules.Where(r => r.Allow).Select(r => Quote(r.Subnet))) + "]");
            body.Add("deny = [" + string.Join(", ", rules.Where(r => !r.Allow).Select(r => Quote(r.Subnet))) + "]");
        }

        private void RenderSources(List<string> body)
        {
            // chrony's polltarget is per source, TimeMesh's is one value for the node.
            var targets = _sources.Select(s => s.PollTarget ?? 8).Distinct().ToList();
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
                var list = _sources.Where(s => s.IsPool == pools).ToList();
                if (list.Count == 0) continue;
                body.Add((pools ? "pool" : "server") + " = [");
                foreach (var s in list)
                {
                    body.Add($"  # line {s.Line}: {s.Text}");
                    body.Add("  { " + string.Join(", ", s.Fields) + " }");
                }
                body.Add("]");
            }
        }
    }

    private static string OnOff(bool value) => value ? "on" : "off";

    private static string Num(double value) =>
        value == Math.Floor(value) && Math.Abs(value) < 1e15
            ? value.ToString("0.0", CultureInfo.InvariantCulture)
            : value.ToString("R", CultureInfo.InvariantCulture);

    private static string Quote(string text) =>
        "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
