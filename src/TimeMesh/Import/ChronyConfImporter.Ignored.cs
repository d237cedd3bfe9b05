using System.Globalization;

namespace TimeMesh.Cli.Import;

/// <summary>Directives with no TimeMesh equivalent, each with its reason, and the word counts chronyd checks on them.</summary>
public static partial class ChronyConfImporter
{
    /// <summary>Directives TimeMesh has no equivalent for, and why.</summary>
    private static readonly Dictionary<string, string> NotTranslated = new(StringComparer.OrdinalIgnoreCase)
    {
        ["acquisitionport"] = "TimeMesh sends every request from a fresh random port (RFC 9109)",
        ["bindacqaddress"] = "TimeMesh picks the source address of its requests from the routing table",
        ["bindacqdevice"] = "TimeMesh does not bind its requests to a device",
        ["bindcmddevice"] = "TimeMesh has no chronyc command socket",
        ["binddevice"] = "TimeMesh does not bind to a device; listen on the device's address instead",
        ["broadcast"] = "TimeMesh does not send NTP broadcasts",
        ["clockprecision"] = "TimeMesh measures its clock's precision itself",
        ["cmdratelimit"] = "TimeMesh limits command requests from hosts other than localhost with chrony's cmdratelimit values (interval -4, burst 8, leak 2) unless timemesh.cmdratelimit says otherwise",
        ["corrtimeratio"] = "TimeMesh slews with chrony's default ratio, 3, and has no key to change it",
        ["dscp"] = "TimeMesh does not set DSCP on its packets",
        ["dumpdir"] = "TimeMesh keeps its measurement history in memory only",
        ["dumponexit"] = "TimeMesh keeps its measurement history in memory only",
        ["fallbackdrift"] = "TimeMesh has no fallback drifts",
        ["hwclockfile"] = "TimeMesh does not use the RTC",
        ["hwtstimeout"] = "TimeMesh waits a fixed 20 ms for a request's transmit timestamp (hardware or kernel) before it falls back",
        ["initstepslew"] = "deprecated in chrony; TimeMesh's makestep covers it",
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
        ["maxsamples"] = "TimeMesh's sample count per source is built in",
        ["maxstratum"] = "TimeMesh has no maxstratum",
        ["maxtxbuffers"] = "TimeMesh uses no transmit timestamps",
        ["maxupdateskew"] = "TimeMesh has no maxupdateskew",
        ["minsamples"] = "TimeMesh's sample count per source is built in",
        ["minstratum"] = "TimeMesh has no minstratum",
        ["nocerttimecheck"] = "TimeMesh always checks the validity dates of NTS certificates (stricter: a node whose clock is far off at start cannot authenticate its NTS sources until it is set)",
        ["noclientlog"] = "TimeMesh always keeps its client table (rate limiting needs it); size it with clientloglimit",
        ["ntpsigndsocket"] = "TimeMesh does not sign replies for Samba",
        ["ntsaeads"] = "TimeMesh's NTS offers AES-SIV-CMAC-256 only (RFC 8915's mandatory algorithm)",
        ["ntscachedir"] = "TimeMesh keeps its NTS server keys in <data-dir>/nts-keys and its client cookies in memory",
        ["ntsdumpdir"] = "TimeMesh keeps its NTS server keys in <data-dir>/nts-keys and its client cookies in memory",
        ["ntsprocesses"] = "TimeMesh's NTS-KE server serves connections asynchronously in one process",
        ["ntsratelimit"] = "TimeMesh caps NTS-KE connections per client instead (nts.max-connections-per-client, default 8)",
        ["ntsrefresh"] = "TimeMesh repeats the key exchange when its cookies run out or the server refuses them",
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
        "lock_all", "manual", "noclientlog", "rtconutc", "rtcsync",
    };

    private static readonly HashSet<string> OneArgument = new(StringComparer.OrdinalIgnoreCase)
    {
        "acquisitionport", "bindacqdevice", "bindcmddevice", "binddevice", "clockprecision", "corrtimeratio",
        "dscp", "dumpdir", "hwclockfile", "hwtstimeout", "leapseclist", "leapsectz", "logbanner", "logchange",
        "logdir", "maxclockerror", "maxdrift", "maxsamples", "maxstratum", "maxtxbuffers",
        "maxupdateskew", "minsamples", "minstratum", "nocerttimecheck", "ntpsigndsocket", "ntscachedir", "ntsdumpdir",
        "ntsprocesses", "ntsrefresh", "ptpdomain", "ptpport", "refresh",
        "rtcautotrim", "rtcdevice", "rtcfile", "sched_priority", "stratumweight", "user",
    };


    private sealed partial class Translation
    {
        private void IgnoredDirective(int line, string name, string[] args, string text)
        {
            if (NotTranslated.TryGetValue(name, out string? why))
            {
                if (NoArguments.Contains(name) && args.Length != 0) Invalid(line, text, $"{name} takes no arguments");
                else if (OneArgument.Contains(name) && args.Length != 1) Invalid(line, text, $"{name} takes one argument");
                else Note(line, text, "not translated: " + why);
            }
            else
                Note(line, text, $"not translated: '{name}' is not a chrony directive (chronyd would refuse to start)");
        }
    }
}
