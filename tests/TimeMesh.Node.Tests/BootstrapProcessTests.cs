using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Formation through Cluster Bootstrap (<c>timemesh.mesh.discovery.method = config</c>): two masters and a member,
/// real <c>timemesh run</c> processes on loopback started at once, no seed nodes; each node's /api/mesh must show
/// one cluster of all three.
/// </summary>
[Collection(ProcessTests.Name)]
public class BootstrapProcessTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Node(string role, int clusterPort, int managementPort, IEnumerable<int> masterManagementPorts) => $$"""
          role = {{role}}
          listen = ["127.0.0.1:0"]
          allow = ["127.0.0.0/8"]
          control.listen = "127.0.0.1:0"
          mesh.discovery {
            method = config
            endpoints = [{{string.Join(", ", masterManagementPorts.Select(p => $"\"127.0.0.1:{p}\""))}}]
            stable-margin = 2s
            management.port = {{managementPort}}
          }
        """;

    private static string Akka(int clusterPort) => $$"""
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
        """;

    private static async Task<(bool Joined, string[] Members)> MeshOf(HttpClient http, string control)
    {
        try
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://{control}/api/mesh"));
            var root = doc.RootElement;
            return (root.GetProperty("joined").GetBoolean(), root.GetProperty("members").EnumerateArray().Select(m => m.GetString()!).ToArray());
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            return (false, []);
        }
    }

    private static string Control(TimeMeshProcess node, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var m = Regex.Match(node.Output, @"monitoring endpoint on http://(\S+?)/");
            if (m.Success) return m.Groups[1].Value;
            Thread.Sleep(100);
        }
        throw new TimeoutException("no monitoring endpoint:\n" + node.Output);
    }

    [Fact]
    public async Task TwoMastersAndAMemberStartedAtOnceFormOneClusterThroughBootstrapThreeTimesInARow()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var times = new List<double>();
        for (int round = 1; round <= 3; round++)
        {
            int clusterA = Chrony.FreeTcpPort(), clusterB = Chrony.FreeTcpPort(), clusterM = Chrony.FreeTcpPort();
            int mgmtA = Chrony.FreeTcpPort(), mgmtB = Chrony.FreeTcpPort(), mgmtM = Chrony.FreeTcpPort();
            int[] masters = [mgmtA, mgmtB];
            var started = Stopwatch.StartNew();
            using var masterA = TimeMeshProcess.Start(Node("master", clusterA, mgmtA, masters), Akka(clusterA));
            using var masterB = TimeMeshProcess.Start(Node("master", clusterB, mgmtB, masters), Akka(clusterB));
            using var member = TimeMeshProcess.Start(Node("member", clusterM, mgmtM, masters), Akka(clusterM));
            var nodes = new[] { masterA, masterB, member };
            var controls = nodes.Select(n => Control(n, TimeSpan.FromSeconds(60))).ToArray();
            string[] expected = new[] { clusterA, clusterB, clusterM }.Select(p => $"akka.tcp://timemesh@127.0.0.1:{p}").OrderBy(a => a, StringComparer.Ordinal).ToArray();

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            (bool Joined, string[] Members)[] views = [];
            bool formed = false;
            while (DateTime.UtcNow < deadline && !formed)
            {
                views = await Task.WhenAll(controls.Select(c => MeshOf(http, c)));
                formed = views.All(v => v.Joined && v.Members.OrderBy(a => a, StringComparer.Ordinal).SequenceEqual(expected));
                if (!formed) await Task.Delay(250);
            }
            string seen = string.Join("; ", views.Select((v, i) => $"node {i}: joined {v.Joined}, members [{string.Join(", ", v.Members)}]"));
            Assert.True(formed, $"round {round}: no single cluster of all three within 60 s: {seen}\n--- master-a:\n{masterA.Output}\n--- master-b:\n{masterB.Output}\n--- member:\n{member.Output}");
            times.Add(started.Elapsed.TotalSeconds);
            output.WriteLine($"round {round}: one cluster of 3 ({string.Join(", ", expected)}) {started.Elapsed.TotalSeconds:0.0} s after the start");
            // Exactly one node formed the cluster: the master with the lowest contact point, through the bootstrap.
            Assert.Single(nodes, n => n.Output.Contains("Initiating new cluster, self-joining"));
            Assert.DoesNotContain("Initiating new cluster", member.Output);
        }
        output.WriteLine($"measured: {times.Count} of 3 simultaneous starts formed one cluster; seconds to one cluster: {string.Join(", ", times.Select(t => t.ToString("0.0")))}");
    }
}
