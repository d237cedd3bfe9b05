using System.Diagnostics;
using System.Net;
using Akka.Configuration;
using TimeMesh.Core.Access;
using TimeMesh.Cli.Import;
using TimeMesh.Node.Config;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>import-chrony against the real programs: chronyd's own access decisions, and the timemesh executable.</summary>
[Collection(ProcessLanes.Tools)]
public class ChronyImportProcessTests
{
    private static (int ExitCode, string Stdout, string Stderr) RunTimemesh(params string[] args) => ChronyImportCli.Run(args);

    /// <summary>
    /// Random allow/deny sequences with overlapping subnets on shared and neighbouring table levels, bare
    /// and "all" forms; for each, chronyd (-x, `chronyc accheck`) and the imported TimeMesh access list
    /// must decide the same for every probe address.
    /// </summary>
    [Fact]
    public void The_imported_access_lists_decide_as_chronyd_does()
    {
        Chrony.RequireInstalled();
        var random = new Random(20261124);
        int[] prefixes = [8, 12, 14, 15, 16, 20, 22, 23, 24, 26, 28, 29, 30, 32];
        string RandomV4() => $"10.{random.Next(2)}.{random.Next(4)}.{new[] { 0, 5, 17, 130, 200 }[random.Next(5)]}";
        var probes = new List<string>();
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 4; c++)
                foreach (int d in new[] { 0, 4, 5, 17, 31, 130, 200, 255 }) probes.Add($"10.{b}.{c}.{d}");
        probes.AddRange(["10.7.1.1", "11.0.0.1", "192.168.1.1", "fd00::1", "fd00:0:0:1::5", "2001:db8::1"]);

        int disagreements = 0;
        var report = new System.Text.StringBuilder();
        for (int round = 0; round < 10; round++)
        {
            var lines = new List<string>();
            int count = 3 + random.Next(6);
            for (int i = 0; i < count; i++)
            {
                string verb = random.Next(2) == 0 ? "allow" : "deny";
                int kind = random.Next(20);
                string all = random.Next(5) == 0 ? "all " : "";
                lines.Add(kind switch
                {
                    0 => verb,
                    1 => $"{verb} all",
                    2 => $"{verb} {all}fd00::/{new[] { 8, 16, 62, 64 }[random.Next(4)]}",
                    3 => $"{verb} {all}10.{random.Next(2)}",
                    _ => $"{verb} {all}{RandomV4()}/{prefixes[random.Next(prefixes.Length)]}",
                });
            }

            var imported = ChronyConfImporter.Translate(string.Join("\n", lines));
            var access = TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(imported.Hocon)).Access;
            using var chronyd = Chrony.StartServerWith(Chrony.FreeUdpPort(), [.. lines]);
            foreach (string probe in probes)
            {
                string answer = chronyd.Chronyc("accheck", probe);
                bool chronyAllows = answer.Contains("208 Access allowed");
                Assert.True(chronyAllows || answer.Contains("209 Access denied"), $"chronyc accheck {probe}: {answer}");
                bool ours = access.IsAllowed(IpAddress128.FromIPAddress(IPAddress.Parse(probe)));
                if (ours != chronyAllows)
                {
                    disagreements++;
                    report.AppendLine($"{string.Join(" | ", lines)}: {probe} chronyd {(chronyAllows ? "allows" : "denies")}");
                }
            }
        }
        Assert.True(disagreements == 0, report.ToString());
    }

    /// <summary>
    /// What the import calls invalid is what chronyd's own parser refuses (<c>chronyd -x -p</c> parses the
    /// file, prints it and exits; it starts nothing). Left out: prefixes too long (chronyd accepts them when
    /// parsing and refuses them at start) and host names (resolved at start).
    /// </summary>
    [Fact]
    public async Task Lines_the_import_calls_invalid_are_the_lines_chronyd_refuses()
    {
        Chrony.RequireInstalled();
        string[] lines =
        [
            "server a.example iburst minpoll 4 maxpoll 4 prefer", "server a.example port 70000", "server a.example minpoll",
            "server a.example key 0", "server a.example key 7", "server a.example wibble", "server", "pool p.example maxsources 0",
            "pool p.example maxsources 3 iburst", "peer b.example", "peer", "allow", "allow all", "allow all 10.1", "allow 10.1 10.2",
            "deny 192.168.1.0/24", "deny 192.168.1.0/x", "allow fd00::/8", "allow 256.1", "local", "local stratum 16",
            "local stratum 0", "local stratum 3 orphan distance 0.1", "local orphan distance", "local wibble", "makestep 1 3",
            "makestep 1.0 x", "makestep 1", "makestep 0.1 -1", "ratelimit", "ratelimit interval 1 burst 16",
            "ratelimit interval x", "ratelimit interval", "ratelimit speed 3", "port 0", "port 65536", "port x",
            "bindaddress 10.0.0.1", "bindaddress ::1", "bindaddress 10.1", "minsources 0", "minsources 2",
            "minsources two", "maxdistance 1.5s", "maxdistance fast", "maxslewrate 1000", "clientloglimit 1048576",
            "clientloglimit lots", "driftfile /var/lib/chrony/drift", "driftfile", "rtcsync", "rtcsync now", "frobnicate",
            "ALLOW 10.0.0.0/8", "Server a.example IBURST", "server a.example extfield F323", "server a.example extfield zz",
            "logdir", "logdir /a /b", "keyfile /etc/chrony/chrony.keys", "lock_all 1", "allow 300.1.2.3", "allow 1.2.3.4.5.6/8",
            "server a.example minpoll 4x", "port 123x", "server a.example maxunreach -1", "server a.example polltarget 0",
            "noclientlog", "leapsectz", "user _chrony", "include", "include /a /b", "confdir", "sourcedir", "confdir /a /b",
            "log tracking measurements", "makestep 1.0 3x", "makestep 1.0x 3", "clientloglimit 1048576x", "clientloglimit x",
        ];
        string dir = Directory.CreateTempSubdirectory("import-chrony-p").FullName;
        var report = new System.Text.StringBuilder();
        try
        {
            foreach (string line in lines)
            {
                string conf = Path.Combine(dir, "one.conf");
                File.WriteAllText(conf, line + "\n");
                var info = new ProcessStartInfo(Chrony.ChronydPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                // -x as everywhere in these tests: even a chronyd that only parses never gets to steer the clock.
                foreach (string a in new[] { "-x", "-p", "-f", conf }) info.ArgumentList.Add(a);
                using var p = Process.Start(info)!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                string stderr = await p.StandardError.ReadToEndAsync();
                await stdout;
                Assert.True(p.WaitForExit(10_000), "chronyd -p did not exit");
                bool chronydRefuses = p.ExitCode != 0;
                var notes = ChronyConfImporter.Translate(line).Notes;
                bool importRefuses = notes.Any(n => n.Message.StartsWith("invalid") || n.Message.Contains("not a chrony directive"));
                if (chronydRefuses != importRefuses)
                    report.AppendLine($"'{line}': chronyd {(chronydRefuses ? "refuses: " + stderr.Trim() : "accepts")}; import: {string.Join("; ", notes)}");
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
        Assert.True(report.Length == 0, report.ToString());
    }

    [Fact]
    public void The_command_writes_a_config_a_node_serves_with()
    {
        string dir = Directory.CreateTempSubdirectory("import-chrony").FullName;
        try
        {
            int port = Chrony.FreeUdpPort();
            string conf = Path.Combine(dir, "chrony.conf");
            File.WriteAllText(conf, $"""
                # a LAN time server
                port {port}
                bindaddress 127.0.0.1
                allow 127.0.0.1
                rtcsync
                local stratum 7
                """);
            string output = Path.Combine(dir, "timemesh.hocon");
            var (exit, _, stderr) = RunTimemesh("import-chrony", conf, "--output", output);
            Assert.Equal(0, exit);
            Assert.Contains("chrony.conf: line 5: rtcsync — not translated: TimeMesh does not set the RTC", stderr);

            string hocon = File.ReadAllText(output);
            Assert.Contains("# line 5: rtcsync — not translated", hocon);
            var settings = TimeMeshSettings.FromConfig(TimeMeshSettings.LoadFile(output));
            Assert.Equal([new IPEndPoint(IPAddress.Loopback, port)], settings.Listen.Where(e => e.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));

            // The node the operator would run on it (IPv6 left on [::] by the import, moved to loopback here).
            // A key set twice is refused, so the import's listen and data-dir lines give way to the test's.
            string rest = System.Text.RegularExpressions.Regex.Replace(hocon, @"(?m)^\s*(listen|data-dir) = .*$", "");
            using var node = TimeMeshProcess.Start($"listen = [\"127.0.0.1:{port}\"]", akkaBlock: rest);
            var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
            Assert.Equal(port, endpoint.Port);
            var reply = NtpProbe.AskUntilAnswered(endpoint, TimeSpan.FromSeconds(10));
            Assert.NotNull(reply);
            Assert.Equal(7, reply.Value.Stratum);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void The_command_prints_to_stdout_and_exits_2_on_an_unreadable_file()
    {
        string dir = Directory.CreateTempSubdirectory("import-chrony").FullName;
        try
        {
            string conf = Path.Combine(dir, "chrony.conf");
            File.WriteAllText(conf, "server ntp1.example iburst\npeer ntp2.example\n");
            var (exit, stdout, stderr) = RunTimemesh("import-chrony", conf);
            Assert.Equal(0, exit);
            var settings = TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(stdout));
            Assert.Equal("ntp1.example", Assert.Single(settings.Upstream.Servers).Address);
            Assert.Contains("line 2: peer ntp2.example — not supported", stderr);
            Assert.Contains("# line 2: peer ntp2.example — not supported", stdout);

            var (missingExit, _, missingErr) = RunTimemesh("import-chrony", Path.Combine(dir, "nope.conf"));
            Assert.Equal(2, missingExit);
            Assert.Contains("nope.conf", missingErr);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
