using TimeMesh.Control;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using Akka.Actor;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.StatusPage;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// The status page on a real mesh (two masters, each on its own chronyd, and a member, whole nodes in one
/// process), loaded from the member's monitoring endpoint in headless Chromium: what the page shows after
/// its scripts ran is read back from the DOM Chromium dumps, and a screenshot is kept with the test output.
/// </summary>
[Collection(ProcessLanes.Tools)]
public class StatusPageTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static Akka.Configuration.Config Config(string role, int clusterPort, int seedA, int seedB, string upstream, string history) =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = {{role}}
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              {{upstream}}
              control.listen = "127.0.0.1:0"
              history { {{history}} }
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-statuspage-" + Guid.NewGuid().ToString("N")[..8])}}"
            }
            akka {
              loglevel = WARNING
              remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.tcp://timemesh@127.0.0.1:{{seedA}}", "akka.tcp://timemesh@127.0.0.1:{{seedB}}"]
            }
            """);

    private static async Task<MeshProtocol.MeshView> View(TimeMeshNode node) =>
        await node.Mesh!.Ask<MeshProtocol.MeshView>(MeshProtocol.GetMesh.Instance, TimeSpan.FromSeconds(3));

    private static async Task<JsonElement> GetJson(HttpClient http, string url) =>
        await http.GetFromJsonAsync<JsonElement>(url);

    /// <summary>How many history points have a known offset.</summary>
    private static int KnownOffsets(JsonElement history) =>
        history.GetProperty("points").EnumerateArray().Count(p => p.GetProperty("last_offset_seconds").ValueKind == JsonValueKind.Number);

    /// <summary>How many clock updates with a known offset the history holds (what the offset plot draws, each once).</summary>
    private static int Updates(JsonElement history) =>
        history.GetProperty("points").EnumerateArray()
            .Where(p => p.GetProperty("last_offset_seconds").ValueKind == JsonValueKind.Number)
            .Select(p => p.GetProperty("last_update_unix_ms").GetInt64())
            .Distinct()
            .Count();

    [Fact]
    public async Task TheMembersStatusPageShowsTheMeshTheLeaderAndItsHistory()
    {
        Chromium.RequireInstalled();
        int upstreamPort = Chrony.FreeUdpPort();
        using var upA = Chrony.StartServer("127.0.0.1", upstreamPort);
        using var upB = Chrony.StartServer("127.0.0.2", upstreamPort);
        int portA = Chrony.FreeTcpPort(), portB = Chrony.FreeTcpPort(), portM = Chrony.FreeTcpPort();
        string Upstream(string ip) => $"server = [ {{ address = \"{ip}\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1 }} ]";
        const string history = "interval = 500ms, length = 1h";
        var a = TimeMeshNode.Start(Config("master", portA, portA, portB, Upstream("127.0.0.1"), history));
        var b = TimeMeshNode.Start(Config("master", portB, portA, portB, Upstream("127.0.0.2"), history));
        var m = TimeMeshNode.Start(Config("member", portM, portA, portB, "", history));
        try
        {
            Assert.NotNull(m.Control);
            string baseUrl = $"http://{m.Control!.Endpoint}/";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            string aName = $"akka.tcp://timemesh@127.0.0.1:{portA}", bName = $"akka.tcp://timemesh@127.0.0.1:{portB}",
                mName = $"akka.tcp://timemesh@127.0.0.1:{portM}";

            // Wait for a mesh worth showing: all three agree on a leader, the member is synchronised through it
            // and has a few offsets in its history.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            MeshProtocol.MeshView view = await View(m);
            JsonElement historyJson = await GetJson(http, baseUrl + "api/history");
            while (DateTime.UtcNow < deadline && !(view.Leader is not null && view.Nodes.Count(n => n.Status is not null) == 3
                && (await View(a)).Leader == view.Leader && (await View(b)).Leader == view.Leader
                && Updates(historyJson) >= 6))
            {
                await Task.Delay(500);
                view = await View(m);
                historyJson = await GetJson(http, baseUrl + "api/history");
            }
            Assert.NotNull(view.Leader);
            Assert.True(Updates(historyJson) >= 6, "the member's history has fewer than 6 clock updates after 90 s:\n" + historyJson);
            string leader = view.Leader!;

            int before = Updates(await GetJson(http, baseUrl + "api/history?points=600"));
            string dom = Chromium.DumpDom(baseUrl, virtualTimeMs: 3000);
            int after = Updates(await GetJson(http, baseUrl + "api/history?points=600"));
            string artifacts = Path.Combine(AppContext.BaseDirectory, "status-page");
            Directory.CreateDirectory(artifacts);
            await File.WriteAllTextAsync(Path.Combine(artifacts, "status-page.html"), dom);

            var doc = new HtmlParser().ParseDocument(dom);
            // No script or fetch error, and the page refreshed at least once.
            Assert.Equal("", doc.GetElementById("errors")!.TextContent.Trim());
            Assert.Equal("0", doc.Body!.GetAttribute("data-errors"));
            Assert.True(int.Parse(doc.Body.GetAttribute("data-refreshes") ?? "0") >= 1, "the page never finished a refresh");

            // The header names this node and its role.
            Assert.Equal($"127.0.0.1:{portM} · member", doc.GetElementById("self")!.TextContent);

            // The mesh table: one row per node, the right roles, the leader marked and only the leader.
            var rows = doc.QuerySelectorAll("#mesh-table tbody tr");
            Assert.Equal(3, rows.Length);
            var byNode = rows.ToDictionary(r => r.GetAttribute("data-node")!);
            Assert.Equal(new[] { aName, bName, mName }.Order(), byNode.Keys.Order());
            Assert.Equal("master", byNode[aName].GetAttribute("data-role"));
            Assert.Equal("master", byNode[bName].GetAttribute("data-role"));
            Assert.Equal("member", byNode[mName].GetAttribute("data-role"));
            Assert.Equal([leader], rows.Where(r => r.GetAttribute("data-leader") == "true").Select(r => r.GetAttribute("data-node")));
            Assert.Contains("leader", byNode[leader].QuerySelector(".badge.leader")!.TextContent);
            Assert.NotNull(byNode[mName].QuerySelector(".badge.self"));
            Assert.All(rows, r => Assert.Equal("yes", r.Children[2].TextContent));
            Assert.Equal("3", byNode[mName].Children[3].TextContent);
            // Who follows whom: the masters their upstream, the member the leader (one address for all three
            // nodes here, so the endpoint names the leader, which members prefer).
            Assert.Equal("upstream", byNode[aName].Children[5].TextContent);
            Assert.Equal("upstream", byNode[bName].Children[5].TextContent);
            Assert.Equal(ShortName(leader), byNode[mName].Children[5].TextContent);

            // The graph: three nodes, the leader ringed and labelled, an arrow per follower.
            var graphNodes = doc.QuerySelectorAll("#mesh-graph g.mesh-node");
            Assert.Equal(3, graphNodes.Length);
            var leaderNode = Assert.Single(graphNodes, g => g.GetAttribute("data-leader") == "true");
            Assert.Equal(leader, leaderNode.GetAttribute("data-node"));
            Assert.Contains(leaderNode.QuerySelectorAll("text"), t => t.TextContent.Contains("leader"));
            Assert.Equal(3, doc.QuerySelectorAll("#mesh-graph line.follows-edge").Length);

            // This node: synchronised at stratum 3.
            string tracking = doc.GetElementById("tracking")!.TextContent;
            Assert.Contains("synchronised", tracking);
            Assert.DoesNotContain("not synchronised", tracking);

            // The plots: the offset of every clock update the history held while the page loaded, each once, drawn
            // as one line with that many vertices, with value and time ticks.
            var offsetPlot = doc.GetElementById("offset-plot")!;
            int shown = int.Parse(offsetPlot.GetAttribute("data-points")!);
            output.WriteLine($"offset points: API before {before}, page {shown}, API after {after}");
            Assert.InRange(shown, before, after);
            Assert.Equal(shown, Vertices(offsetPlot));
            Assert.True(offsetPlot.QuerySelectorAll("text.y-tick").Length >= 2, "offset plot has no value axis");
            Assert.True(offsetPlot.QuerySelectorAll("text.x-tick").Length >= 2, "offset plot has no time axis");
            Assert.All(offsetPlot.QuerySelectorAll("text.x-tick"), t => Assert.Matches(@"^\d\d:\d\d(:\d\d)?$", t.TextContent));
            Assert.Matches("^(ns|µs|ms|s) ", doc.GetElementById("offset-unit")!.TextContent);
            var frequencyPlot = doc.GetElementById("frequency-plot")!;
            int frequencyShown = int.Parse(frequencyPlot.GetAttribute("data-points")!);
            int samples = (await GetJson(http, baseUrl + "api/history?points=600")).GetProperty("points").GetArrayLength();
            Assert.InRange(frequencyShown, samples - 20, samples);
            Assert.Equal(frequencyShown, Vertices(frequencyPlot));
            Assert.True(frequencyPlot.QuerySelectorAll("text.y-tick").Length >= 2, "frequency plot has no value axis");

            // What it looks like, for a person to check (the test output keeps it).
            string png = Path.Combine(artifacts, "status-page.png");
            Chromium.Screenshot(baseUrl, png, 1280, 900, virtualTimeMs: 3000);
            var (width, height) = PngSize(png);
            Assert.Equal((1280, 900), (width, height));
            Assert.True(new FileInfo(png).Length > 20_000, "the screenshot is nearly empty");
            output.WriteLine($"screenshot: {png}");

            // The leader leaves: the member's page shows the other master as leader, and the change in its plots.
            var (leaving, otherName) = leader == aName ? (a, bName) : (b, aName);
            await leaving.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            historyJson = await GetJson(http, baseUrl + "api/history");
            while (DateTime.UtcNow < deadline && LastLeader(historyJson) != otherName)
            {
                await Task.Delay(500);
                historyJson = await GetJson(http, baseUrl + "api/history");
            }
            Assert.Equal(otherName, LastLeader(historyJson));
            var afterFailover = new HtmlParser().ParseDocument(Chromium.DumpDom(baseUrl, virtualTimeMs: 3000));
            Assert.Equal("", afterFailover.GetElementById("errors")!.TextContent.Trim());
            var leaderRows = afterFailover.QuerySelectorAll("#mesh-table tbody tr[data-leader=true]");
            Assert.Equal(otherName, Assert.Single(leaderRows).GetAttribute("data-node"));
            var changes = afterFailover.QuerySelectorAll("#offset-plot text.leader-change").Select(t => t.TextContent).ToList();
            output.WriteLine("leader changes on the offset plot: " + string.Join(" | ", changes));
            Assert.Equal("leader → " + ShortName(otherName), changes[^1]);
            Assert.Contains("leader → " + ShortName(leader), changes);
            Chromium.Screenshot(baseUrl, Path.Combine(artifacts, "status-page-failover.png"), 1280, 900, virtualTimeMs: 3000);
        }
        finally
        {
            foreach (var node in new[] { a, b, m })
                await node.StopAsync().WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { });
        }
    }

    private static string? LastLeader(JsonElement history)
    {
        var points = history.GetProperty("points");
        int n = points.GetArrayLength();
        return n == 0 ? null : points[n - 1].GetProperty("leader").GetString();
    }

    private static string ShortName(string node) => node[(node.LastIndexOf('@') + 1)..];

    /// <summary>The vertices of a plot's line: its path's move and line commands.</summary>
    private static int Vertices(IElement plot) =>
        Regex.Matches(plot.QuerySelector("path.series")?.GetAttribute("d") ?? "", "[ML]").Count;

    private static (int Width, int Height) PngSize(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal("\x89PNG", System.Text.Encoding.Latin1.GetString(bytes, 0, 4));
        return (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)),
            System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    [Fact]
    public async Task ALoneNodesPageSaysItRunsAloneAndShowsItsHistory()
    {
        Chromium.RequireInstalled();
        int upstreamPort = Chrony.FreeUdpPort();
        using var up = Chrony.StartServer("127.0.0.1", upstreamPort);
        var node = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              server = [ { address = "127.0.0.1", port = {{upstreamPort}}, iburst = on, minpoll = 0, maxpoll = 1 } ]
              control.listen = "127.0.0.1:0"
              history { interval = 300ms, length = 3s }
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-statuspage-" + Guid.NewGuid().ToString("N")[..8])}}"
            }
            akka.loglevel = WARNING
            """));
        try
        {
            string baseUrl = $"http://{node.Control!.Endpoint}/";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            // Run well past the history's length: the ring stays at length / interval = 10 samples.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            JsonElement h = await GetJson(http, baseUrl + "api/history");
            while (DateTime.UtcNow < deadline && !(h.GetProperty("held").GetInt32() == 10 && KnownOffsets(h) == 10))
            {
                await Task.Delay(300);
                h = await GetJson(http, baseUrl + "api/history");
            }
            Assert.True(h.GetProperty("recorded").GetBoolean());
            Assert.Equal(10, h.GetProperty("capacity").GetInt32());
            Assert.Equal(10, h.GetProperty("held").GetInt32());
            Assert.Equal(0.3, h.GetProperty("interval_seconds").GetDouble(), 9);
            await Task.Delay(1000);
            var later = await node.History!.Ask<HistoryProtocol.History>(new HistoryProtocol.GetHistory(null, 1000), TimeSpan.FromSeconds(3));
            Assert.Equal(10, later.Held);
            Assert.Equal(10, later.Samples.Count);
            // Oldest first, one interval apart (give or take the scheduler), all synchronised to the chronyd.
            var times = later.Samples.Select(s => s.TimeUnixNs).ToList();
            Assert.Equal(times.Order(), times);
            Assert.All(later.Samples, s => Assert.True(s.Synchronised && s.Stratum == 2 && s.Source == $"127.0.0.1:{upstreamPort}" && s.Leader is null, s.ToString()));
            Assert.All(later.Samples, s => Assert.True(Math.Abs(s.LastOffsetSeconds) < 0.01, $"offset {s.LastOffsetSeconds}"));
            // The window and the merging the page asks for.
            var merged = await GetJson(http, baseUrl + "api/history?points=3");
            Assert.InRange(merged.GetProperty("points").GetArrayLength(), 2, 3);
            var recent = await GetJson(http, baseUrl + "api/history?window=1");
            Assert.InRange(recent.GetProperty("points").GetArrayLength(), 1, 5);
            using (var bad = await http.GetAsync(baseUrl + "api/history?points=x"))
                Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
            using (var bad = await http.GetAsync(baseUrl + "api/history?window=-5"))
                Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);

            using var page = await http.GetAsync(baseUrl);
            Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
            Assert.Contains("connect-src 'self'", string.Join(" ", page.Headers.GetValues("Content-Security-Policy")));

            // The history is full and turns over: every sample is still one of at most 10, so the updates drawn
            // are those of the ring at some moment of the page load.
            int before = Updates(await GetJson(http, baseUrl + "api/history"));
            var doc = new HtmlParser().ParseDocument(Chromium.DumpDom(baseUrl, virtualTimeMs: 2000));
            int after = Updates(await GetJson(http, baseUrl + "api/history"));
            Assert.Equal("", doc.GetElementById("errors")!.TextContent.Trim());
            Assert.Equal("runs alone (no mesh)", doc.GetElementById("self")!.TextContent);
            Assert.Empty(doc.QuerySelectorAll("#mesh-table tbody tr"));
            Assert.Contains("this node runs alone", doc.GetElementById("mesh-summary")!.TextContent);
            Assert.Single(doc.QuerySelectorAll("#mesh-graph g.mesh-node"));
            Assert.Single(doc.QuerySelectorAll("#mesh-graph line.follows-edge"));
            int shown = int.Parse(doc.GetElementById("offset-plot")!.GetAttribute("data-points")!);
            output.WriteLine($"offset points: API before {before}, page {shown}, API after {after}");
            Assert.InRange(shown, Math.Min(before, after) - 1, Math.Max(before, after) + 1);
            Assert.True(shown >= 2, $"only {shown} updates drawn");
            Assert.Equal(shown, Vertices(doc.GetElementById("offset-plot")!));
            Assert.Equal("10", doc.GetElementById("frequency-plot")!.GetAttribute("data-points"));

            // A view that fails is shown on the page, not swallowed: stop the history and load the page again.
            await node.History.GracefulStop(TimeSpan.FromSeconds(5));
            var broken = new HtmlParser().ParseDocument(Chromium.DumpDom(baseUrl, virtualTimeMs: 2000));
            Assert.Contains("history: api/history", broken.GetElementById("errors")!.TextContent);
            Assert.Contains("HTTP 503 (the node did not answer in time)", broken.GetElementById("errors")!.TextContent);
            Assert.Equal("1", broken.Body!.GetAttribute("data-errors"));
            Assert.Contains("synchronised", broken.GetElementById("tracking")!.TextContent);
        }
        finally
        {
            await node.StopAsync().WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { });
        }
    }

    [Fact]
    public async Task ANodeWithoutHistorySaysSoOnThePage()
    {
        Chromium.RequireInstalled();
        // A plain local server: no upstream, no mesh, so nothing to track.
        var node = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              local { stratum = 10 }
              control.listen = "127.0.0.1:0"
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-statuspage-" + Guid.NewGuid().ToString("N")[..8])}}"
            }
            akka.loglevel = WARNING
            """));
        try
        {
            Assert.Null(node.History);
            string baseUrl = $"http://{node.Control!.Endpoint}/";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var h = await GetJson(http, baseUrl + "api/history");
            Assert.False(h.GetProperty("recorded").GetBoolean());
            Assert.Equal(0, h.GetProperty("points").GetArrayLength());

            var doc = new HtmlParser().ParseDocument(Chromium.DumpDom(baseUrl, virtualTimeMs: 2000));
            Assert.Equal("", doc.GetElementById("errors")!.TextContent.Trim());
            Assert.Contains("local clock", doc.GetElementById("tracking")!.TextContent);
            Assert.Equal("0", doc.GetElementById("offset-plot")!.GetAttribute("data-points"));
            Assert.Contains("no history", doc.GetElementById("offset-plot")!.TextContent);
        }
        finally
        {
            await node.StopAsync().WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { });
        }
    }
}
