using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Akka.Actor;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Sync;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Symmetric keys against Debian's chronyd 4.3, both ways, with one keyfile in chrony's format shared by
/// both sides: every MAC type chronyd and TimeMesh have in common, and one key whose value differs.
/// </summary>
[Collection(ProcessLanes.Mesh)]
public sealed class SymmetricKeyInteropTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    /// <summary>Key id → type; the ids double as the last byte of the loopback address each runs on.</summary>
    private static readonly (uint Id, MacAlgorithm Type)[] Types =
    [
        (1, MacAlgorithm.Md5), (2, MacAlgorithm.Sha1), (3, MacAlgorithm.Sha256), (4, MacAlgorithm.Sha384),
        (5, MacAlgorithm.Sha512), (6, MacAlgorithm.Sha3_256), (7, MacAlgorithm.Aes128Cmac), (8, MacAlgorithm.Aes256Cmac),
    ];
    /// <summary>Defined on both sides with different values (same id, same type).</summary>
    private const uint MismatchedId = 9;
    /// <summary>The address on which chronyd asks with NTPv3 under key 5 (SHA512): untruncated 64-byte digests.</summary>
    private const int Version3Address = 10;

    private readonly string _dir = Directory.CreateTempSubdirectory("timemesh-keys").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    /// <summary>Writes two keyfiles that agree on keys 1–8 and differ on key 9; returns (ours, chrony's).</summary>
    private (string Ours, string Theirs) WriteKeyFiles()
    {
        var common = Types.Select(t => KeyFile.FormatLine(t.Id, t.Type, RandomNumberGenerator.GetBytes(KeyBytes(t.Type)))).ToList();
        string ours = Path.Combine(_dir, "timemesh.keys"), theirs = Path.Combine(_dir, "chrony.keys");
        File.WriteAllLines(ours, ["# written by the test", .. common, KeyFile.FormatLine(MismatchedId, MacAlgorithm.Sha256, RandomNumberGenerator.GetBytes(20))]);
        File.WriteAllLines(theirs, [.. common, KeyFile.FormatLine(MismatchedId, MacAlgorithm.Sha256, RandomNumberGenerator.GetBytes(20))]);
        File.SetUnixFileMode(ours, UnixFileMode.UserRead | UnixFileMode.UserWrite); // a node refuses a key others can read
        return (ours, theirs);
    }

    private static int KeyBytes(MacAlgorithm type) => MacAlgorithms.RequiredKeyLength(type) is > 0 and var n ? n : 20;

    private static Akka.Configuration.Config NodeConfig(string body, string dataDir) =>
        Akka.Configuration.ConfigurationFactory.ParseString($"timemesh {{\n{body}\n data-dir = \"{dataDir}\"\n}}");

    private static string Field(string ntpdata, string name) =>
        Regex.Match(ntpdata, "^" + Regex.Escape(name) + @"\s*: (.*)$", RegexOptions.Multiline).Groups[1].Value.Trim();

    [Fact]
    public async Task ChronydSynchronisesToTheNodeUnderEveryKeyTypeAndNeverUnderAWrongKey()
    {
        var (ours, theirs) = WriteKeyFiles();
        var addresses = Types.Select(t => t.Id).Append(MismatchedId).Append((uint)Version3Address).Select(id => $"127.0.0.{id}").ToArray();
        await using var node = TimeMeshNode.Start(NodeConfig($$"""
              listen = [{{string.Join(", ", addresses.Select(a => $"\"{a}:0\""))}}]
              allow = ["127.0.0.0/8"]
              local { stratum = 10 }
              keyfile = "{{ours}}"
            """, Path.Combine(_dir, "node")));
        Assert.Equal(Types.Length + 1, node.Settings.Keys.Count);

        // One chronyd client, one source per key: each on its own loopback address (chronyd takes an
        // address once), all the same TimeMesh node.
        var lines = node.Endpoints.Select(e => e.Address.GetAddressBytes()[3] == Version3Address
            ? $"server {e.Address} port {e.Port} key 5 version 3 iburst minpoll 0 maxpoll 2"
            : $"server {e.Address} port {e.Port} key {e.Address.GetAddressBytes()[3]} iburst minpoll 0 maxpoll 2");
        using var chrony = Chrony.StartClient([$"keyfile {theirs}", .. lines]);

        string sources = "";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            sources = chrony.Chronyc("-n", "-c", "sources");
            var rows = sources.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(',')).Where(f => f.Length > 5).ToList();
            // Every keyed source has answered at least 4 polls and one of them is selected.
            bool allGood = Types.Select(t => (int)t.Id).Append(Version3Address)
                .All(id => rows.Any(f => f[2] == $"127.0.0.{id}" && Convert.ToInt32(f[5], 8) >= 0b1111 && "*+-".Contains(f[1])));
            if (allGood && rows.Any(f => f[1] == "*")) break;
            await Task.Delay(1000);
        }
        output.WriteLine(sources);
        var table = sources.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(',')).Where(f => f.Length > 5)
            .ToDictionary(f => f[2], f => f);
        Assert.Contains(table.Values, f => f[1] == "*");
        foreach (var (id, type) in Types)
        {
            string address = $"127.0.0.{id}";
            string ntpdata = chrony.Chronyc("-n", "ntpdata", address);
            output.WriteLine($"{MacAlgorithms.Name(type)} (key {id}): state {table[address][1]}, reach {table[address][5]}, authenticated {Field(ntpdata, "Authenticated")}, good RX {Field(ntpdata, "Total good RX")}");
            Assert.True("*+-".Contains(table[address][1]), $"{MacAlgorithms.Name(type)}: chronyd marks the source '{table[address][1]}'\n{sources}");
            Assert.Equal("Yes", Field(ntpdata, "Authenticated"));
            Assert.Equal("10", Field(ntpdata, "Stratum"));
            Assert.True(int.Parse(Field(ntpdata, "Total good RX")) >= 4, ntpdata);
        }

        // NTPv3 carries the whole SHA512 digest (68-byte MAC) both ways, as chrony does.
        string v3 = chrony.Chronyc("-n", "ntpdata", $"127.0.0.{Version3Address}");
        output.WriteLine($"SHA512 over NTPv3: state {table[$"127.0.0.{Version3Address}"][1]}, version {Field(v3, "Version")}, authenticated {Field(v3, "Authenticated")}, good RX {Field(v3, "Total good RX")}");
        Assert.Equal("3", Field(v3, "Version"));
        Assert.Equal("Yes", Field(v3, "Authenticated"));
        Assert.True(int.Parse(Field(v3, "Total good RX")) >= 4, v3);

        // The mismatched key: TimeMesh cannot verify chronyd's requests and never answers them.
        string wrong = $"127.0.0.{MismatchedId}";
        Assert.True(table[wrong][1] is "?", $"chronyd marks the wrong-key source '{table[wrong][1]}'");
        Assert.Equal("0", table[wrong][5]);
        Assert.Equal("0", Field(chrony.Chronyc("-n", "ntpdata", wrong), "Total RX"));

        // chronyd's iburst to the wrong-key source runs on its own timer: its 4th request can still be on its way
        // when the good sources are done (seen once on a loaded machine: 3 dropped). Wait for it, bounded.
        var stats = await node.NtpServer.Ask<ServerStats>(NtpServerProtocol.GetStats.Instance, TimeSpan.FromSeconds(5));
        for (var until = DateTime.UtcNow + TimeSpan.FromSeconds(10); stats.DroppedAuth < 4 && DateTime.UtcNow < until; )
        {
            await Task.Delay(250);
            stats = await node.NtpServer.Ask<ServerStats>(NtpServerProtocol.GetStats.Instance, TimeSpan.FromSeconds(5));
        }
        output.WriteLine($"node: received {stats.Received}, authenticated {stats.Authenticated}, dropped auth {stats.DroppedAuth}, answered {stats.Answered}");
        Assert.True(stats.Authenticated >= 4 * (Types.Length + 1), $"authenticated {stats.Authenticated}");
        Assert.True(stats.DroppedAuth >= 4, $"dropped auth {stats.DroppedAuth}");
        Assert.Equal(stats.Authenticated, stats.Answered); // chronyd sent nothing unauthenticated
    }

    [Fact]
    public async Task TheNodeSynchronisesToChronydUnderEveryKeyTypeAndRefusesAWrongKey()
    {
        var (ours, theirs) = WriteKeyFiles();
        int port = Chrony.FreeUdpPort();
        var servers = Types.Select(t => t.Id).Append(MismatchedId)
            .Select(id => (Id: id, Chrony: Chrony.StartServer($"127.0.0.{id}", port, 1, $"keyfile {theirs}")))
            .ToList();
        try
        {
            var entries = servers.Select(s => $"{{ address = \"127.0.0.{s.Id}\", port = {port}, key = {s.Id}, iburst = on, minpoll = 0, maxpoll = 1 }}");
            await using var node = TimeMeshNode.Start(NodeConfig($$"""
                  listen = ["127.0.0.1:0"]
                  allow = ["127.0.0.0/8"]
                  keyfile = "{{ours}}"
                  server = [ {{string.Join(", ", entries)}} ]
                """, Path.Combine(_dir, "node")));

            IReadOnlyList<SourceReport> sources = [];
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            while (DateTime.UtcNow < deadline)
            {
                sources = (await node.Sync!.Ask<SyncProtocol.Sources>(SyncProtocol.GetSources.Instance, TimeSpan.FromSeconds(5))).Entries;
                var tracking = (await node.Sync!.Ask<SyncProtocol.Tracking>(SyncProtocol.GetTracking.Instance, TimeSpan.FromSeconds(5))).Report;
                bool allReached = Types.All(t => sources.Any(s => s.Name.StartsWith($"127.0.0.{t.Id}:") && System.Numerics.BitOperations.PopCount(s.Reach) >= 4));
                if (allReached && tracking.Synchronised) break;
                await Task.Delay(1000);
            }
            foreach (var s in sources) output.WriteLine($"{s.Name}: {s.State}, stratum {s.Stratum}, reach {Convert.ToString(s.Reach, 8)}");
            var trackingReport = (await node.Sync!.Ask<SyncProtocol.Tracking>(SyncProtocol.GetTracking.Instance, TimeSpan.FromSeconds(5))).Report;
            Assert.True(trackingReport.Synchronised, trackingReport.NotSynchronisedReason);
            Assert.Equal(2, trackingReport.Stratum);

            foreach (var (id, chrony) in servers)
            {
                var source = Assert.Single(sources, s => s.Name.StartsWith($"127.0.0.{id}:"));
                string serverstats = chrony.Chronyc("serverstats");
                string authenticated = Field(serverstats, "Authenticated NTP packets");
                output.WriteLine($"key {id}: chronyd received {Field(serverstats, "NTP packets received")}, authenticated {authenticated}, dropped {Field(serverstats, "NTP packets dropped")}");
                if (id == MismatchedId)
                {
                    // chronyd cannot verify our MAC under its key 9 and stays silent: never reached, never selected.
                    Assert.Equal(0, source.Reach);
                    Assert.NotEqual(SourceState.Selected, source.State);
                    Assert.Equal("0", authenticated);
                    Assert.NotEqual("0", Field(serverstats, "NTP packets received"));
                }
                else
                {
                    Assert.True(System.Numerics.BitOperations.PopCount(source.Reach) >= 4, $"key {id}: reach {Convert.ToString(source.Reach, 8)}");
                    Assert.Equal(1, source.Stratum);
                    Assert.True(int.Parse(authenticated) >= 4, serverstats);
                }
            }
        }
        finally
        {
            foreach (var s in servers) s.Chrony.Dispose();
        }
    }
}
