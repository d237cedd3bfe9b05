using System.Net;
using Akka.Configuration;
using TimeMesh.Core.Access;
using TimeMesh.Core.RateLimit;
using TimeMesh.Cli.Import;
using TimeMesh.Node.Config;
using TimeMesh.Node.Persistence;

namespace TimeMesh.Node.Tests;

/// <summary>
/// chrony.conf files as operators write them, translated and then loaded the way a node loads its config:
/// the assertions are on the resulting settings, not on the text.
/// </summary>
public class ChronyImportTests
{
    private sealed record Imported(ChronyImportResult Result, TimeMeshSettings Settings, PersistenceSettings Persistence)
    {
        public IReadOnlyList<ChronyImportNote> Notes => Result.Notes;
        public bool Allows(string address) => Settings.Access.IsAllowed(IpAddress128.FromIPAddress(IPAddress.Parse(address)));
        public ChronyImportNote NoteOn(int line) => Assert.Single(Notes, n => n.Line == line);
    }

    private static Imported Import(params string[] lines)
    {
        var result = ChronyConfImporter.Translate(string.Join("\n", lines) + "\n");
        var config = ConfigurationFactory.ParseString(result.Hocon);
        return new Imported(result, TimeMeshSettings.FromConfig(config), PersistenceSettings.FromConfig(config));
    }

    [Fact]
    public void The_command_port_directives_become_the_command_port_settings()
    {
        var i = Import(
            "server ntp1.example iburst",
            "cmdport 3323",
            "bindcmdaddress 0.0.0.0",
            "bindcmdaddress /var/run/chrony/chronyd.sock",
            "cmdallow 192.168.10.0/24",
            "cmddeny 192.168.10.66",
            "cmdallow 10.1");
        var cmd = i.Settings.Cmdmon;
        Assert.Equal(3323, cmd.Port);
        Assert.Equal([IPAddress.Any, IPAddress.IPv6Loopback], cmd.Bind);
        bool Allowed(string a) => cmd.Access.IsAllowed(IpAddress128.FromIPAddress(IPAddress.Parse(a)));
        Assert.True(Allowed("192.168.10.5"));
        Assert.False(Allowed("192.168.10.66"));
        Assert.True(Allowed("10.1.2.3"));
        Assert.False(Allowed("10.2.0.1"));
        // The NTP port's rules are untouched by the command port's.
        Assert.False(i.Allows("192.168.10.5"));
        Assert.Contains("timemesh.control.socket", i.NoteOn(4).Message);

        // Without the directives: chronyd's defaults, which are TimeMesh's (323 on 127.0.0.1 and ::1, closed to others).
        var plain = Import("server ntp1.example iburst");
        Assert.Equal(323, plain.Settings.Cmdmon.Port);
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], plain.Settings.Cmdmon.Bind);
        Assert.True(plain.Settings.Cmdmon.Access.IsClosed);
        Assert.Equal(0, Import("cmdport 0").Settings.Cmdmon.Port);
    }

    [Fact]
    public void A_closed_network_admin_server()
    {
        var i = Import(
            "server ntp1.example iburst",
            "server ntp2.example iburst",
            "allow 192.168.10.0/24",
            "local stratum 10",
            "driftfile /var/lib/chrony/drift",
            "makestep 1.0 3",
            "rtcsync",
            "logdir /var/log/chrony");

        var servers = i.Settings.Upstream.Servers;
        Assert.Equal(["ntp1.example", "ntp2.example"], servers.Select(s => s.Address));
        Assert.All(servers, s =>
        {
            Assert.True(s.IBurst);
            Assert.False(s.Burst);
            Assert.False(s.Prefer);
            Assert.Equal(123, s.Port);
            Assert.Equal(6, s.MinPollLog2);
            Assert.Equal(10, s.MaxPollLog2);
        });
        Assert.Empty(i.Settings.Upstream.Pools);
        Assert.Equal(["192.168.10.0/24"], i.Settings.Access.Allowed.Select(s => s.ToString()));
        Assert.True(i.Allows("192.168.10.77"));
        Assert.False(i.Allows("192.168.11.1"));
        Assert.False(i.Allows("fd00::1"));
        Assert.Equal(10, i.Settings.Local!.Stratum);
        Assert.Equal(1.0, i.Settings.Upstream.Sync.Discipline.MakeStepThresholdSeconds);
        Assert.Equal(3, i.Settings.Upstream.Sync.Discipline.MakeStepLimit);
        Assert.Equal("/var/lib/chrony", i.Settings.DataDir);
        Assert.Equal(PersistenceSettings.SqliteIn("/var/lib/chrony"), i.Persistence);
        Assert.Equal(["0.0.0.0:123", "[::]:123"], i.Settings.Listen.Select(e => e.ToString()));
        Assert.Equal(ClockMode.Virtual, i.Settings.Upstream.Clock);
        Assert.Null(i.Settings.RateLimit);

        Assert.Equal(2, i.Notes.Count);
        Assert.Equal("line 7: rtcsync — not translated: TimeMesh does not set the RTC", i.NoteOn(7).ToString());
        Assert.StartsWith("line 8: logdir /var/log/chrony — not translated: ", i.NoteOn(8).ToString());
        Assert.Contains("# line 7: rtcsync — not translated: TimeMesh does not set the RTC\n", i.Result.Hocon);
        // The notes head the output, before any key.
        Assert.True(i.Result.Hocon.IndexOf("# line 8: logdir", StringComparison.Ordinal) < i.Result.Hocon.IndexOf("timemesh {", StringComparison.Ordinal));
    }

    [Fact]
    public void Two_independent_stratum_3_masters_the_second_peering()
    {
        var a = Import(
            "# master A: its own upstream, no peering",
            "pool 0.pool.example iburst maxsources 3",
            "server ntp.upstream-a.example iburst",
            "allow 10.1.0.0/16",
            "allow fd00:1::/48",
            "local stratum 8",
            "makestep 0.1 -1",
            "minsources 2");
        Assert.Equal("0.pool.example", Assert.Single(a.Settings.Upstream.Pools).Address);
        Assert.Equal(3, a.Settings.Upstream.Pools[0].MaxSources);
        Assert.True(a.Settings.Upstream.Pools[0].Template.IBurst);
        Assert.Equal("ntp.upstream-a.example", Assert.Single(a.Settings.Upstream.Servers).Address);
        Assert.True(a.Allows("10.1.200.3"));
        Assert.True(a.Allows("fd00:1::42"));
        Assert.False(a.Allows("10.2.0.1"));
        Assert.False(a.Allows("fd00:2::1"));
        Assert.Equal(8, a.Settings.Local!.Stratum);
        Assert.Equal(0.1, a.Settings.Upstream.Sync.Discipline.MakeStepThresholdSeconds);
        Assert.Equal(-1, a.Settings.Upstream.Sync.Discipline.MakeStepLimit);
        Assert.Equal(2, a.Settings.Upstream.Sync.Selection.MinSources);
        Assert.Empty(a.Notes);

        var b = Import(
            "server ntp.upstream-b.example iburst",
            "server ntp.upstream-c.example iburst maxpoll 8",
            "peer master-a.example",
            "allow 10.1.0.0/16",
            "local stratum 8 orphan",
            "makestep 0.1 -1");
        Assert.Equal(["ntp.upstream-b.example", "ntp.upstream-c.example"], b.Settings.Upstream.Servers.Select(s => s.Address));
        Assert.Equal(8, b.Settings.Upstream.Servers[1].MaxPollLog2);
        Assert.DoesNotContain(b.Settings.Upstream.Servers, s => s.Address == "master-a.example");
        Assert.Equal(8, b.Settings.Local!.Stratum);
        Assert.Contains("not supported", b.NoteOn(3).Message);
        Assert.StartsWith("peer master-a.example", b.NoteOn(3).Subject);
        Assert.Equal("orphan (local)", b.NoteOn(5).Subject);
        Assert.Equal(2, b.Notes.Count);
    }

    [Fact]
    public void A_cloud_client_with_a_preferred_link_local_server()
    {
        var i = Import("server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4");
        var s = Assert.Single(i.Settings.Upstream.Servers);
        Assert.Equal("169.254.169.123", s.Address);
        Assert.True(s.Prefer);
        Assert.True(s.IBurst);
        Assert.Equal(4, s.MinPollLog2);
        Assert.Equal(4, s.MaxPollLog2);
        Assert.True(i.Settings.Access.IsClosed);
        Assert.Null(i.Settings.Local);
        // No makestep in chrony.conf: chronyd never steps.
        Assert.Equal(0, i.Settings.Upstream.Sync.Discipline.MakeStepLimit);
        Assert.Empty(i.Notes);
    }

    [Fact]
    public void Debians_default_chrony_conf()
    {
        // /usr/share/chrony/chrony.conf of Debian's chrony 4.3-2+deb12u3, copied unchanged.
        string text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "debian-chrony.conf"));
        var result = ChronyConfImporter.Translate(text);
        var config = ConfigurationFactory.ParseString(result.Hocon);
        var settings = TimeMeshSettings.FromConfig(config);

        var pool = Assert.Single(settings.Upstream.Pools);
        Assert.Equal("2.debian.pool.ntp.org", pool.Address);
        Assert.Equal(4, pool.MaxSources);
        Assert.True(pool.Template.IBurst);
        Assert.Empty(settings.Upstream.Servers);
        Assert.True(settings.Access.IsClosed);
        Assert.Equal(1.0, settings.Upstream.Sync.Discipline.MakeStepThresholdSeconds);
        Assert.Equal(3, settings.Upstream.Sync.Discipline.MakeStepLimit);
        Assert.Equal("/var/lib/chrony", settings.DataDir);
        Assert.Equal("Data Source=/var/lib/chrony/timemesh.db", PersistenceSettings.FromConfig(config).ConnectionString);

        Assert.Equal(
            [(5, "confdir"), (11, "sourcedir"), (14, "sourcedir"), (18, "keyfile"), (25, "ntsdumpdir"), (31, "logdir"),
             (34, "maxupdateskew"), (38, "rtcsync"), (47, "leapsectz")],
            result.Notes.Select(n => (n.Line, n.Subject.Split(' ')[0])));
        Assert.Contains("not followed", result.Notes[0].Message);
        // The commented-out "#log tracking measurements statistics" (line 28) is a comment, not a directive.
        Assert.DoesNotContain(result.Notes, n => n.Line == 28);
    }

    [Fact]
    public void Ratelimit_options_defaults_clamping_and_kod()
    {
        var i = Import("allow 10.0.0.0/8", "ratelimit interval 1 burst 16");
        Assert.Equal(new RateLimitSettings(1, 16, 2, false), i.Settings.RateLimit);
        Assert.Empty(i.Notes);

        Assert.Equal(RateLimitSettings.ChronyDefaults, Import("ratelimit").Settings.RateLimit);

        // chronyd clamps to interval -19..12, burst 1..255, leak 1..4; so does the import, and says so.
        var clamped = Import("ratelimit interval 20 burst 0 leak 9");
        Assert.Equal(new RateLimitSettings(12, 1, 4, false), clamped.Settings.RateLimit);
        Assert.Contains("clamps", clamped.NoteOn(1).Message);

        var kod = Import("ratelimit interval 4 kod 2");
        Assert.Equal(new RateLimitSettings(4, 8, 2, true), kod.Settings.RateLimit);
        Assert.Equal("kod 2 (ratelimit)", kod.NoteOn(1).Subject);

        var bad = Import("ratelimit interval 2", "ratelimit interval x");
        Assert.Equal(2, bad.Settings.RateLimit!.IntervalLog2);
        Assert.Contains("invalid", bad.NoteOn(2).Message);
    }

    [Fact]
    public void The_order_of_allow_and_deny_is_flattened_as_chronyd_applies_it()
    {
        // chrony.conf(5)'s example: the order does not matter here, the most specific rule wins.
        var doc = Import("allow 1.2.3.4", "deny 1.2.3.0/24", "allow 1.2.0.0/16");
        Assert.True(doc.Allows("1.2.3.4"));
        Assert.False(doc.Allows("1.2.3.5"));
        Assert.True(doc.Allows("1.2.4.1"));
        Assert.False(doc.Allows("1.3.0.1"));

        // "allow all SUBNET" wipes the earlier, more specific rules inside it.
        var all = Import("allow 1.2.3.4", "deny 1.2.3.0/24", "allow all 1.2.0.0/16");
        Assert.True(all.Allows("1.2.3.5"));
        Assert.Equal(["1.2.0.0/16"], all.Settings.Access.Allowed.Select(s => s.ToString()));
        Assert.Empty(all.Settings.Access.Denied);
        Assert.Contains("no effect: line 3 overrides it", all.NoteOn(1).Message);
        Assert.Contains("no effect: line 3 overrides it", all.NoteOn(2).Message);

        // /22 and /23 live on one level of chronyd's table: the later directive wins there.
        var denyFirst = Import("deny 10.0.0.0/23", "allow 10.0.0.0/22");
        Assert.True(denyFirst.Allows("10.0.0.5"));
        Assert.True(denyFirst.Allows("10.0.3.5"));
        Assert.Equal(["10.0.0.0/22"], denyFirst.Settings.Access.Allowed.Select(s => s.ToString()));
        var allowFirst = Import("allow 10.0.0.0/22", "deny 10.0.0.0/23");
        Assert.False(allowFirst.Allows("10.0.0.5"));
        Assert.True(allowFirst.Allows("10.0.2.5"));
        Assert.Empty(allowFirst.Notes);

        // Bare allow = every IPv4 and IPv6 address; a later deny all closes everything again.
        var open = Import("allow", "deny 192.168");
        Assert.True(open.Allows("8.8.8.8"));
        Assert.True(open.Allows("2001:db8::1"));
        Assert.False(open.Allows("192.168.77.1"));
        Assert.Equal([Subnet.AllIPv4, Subnet.AllIPv6], Import("allow all").Settings.Access.Allowed);
        var closed = Import("allow 10.0.0.0/8", "allow", "deny all");
        Assert.False(closed.Allows("10.1.1.1"));
        Assert.False(closed.Allows("::1"));
        Assert.Contains("line 3", closed.NoteOn(1).Message);

        // chrony's shortened IPv4 form: "192.168.10" is 192.168.10.0/24.
        var shortForm = Import("allow 192.168.10");
        Assert.True(shortForm.Allows("192.168.10.200"));
        Assert.False(shortForm.Allows("192.168.11.1"));

        // A host name is resolved by chronyd at start; TimeMesh cannot, so it is reported.
        var host = Import("allow client.example", "allow 10.0.0.1");
        Assert.Contains("host name", host.NoteOn(1).Message);
        Assert.True(host.Allows("10.0.0.1"));
    }

    [Fact]
    public void Bad_lines_are_reported_with_their_line_numbers_and_the_rest_still_loads()
    {
        var i = Import(
            "server good.example iburst",       // 1
            "frobnicate 3",                     // 2: no such directive
            "makestep 1.0 x",                   // 3: bad number
            "minsources abc",                   // 4
            "local stratum 16",                 // 5: chrony allows 1-15
            "server",                           // 6: no address
            "server bad.example minpoll fast",  // 7
            "allow 10.0.0.0/33",                // 8
            "server odd.example wibble",        // 9: no such option
            "  ! a comment",                    // 10
            "; another",                        // 11
            "% and another",                    // 12
            "ALLOW 172.16.0.0/12",              // 13: directives are case-insensitive
            "maxdistance fast",                 // 14
            "server k.example key 0");          // 15: key ids are 1 to 2^32-1
        Assert.Equal("good.example", Assert.Single(i.Settings.Upstream.Servers).Address);
        Assert.Equal([2, 3, 4, 5, 6, 7, 8, 9, 14, 15], i.Notes.Select(n => n.Line));
        Assert.Contains("not a chrony directive", i.NoteOn(2).Message);
        foreach (int line in new[] { 3, 4, 5, 6, 7, 8, 9, 14, 15 }) Assert.StartsWith("invalid", i.NoteOn(line).Message);
        Assert.Equal("makestep 1.0 x", i.NoteOn(3).Subject);
        Assert.Equal(0, i.Settings.Upstream.Sync.Discipline.MakeStepLimit);
        Assert.Equal(1, i.Settings.Upstream.Sync.Selection.MinSources);
        Assert.Null(i.Settings.Local);
        Assert.True(i.Allows("172.20.1.1"));
        Assert.False(i.Allows("10.0.0.1"));
        Assert.Equal(3.0, i.Settings.Upstream.Sync.Selection.MaxDistanceSeconds);
    }

    [Fact]
    public void A_number_with_trailing_characters_is_read_as_chronyd_reads_it()
    {
        // chronyd's sscanf("%lf") takes "1.5s" as 1.5.
        var i = Import("maxdistance 1.5s", "maxjitter 0.25.1");
        Assert.Equal(1.5, i.Settings.Upstream.Sync.Selection.MaxDistanceSeconds);
        Assert.Equal(0.25, i.Settings.Upstream.Sync.Selection.MaxJitterSeconds);
        Assert.Contains("reads '1.5s' as 1.5", i.NoteOn(1).Message);
        Assert.Contains("reads '0.25.1' as 0.25", i.NoteOn(2).Message);
    }

    [Fact]
    public void Values_TimeMesh_would_refuse_are_reported_instead_of_written()
    {
        var i = Import(
            "minsources 100",                               // 1: TimeMesh 1-64
            "maxslewrate 600000",                           // 2: TimeMesh up to 500000
            "server a.example minpoll -7 maxunreach 0",     // 3: TimeMesh minpoll >= -6, maxunreach >= 1
            "server b.example minpoll 8 maxpoll 4",         // 4: chronyd raises maxpoll to minpoll
            "pool p.example maxsources 20",                 // 5: chronyd caps at 16
            "clientloglimit 64",                            // 6: TimeMesh >= 128
            "maxjitter 0.5",                                // 7
            "combinelimit 0",                               // 8
            "reselectdist 0.001",                           // 9
            "maxdistance 16");                              // 10
        var sync = i.Settings.Upstream.Sync;
        Assert.Equal(1, sync.Selection.MinSources);
        Assert.Equal(83_333, sync.Discipline.MaxSlewRatePpm);
        Assert.Equal(-6, i.Settings.Upstream.Servers[0].MinPollLog2);
        Assert.Equal(4, i.Settings.Upstream.Servers[0].MaxUnreach);
        Assert.Equal(8, i.Settings.Upstream.Servers[1].MinPollLog2);
        Assert.Equal(8, i.Settings.Upstream.Servers[1].MaxPollLog2);
        Assert.Equal(16, i.Settings.Upstream.Pools[0].MaxSources);
        Assert.Equal(524288, i.Settings.ClientLogLimitBytes);
        Assert.Equal(0.5, sync.Selection.MaxJitterSeconds);
        Assert.Equal(0, sync.Selection.CombineLimit);
        Assert.Equal(0.001, sync.Selection.ReselectDistanceSeconds);
        Assert.Equal(16, sync.Selection.MaxDistanceSeconds);
        Assert.Contains("from 1 to 64", i.NoteOn(1).Message);
        Assert.Contains("500000", i.NoteOn(2).Message);
        Assert.Equal(["minpoll -7 (server a.example)", "maxunreach 0 (server a.example)"], i.Notes.Where(n => n.Line == 3).Select(n => n.Subject));
        Assert.Contains("raises it to 8", i.NoteOn(4).Message);
        Assert.Contains("16", i.NoteOn(5).Message);
        Assert.Contains("128", i.NoteOn(6).Message);
        Assert.Equal([1, 2, 3, 3, 4, 5, 6], i.Notes.Select(n => n.Line));
    }

    [Fact]
    public void Source_options_polltarget_and_noselect()
    {
        var i = Import(
            "server a.example iburst burst port 1123 polltarget 16 maxunreach 8 xleave",
            "server b.example polltarget 16",
            "server monitor.example noselect",
            "pool p.example polltarget 16 minpoll 2 maxpoll 5");
        Assert.Equal(["a.example", "b.example"], i.Settings.Upstream.Servers.Select(s => s.Address));
        var a = i.Settings.Upstream.Servers[0];
        Assert.True(a.IBurst && a.Burst);
        Assert.Equal(1123, a.Port);
        Assert.Equal(8, a.MaxUnreach);
        Assert.Equal(16, i.Settings.Upstream.Sync.PollTarget);
        Assert.Equal(2, i.Settings.Upstream.Pools[0].Template.MinPollLog2);
        Assert.Equal(5, i.Settings.Upstream.Pools[0].Template.MaxPollLog2);
        // xleave is translated (the node's per-source xleave), so line 1 has nothing to report.
        Assert.True(a.Xleave);
        Assert.False(i.Settings.Upstream.Servers[1].Xleave);
        Assert.DoesNotContain(i.Notes, n => n.Line == 1);
        Assert.Contains("monitoring-only", i.NoteOn(3).Message);

        var differ = Import("server a.example polltarget 16", "server b.example");
        Assert.Equal(8, differ.Settings.Upstream.Sync.PollTarget);
        Assert.Contains("differ", differ.NoteOn(1).Message);
    }

    [Fact]
    public void Xleave_becomes_the_sources_xleave_except_on_nts_sources()
    {
        var i = Import(
            "server a.example iburst xleave",
            "pool p.example xleave maxsources 2",
            "server c.example");
        Assert.True(i.Settings.Upstream.Servers[0].Xleave);
        Assert.True(i.Settings.Upstream.Pools[0].Template.Xleave);
        Assert.False(i.Settings.Upstream.Servers[1].Xleave);
        Assert.Contains("xleave = on", i.Result.Hocon);
        Assert.Empty(i.Notes);

        // TimeMesh polls NTS sources in the basic mode: the option is reported, the source is kept with NTS.
        var withNts = Import("server n.example nts xleave", "server m.example nts");
        var nts = withNts.Settings.Upstream.Servers[0];
        Assert.True(nts.Nts);
        Assert.False(nts.Xleave);
        var note = withNts.NoteOn(1);
        Assert.Equal("xleave (server n.example)", note.Subject);
        Assert.Contains("basic mode", note.Message);
        Assert.Single(withNts.Notes);
    }

    [Fact]
    public void Port_and_bindaddress_become_listen_and_port_0_a_closed_server()
    {
        var i = Import("port 11123", "bindaddress 192.168.1.1", "bindaddress 10.0.0.1", "bindaddress fd00::5");
        Assert.Equal(["10.0.0.1:11123", "[fd00::5]:11123"], i.Settings.Listen.Select(e => e.ToString()));
        Assert.Contains("overridden by line 3", i.NoteOn(2).Message);

        var portOnly = Import("port 1123");
        Assert.Equal(["0.0.0.0:1123", "[::]:1123"], portOnly.Settings.Listen.Select(e => e.ToString()));

        var client = Import("port 0", "allow 10.0.0.0/8", "server a.example iburst");
        Assert.Equal(["127.0.0.1:0"], client.Settings.Listen.Select(e => e.ToString()));
        Assert.True(client.Settings.Access.IsClosed);
        Assert.False(client.Allows("10.1.1.1"));
        Assert.Contains("closed server", client.NoteOn(1).Message);
        Assert.Contains("port 0", client.NoteOn(2).Message);
        Assert.Single(client.Settings.Upstream.Servers);
    }

    [Fact]
    public void A_later_directive_overrides_an_earlier_one_and_local_options_are_reported()
    {
        var i = Import("local stratum 5", "makestep 10 1", "local stratum 7 distance 0.5", "makestep 0.5 2", "driftfile drift interval 30");
        Assert.Equal(7, i.Settings.Local!.Stratum);
        Assert.Equal(0.5, i.Settings.Upstream.Sync.Discipline.MakeStepThresholdSeconds);
        Assert.Equal(2, i.Settings.Upstream.Sync.Discipline.MakeStepLimit);
        Assert.Contains("overridden by line 3", i.NoteOn(1).Message);
        Assert.Contains("overridden by line 4", i.NoteOn(2).Message);
        Assert.Equal("distance 0.5 (local)", i.NoteOn(3).Subject);
        Assert.Equal(".", i.Settings.DataDir);
        Assert.Equal(TimeSpan.FromSeconds(30), i.Persistence.WriteInterval);

        Assert.Equal(10, Import("local").Settings.Local!.Stratum);
    }

    [Fact]
    public void Every_directive_of_the_installed_chrony_conf_manual_is_translated_or_reported()
    {
        var directives = ManualDirectives();
        Assert.Contains("rtcsync", directives);
        Assert.Contains("server", directives);
        Assert.True(directives.Count > 80, $"only {directives.Count} directives found: {string.Join(", ", directives)}");
        foreach (string directive in directives)
        {
            var result = ChronyConfImporter.Translate(directive + " 1\n");
            Assert.DoesNotContain(result.Notes, n => n.Message.Contains("not a chrony directive"));
            TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(result.Hocon));
        }
    }

    [Fact]
    public void Random_lines_never_break_the_import_and_the_output_always_loads()
    {
        var random = new Random(5);
        string[] words =
        [
            "server", "pool", "peer", "allow", "deny", "all", "local", "stratum", "orphan", "distance", "makestep",
            "ratelimit", "interval", "burst", "leak", "kod", "port", "bindaddress", "driftfile", "minpoll", "maxpoll",
            "iburst", "prefer", "polltarget", "maxsources", "maxunreach", "noselect", "key", "clientloglimit",
            "minsources", "maxdistance", "maxjitter", "combinelimit", "reselectdist", "maxslewrate", "rtcsync",
            "0", "1", "-1", "16", "-7", "99999999999", "1e308", "-0.5", "nan", "10.0.0.0/8", "10.1", "::1", "fd00::/7",
            "1.2.3.4/33", "host.example", "/var/lib/x", "\"quoted\"", "#", "!",
        ];
        for (int file = 0; file < 300; file++)
        {
            var lines = new List<string>();
            for (int l = random.Next(1, 12); l > 0; l--)
                lines.Add(string.Join(' ', Enumerable.Range(0, random.Next(1, 7)).Select(_ => words[random.Next(words.Length)])));
            string text = string.Join("\n", lines);
            var result = ChronyConfImporter.Translate(text);
            var config = ConfigurationFactory.ParseString(result.Hocon);
            var exception = Record.Exception(() =>
            {
                TimeMeshSettings.FromConfig(config);
                PersistenceSettings.FromConfig(config);
            });
            Assert.True(exception is null, $"{text}\n---\n{result.Hocon}\n---\n{exception}");
        }
    }

    /// <summary>
    /// The directive headings of Debian's chrony.conf(5) (troff source): in the DIRECTIVES section, a bold
    /// word at the section's own indentation (options are indented by .RS). A missing page fails loudly.
    /// </summary>
    private static List<string> ManualDirectives()
    {
        const string page = "/usr/share/man/man5/chrony.conf.5.gz";
        if (!File.Exists(page)) throw new InvalidOperationException($"{page} is missing: install Debian's chrony (tests/run-all.sh does)");
        using var reader = new StreamReader(new System.IO.Compression.GZipStream(File.OpenRead(page), System.IO.Compression.CompressionMode.Decompress));
        var directives = new List<string>();
        bool inDirectives = false;
        int depth = 0;
        bool afterBreak = false;
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith(".SH ")) inDirectives = line.Contains("DIRECTIVES");
            else if (line.StartsWith(".RS")) depth++;
            else if (line.StartsWith(".RE")) depth--;
            var m = System.Text.RegularExpressions.Regex.Match(line, @"^\\fB([a-z_]+)\\fP");
            if (inDirectives && depth == 0 && afterBreak && m.Success && !directives.Contains(m.Groups[1].Value))
                directives.Add(m.Groups[1].Value);
            afterBreak = line == ".sp";
        }
        return directives;
    }
}
