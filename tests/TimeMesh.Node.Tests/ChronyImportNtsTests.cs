using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using TimeMesh.Cli.Import;
using TimeMesh.Node.Config;
using TimeMesh.Node.Tests.Support;
using Xunit.Abstractions;

namespace TimeMesh.Node.Tests;

/// <summary>
/// import-chrony never lowers authentication: chrony's NTS and symmetric-key lines become TimeMesh's NTS and keys,
/// and what cannot be kept as secure refuses the import (unless --allow-insecure), naming the line and the reason.
/// </summary>
[Collection(ProcessLanes.Tools)]
public sealed class ChronyImportNtsTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tmimp-").FullName;
    private readonly TestCertificates _certs = new();

    public void Dispose()
    {
        _certs.Dispose();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static ChronyImportResult Translate(bool allowInsecure, params string[] lines) =>
        ChronyConfImporter.Translate(string.Join("\n", lines) + "\n", allowInsecure: allowInsecure);

    private static TimeMeshSettings Load(ChronyImportResult result)
    {
        Assert.False(result.Refused, string.Join("\n", result.Insecure));
        return TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(result.Hocon));
    }

    private string KeyFile(string content)
    {
        string path = Path.Combine(_dir, "chrony.keys");
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    [Fact]
    public void Nts_sources_stay_nts_with_their_key_exchange_port()
    {
        var result = Translate(false,
            "server time.example iburst nts",
            "server b.example nts ntsport 4461",
            "pool nts.pool.example nts maxsources 2");
        var settings = Load(result);
        Assert.Empty(result.Insecure);
        var a = settings.Upstream.Servers[0];
        Assert.True(a.Nts);
        Assert.Equal(4460, a.NtsKePort);
        Assert.Null(a.Key);
        Assert.True(settings.Upstream.Servers[1].Nts);
        Assert.Equal(4461, settings.Upstream.Servers[1].NtsKePort);
        Assert.True(settings.Upstream.Pools[0].Template.Nts);
        // With no ntstrustedcerts chronyd trusts the system's roots, and so does TimeMesh.
        Assert.Equal("", settings.Upstream.NtsTrustedCertificatesPath);
        Assert.DoesNotContain(result.Notes, n => n.Message.Contains("unauthenticated"));
    }

    [Fact]
    public void Ntstrustedcerts_with_nosystemcert_becomes_the_trusted_CAs()
    {
        var result = Translate(false, "server time.example nts", $"ntstrustedcerts {_certs.CaPath}", "nosystemcert");
        var settings = Load(result);
        Assert.Equal(_certs.CaPath, settings.Upstream.NtsTrustedCertificatesPath);
        Assert.Equal(_certs.CaPath, settings.Nts.TrustedCertificatesPath);
        Assert.Empty(result.Notes);

        // Without nosystemcert chronyd trusts the system's roots as well; TimeMesh's file replaces them: narrower, said so.
        var wider = Translate(false, "server time.example nts", $"ntstrustedcerts {_certs.CaPath}");
        Assert.Equal(_certs.CaPath, Load(wider).Upstream.NtsTrustedCertificatesPath);
        Assert.Contains("instead of the system's roots", Assert.Single(wider.Notes, n => n.Line == 2).Message);

        // A set id, used by the sources' certset.
        var set = Translate(false, "server time.example nts certset 2", $"ntstrustedcerts 2 {_certs.CaPath}");
        Assert.Equal(_certs.CaPath, Load(set).Upstream.NtsTrustedCertificatesPath);
        Assert.Empty(set.Insecure);
    }

    [Fact]
    public void The_NTS_server_directives_become_the_nodes_NTS_server()
    {
        var result = Translate(false,
            "bindaddress 127.0.0.1",
            $"ntsservercert {_certs.CertificatePath}",
            $"ntsserverkey {_certs.KeyPath}",
            "ntsport 4470",
            "ntsrotate 3600",
            "maxntsconnections 50",
            "ntsntpserver ntp.example.org",
            "ntsprocesses 2",
            "ntsdumpdir /var/lib/chrony");
        var nts = Load(result).Nts;
        Assert.True(nts.Enabled);
        Assert.Equal(_certs.CertificatePath, nts.CertificatePath);
        Assert.Equal(_certs.KeyPath, nts.KeyPath);
        Assert.Equal(["127.0.0.1:4470"], nts.Listen.Select(e => e.ToString()));
        Assert.Equal(TimeSpan.FromHours(1), nts.CookieKeyRotation);
        Assert.Equal(50, nts.MaxConnections);
        Assert.Equal("ntp.example.org", nts.NtpServer);
        Assert.Empty(result.Insecure);
        Assert.Contains("asynchronously", Assert.Single(result.Notes, n => n.Line == 8).Message);
        Assert.Contains("nts-keys", Assert.Single(result.Notes, n => n.Line == 9).Message);

        // ntsrotate 0 (chronyd never rotates): TimeMesh always rotates, which is no weaker.
        var never = Translate(false, $"ntsservercert {_certs.CertificatePath}", $"ntsserverkey {_certs.KeyPath}", "ntsrotate 0");
        Assert.Equal(TimeSpan.FromDays(1), Load(never).Nts.CookieKeyRotation);
        Assert.Contains("never rotates", Assert.Single(never.Notes, n => n.Line == 3).Message);

        // A key without its certificate: chronyd runs no NTS server, neither does the node.
        var half = Translate(false, $"ntsserverkey {_certs.KeyPath}", "ntsport 4470");
        Assert.False(Load(half).Nts.Enabled);
        Assert.Equal([1, 2], half.Notes.Select(n => n.Line));
    }

    [Fact]
    public void A_source_key_with_a_keyfile_stays_authenticated()
    {
        string keys = KeyFile("5 SHA256 HEX:8A3C9B1F27D0E4456AB87C3D2E1F0A9B8C7D6E5F4A3B2C1D0E9F8A7B6C5D4E3F\n");
        var result = Translate(false, $"keyfile {keys}", "server a.example iburst key 5");
        var server = Assert.Single(Load(result).Upstream.Servers);
        Assert.NotNull(server.Key);
        Assert.Equal(5u, server.Key!.Id);
        Assert.Empty(result.Insecure);
        Assert.Contains("timemesh.keyfile", result.MachineFileKeys);

        // nts and key together: chronyd authenticates by NTS only; so does the node.
        var both = Translate(false, $"keyfile {keys}", "server a.example nts key 5");
        var s = Assert.Single(Load(both).Upstream.Servers);
        Assert.True(s.Nts);
        Assert.Null(s.Key);
    }

    [Fact]
    public void A_key_without_a_keyfile_refuses_the_import_naming_the_line_unless_allowed()
    {
        var refused = Translate(false, "server a.example iburst", "server b.example key 7");
        Assert.True(refused.Refused);
        Assert.Equal("", refused.Hocon);
        var why = Assert.Single(refused.Insecure);
        Assert.Equal(2, why.Line);
        Assert.Equal("key 7 (server b.example)", why.Subject);
        Assert.Contains("no keyfile", why.Message);

        var allowed = Translate(true, "server a.example iburst", "server b.example key 7");
        Assert.False(allowed.Refused);
        Assert.Contains("# LESS SECURE THAN chrony.conf, imported with --allow-insecure (1):", allowed.Hocon);
        Assert.Contains("# line 2: key 7 (server b.example) — chrony.conf names no keyfile", allowed.Hocon);
        Assert.All(Load(allowed).Upstream.Servers, s => Assert.Null(s.Key));
    }

    [Fact]
    public void Unauthenticated_sources_beside_authenticated_ones_follow_authselectmode()
    {
        // chronyd's default (mix) lets the unauthenticated source count only when it agrees with the NTS ones.
        var mix = Translate(false, "server a.example nts", "server b.example nts", "pool pool.example iburst");
        Assert.True(mix.Refused);
        var line = Assert.Single(mix.Insecure);
        Assert.Equal(3, line.Line);
        Assert.Contains("default authselectmode mix", line.Message);
        Assert.Contains("lines 1, 2", line.Message);

        // prefer and require make it noselect in chronyd: left out, nothing lowered.
        foreach (string mode in new[] { "prefer", "require" })
        {
            var kept = Translate(false, "server a.example nts", "pool pool.example iburst", $"authselectmode {mode}");
            var settings = Load(kept);
            Assert.Empty(settings.Upstream.Pools);
            Assert.Single(settings.Upstream.Servers);
            Assert.Contains($"authselectmode {mode} (line 3)", Assert.Single(kept.Notes, n => n.Line == 2).Message);
        }
        // ignore: chronyd itself selects them alike.
        Assert.False(Translate(false, "server a.example nts", "server b.example", "authselectmode ignore").Refused);
        // Only unauthenticated sources: nothing to lower.
        Assert.False(Translate(false, "server a.example", "server b.example").Refused);
    }

    [Fact]
    public void Trust_TimeMesh_cannot_keep_as_narrow_refuses_the_import()
    {
        // chronyd trusts no CA for these sources; TimeMesh with no file would trust the system's roots.
        var none = Translate(false, "server a.example nts", "nosystemcert");
        Assert.True(none.Refused);
        Assert.Equal(2, Assert.Single(none.Insecure).Line);

        // Two certsets: TimeMesh has one trust for all NTS sources.
        var sets = Translate(false, "server a.example nts", "server b.example nts certset 1",
            $"ntstrustedcerts 1 {_certs.OtherCaPath}", $"ntstrustedcerts {_certs.CaPath}", "nosystemcert");
        Assert.True(sets.Refused);
        Assert.Equal("certset 1 (server b.example)", Assert.Single(sets.Insecure).Subject);
    }

    [Fact]
    public void An_imported_NTS_config_passes_check_config()
    {
        string keys = KeyFile("1 SHA1 HEX:B9B6F6F4C8B8F0A3B04A6F01D29C8D0C9E0F9A11\n");
        var result = Translate(false,
            "server ntp1.example iburst nts",
            "server ntp2.example iburst nts ntsport 4461",
            "server 192.0.2.7 key 1 iburst",
            $"keyfile {keys}",
            $"ntstrustedcerts {_certs.CaPath}",
            "nosystemcert",
            $"ntsservercert {_certs.CertificatePath}",
            $"ntsserverkey {_certs.KeyPath}",
            "ntsport 4470",
            "ntsrotate 86400",
            "maxntsconnections 200",
            $"driftfile {_dir}/drift",
            "allow 10.0.0.0/8");
        Assert.Empty(result.Insecure);
        var check = ConfigFileCheck.CheckText(result.Hocon, "imported.hocon", values: true);
        Assert.True(check.Ok, check.Describe() + "\n" + result.Hocon);

        // Through the command too: exit 0, the file written, check-config on it passes.
        string conf = Path.Combine(_dir, "chrony.conf");
        File.WriteAllText(conf, string.Join("\n", "server ntp1.example iburst nts", $"ntstrustedcerts {_certs.CaPath}", "nosystemcert") + "\n");
        string outFile = Path.Combine(_dir, "node.hocon");
        var (exit, _, stderr) = ChronyImportCli.Run("import-chrony", conf, "--output", outFile);
        Assert.True(exit == 0, stderr);
        var (checkExit, checkOut, checkErr) = ChronyImportCli.Run("check-config", outFile);
        Assert.True(checkExit == 0, checkOut + checkErr);
    }

    [Fact]
    public void The_command_fails_on_a_line_it_cannot_keep_and_allow_insecure_makes_it_a_warning()
    {
        string conf = Path.Combine(_dir, "chrony.conf");
        File.WriteAllText(conf, "server a.example nts\nserver b.example iburst\nrtcsync\n");
        var (exit, stdout, stderr) = ChronyImportCli.Run("import-chrony", conf);
        Assert.Equal(3, exit);
        Assert.Equal("", stdout);
        Assert.Contains("chrony.conf: line 2: server b.example iburst — cannot keep its security:", stderr);
        Assert.Contains("nothing written", stderr);

        var (allowedExit, allowedOut, allowedErr) = ChronyImportCli.Run("import-chrony", conf, "--allow-insecure");
        Assert.True(allowedExit == 0, allowedErr);
        Assert.Contains("chrony.conf: line 2: server b.example iburst — LESS SECURE (--allow-insecure):", allowedErr);
        // At the top of the output, before the notes (rtcsync) and the keys.
        int warning = allowedOut.IndexOf("# LESS SECURE THAN chrony.conf", StringComparison.Ordinal);
        Assert.True(warning > 0 && warning < allowedOut.IndexOf("rtcsync", StringComparison.Ordinal) && warning < allowedOut.IndexOf("timemesh {", StringComparison.Ordinal), allowedOut);
        Assert.Equal(2, TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(allowedOut)).Upstream.Servers.Count);
    }

    [Fact]
    public void Files_the_output_names_that_this_machine_lacks_are_told_not_fatal()
    {
        string conf = Path.Combine(_dir, "chrony.conf");
        string missing = Path.Combine(_dir, "absent", "chrony.keys");
        File.WriteAllText(conf, $"keyfile {missing}\nserver a.example key 3\n");
        string outFile = Path.Combine(_dir, "node.hocon");
        var (exit, _, stderr) = ChronyImportCli.Run("import-chrony", conf, "--output", outFile);
        Assert.True(exit == 0, stderr);
        Assert.Contains("before the node starts on this machine: timemesh.keyfile:", stderr);
        Assert.Contains("key = 3", File.ReadAllText(outFile));
        Assert.Contains($"keyfile = \"{missing}\"", File.ReadAllText(outFile));
    }

    /// <summary>chronyd itself (<c>chronyd -x -p</c>: parse, print, exit) accepts every NTS and key line these tests import.</summary>
    [Fact]
    public void Chronyd_accepts_the_lines_these_tests_import()
    {
        Chrony.RequireInstalled();
        string[] lines =
        [
            "server time.example iburst nts", "server b.example nts ntsport 4461", "pool nts.pool.example nts maxsources 2",
            $"ntstrustedcerts {_certs.CaPath}", "nosystemcert", "server time.example nts certset 2", $"ntstrustedcerts 2 {_certs.CaPath}",
            $"ntsservercert {_certs.CertificatePath}", $"ntsserverkey {_certs.KeyPath}", "ntsport 4470", "ntsrotate 3600", "ntsrotate 0",
            "maxntsconnections 50", "ntsntpserver ntp.example.org", "ntsprocesses 2", "ntsdumpdir /var/lib/chrony",
            "keyfile /etc/chrony/chrony.keys", "server a.example iburst key 5", "server a.example nts key 5", "server b.example key 7",
            "authselectmode prefer", "authselectmode require", "authselectmode ignore", "authselectmode mix",
        ];
        foreach (string line in lines)
        {
            string conf = Path.Combine(_dir, "one.conf");
            File.WriteAllText(conf, line + "\n");
            var info = new ProcessStartInfo(Chrony.ChronydPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { "-x", "-p", "-f", conf }) info.ArgumentList.Add(a);
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(10_000), "chronyd -p did not exit");
            Assert.True(p.ExitCode == 0, $"chronyd refuses '{line}': {stderr}");
            Assert.DoesNotContain(ChronyConfImporter.Translate(line, allowInsecure: true).Notes, n => n.Message.StartsWith("invalid"));
        }
        // And what it refuses, the import calls invalid.
        foreach (string bad in new[] { "authselectmode bogus", "authselectmode Require" })
            Assert.Contains(ChronyConfImporter.Translate(bad).Notes, n => n.Message.StartsWith("invalid"));
    }

    /// <summary>
    /// The whole path: a chrony.conf client of a chronyd NTS server, imported, and a node started on the result
    /// authenticates to that chronyd (key exchange, then authentic replies).
    /// </summary>
    [Fact]
    public async Task A_node_on_an_imported_NTS_config_authenticates_to_a_chronyd_NTS_server()
    {
        Chrony.RequireInstalled();
        int upstreamPort = Chrony.FreeUdpPort();
        int kePort = Chrony.FreeTcpPort();
        string dump = Path.Combine(_dir, "chronyd-dump");
        Directory.CreateDirectory(dump);
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort, 1,
            $"ntsservercert {_certs.CertificatePath}", $"ntsserverkey {_certs.KeyPath}", $"ntsport {kePort}", $"ntsdumpdir {dump}");

        var result = Translate(false,
            $"server 127.0.0.1 port {upstreamPort} iburst minpoll 0 maxpoll 2 nts ntsport {kePort}",
            $"ntstrustedcerts {_certs.CaPath}",
            "nosystemcert",
            $"driftfile {_dir}/drift",
            "port 0");
        Assert.Empty(result.Insecure);
        output.WriteLine(result.Hocon);
        // The monitoring endpoint's fixed port may be taken by another node on this machine; it is not under test.
        await using var node = TimeMeshNode.Start(ConfigurationFactory.ParseString(result.Hocon + "\ntimemesh.control.listen = off\n"));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        Sync.SyncProtocol.NtsSourceReport? nts = null;
        while (DateTime.UtcNow < deadline)
        {
            var reports = await node.Sync!.Ask<List<Sync.SyncProtocol.NtsSourceReport>>(Sync.SyncProtocol.GetNtsReports.Instance, TimeSpan.FromSeconds(5));
            nts = reports.SingleOrDefault();
            if (nts is { AuthenticReplies: >= 2 }) break;
            await Task.Delay(500);
        }
        output.WriteLine($"NTS: {nts}");
        Assert.NotNull(nts);
        Assert.Equal(1, nts!.KeyExchanges);
        Assert.True(nts.AuthenticReplies >= 2, nts.ToString());
        Assert.Equal(0, nts.RejectedReplies);
        Assert.Matches(@"NTS-KE connections accepted: 1\b", upstream.Chronyc("serverstats"));
    }
}

/// <summary>The timemesh executable, run as a user runs it.</summary>
internal static class ChronyImportCli
{
    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(TimeMeshProcess.ExecutablePath);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "timemesh did not exit");
        return (p.ExitCode, stdout.Result, stderr);
    }
}
