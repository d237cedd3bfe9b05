using TimeMesh.Control;
using System.Text.RegularExpressions;
using TimeMesh.Node.Control;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests.Control;

/// <summary>
/// `timemesh sources`, `sourcestats`, `tracking`, `clients` and `serverstats` side by side with what chronyc
/// 4.3 prints for chronyd in the same situation (same upstream, one dead source): the same headers, column
/// positions and labels. And a mesh node's view through the endpoint, the CLI and /metrics.
/// </summary>
[Collection(ProcessLanes.Tools)]
public class ControlChronyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string DataDir() => Path.Combine(Path.GetTempPath(), "tm-control-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Each started node's Unix socket, by its TCP endpoint.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> SocketOf = new();

    private static string SocketDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tm-ctlsock-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, "timemesh.sock");
    }

    /// <summary>Runs a report against the node: clients and serverstats over its Unix socket (served only there), the rest over TCP.</summary>
    private static async Task<string> Cli(string node, params string[] args)
    {
        bool local = args[0] is "clients" or "serverstats";
        var (exit, stdout, stderr) = await ControlEndpointTests.RunCli([.. args, local ? "--socket" : "--node", local ? SocketOf[node] : node]);
        Assert.True(exit == 0, $"timemesh {string.Join(' ', args)} failed ({exit}): {stderr}");
        return stdout;
    }

    private static async Task WaitFor(Func<Task<bool>> condition, string what, Func<string>? state = null, int seconds = 60)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("waited in vain for " + what + "\n" + state?.Invoke());
            await Task.Delay(500);
        }
    }

    [Fact]
    public async Task TheReportsAreLaidOutAsChronycLaysOutChronydsOwn()
    {
        int upstreamPort = Chrony.FreeUdpPort(), deadPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort);
        string[] serverLines = [$"server 127.0.0.1 port {upstreamPort} iburst minpoll 0 maxpoll 1", $"server 127.0.0.2 port {deadPort} iburst minpoll 0 maxpoll 1"];
        await using var node = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              server = [ { address = "127.0.0.1", port = {{upstreamPort}}, iburst = on, minpoll = 0, maxpoll = 1 },
                         { address = "127.0.0.2", port = {{deadPort}}, iburst = on, minpoll = 0, maxpoll = 1 } ]
              data-dir = "{{DataDir()}}"
              control.listen = "127.0.0.1:0"
              control.socket = "{{SocketDir()}}"
            }
            akka.loglevel = WARNING
            """));
        string at = node.Control!.Endpoint.ToString();
        SocketOf[at] = node.Control.SocketPath!;
        // chronyd with the same two sources; a second one polls the TimeMesh node, so that it has a client to show
        // (chronyd takes one address once, so the node cannot be a third source of the first).
        using var chronyd = Chrony.StartClient(serverLines);
        using var follower = Chrony.StartClient($"server 127.0.0.1 port {node.Endpoints[0].Port} iburst minpoll 0 maxpoll 1");

        string ours = "", theirs = "", clients = "";
        await WaitFor(async () =>
        {
            ours = await Cli(at, "sources");
            theirs = chronyd.Chronyc("-n", "sources");
            clients = await Cli(at, "clients");
            return ours.Contains("\n^* ") && theirs.Contains("\n^* ") && clients.Split('\n').Length > 3;
        }, "both synchronised and the node polled", () => ours + theirs + clients);

        ours = await Cli(at, "sources");
        theirs = chronyd.Chronyc("-n", "sources");
        output.WriteLine(ours + "\n" + theirs);
        string[] o = Lines(ours), t = Lines(theirs);
        Assert.Equal(t[..2], o[..2]);
        for (int i = 0; i < 2; i++)
        {
            // Same source, same row: the upstream is selected by both, the dead one unusable by both.
            Assert.Equal(t[i + 2][..2], o[i + 2][..2]);
            Assert.Equal(t[i + 2].Length, o[i + 2].Length);
            Assert.Equal(t[i + 2].IndexOf('['), o[i + 2].IndexOf('['));
            Assert.Equal(t[i + 2].IndexOf(']'), o[i + 2].IndexOf(']'));
            Assert.Equal(t[i + 2].IndexOf("+/-"), o[i + 2].IndexOf("+/-"));
            Assert.Equal(ColumnsOf(t[i + 2][28..]), ColumnsOf(o[i + 2][28..]));
        }
        Assert.Equal(t[3][^34..], o[3][^34..]);

        ours = await Cli(at, "sourcestats");
        theirs = chronyd.Chronyc("-n", "sourcestats");
        output.WriteLine(ours + "\n" + theirs);
        o = Lines(ours);
        t = Lines(theirs);
        Assert.Equal(t[..2], o[..2]);
        for (int i = 2; i < 4; i++) Assert.Equal(ColumnsOf(t[i][25..]), ColumnsOf(o[i][25..]));

        ours = await Cli(at, "tracking");
        theirs = chronyd.Chronyc("-n", "tracking");
        output.WriteLine(ours + "\n" + theirs);
        o = Lines(ours);
        t = Lines(theirs);
        // chronyd's lines laid out as chronyd's own; then TimeMesh's one line of its own, where T1 comes from.
        Assert.StartsWith("TX timestamps   : ", o[^1]);
        o = o[..^1];
        Assert.Equal(t.Select(Shape), o.Select(Shape));
        Assert.Equal("Reference ID    : 7F000001 (127.0.0.1:" + upstreamPort + ")", o[0]);
        Assert.Equal("Stratum         : 2", o[1]);

        ours = await Cli(at, "clients");
        theirs = upstream.Chronyc("-n", "clients");
        output.WriteLine(ours + "\n" + theirs);
        o = Lines(ours);
        t = Lines(theirs);
        Assert.Equal(t[..2], o[..2]);
        Assert.Equal(ColumnsOf(t[2][..9]) + ColumnsOf(t[2][25..]), ColumnsOf(o[2][..9]) + ColumnsOf(o[2][25..]));

        ours = await Cli(at, "serverstats");
        theirs = upstream.Chronyc("-n", "serverstats");
        Assert.Equal(Lines(theirs).Select(l => l[..29]), Lines(ours).Select(l => l[..29]));
    }

    private static string[] Lines(string text) => text.TrimEnd('\n').Split('\n');

    /// <summary>
    /// Where each value ends: chronyc right-aligns its numbers, so two reports with the same layout end their
    /// values at the same columns, whatever the values are.
    /// </summary>
    private static string ColumnsOf(string line)
    {
        string spaced = line.Replace('[', ' ');
        return string.Join(",", Enumerable.Range(0, spaced.Length).Where(i => spaced[i] != ' ' && (i + 1 == spaced.Length || spaced[i + 1] == ' ')));
    }

    /// <summary>A tracking line reduced to its label and the layout of its value.</summary>
    private static string Shape(string line)
    {
        string value = Regex.Replace(line, @"\(.*\)", "()");
        value = Regex.Replace(value, @"[+-]?\d+\.", "9.");
        value = Regex.Replace(value, @"\d", "9");
        return value.Replace("fast", "F").Replace("slow", "F").Replace("Not synchronised", "L").Replace("Normal", "L");
    }

    [Fact]
    public async Task AMeshNodeShowsItselfLeadingInEveryView()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort);
        int clusterPort = Chrony.FreeTcpPort();
        await using var node = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = master
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              server = [ { address = "127.0.0.1", port = {{upstreamPort}}, iburst = on, minpoll = 0, maxpoll = 1 } ]
              data-dir = "{{DataDir()}}"
              control.listen = "127.0.0.1:0"
              mesh.hysteresis = 0s
            }
            akka {
              loglevel = WARNING
              remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.tcp://timemesh@127.0.0.1:{{clusterPort}}"]
            }
            """));
        var control = Assert.IsType<ControlEndpoint>(node.Control);
        string self = $"akka.tcp://timemesh@127.0.0.1:{clusterPort}";
        MeshDto mesh = await control.Queries.MeshAsync();
        await WaitFor(async () => (mesh = await control.Queries.MeshAsync()).Leader == self, "the node to lead its mesh");

        Assert.True(mesh.IsMeshNode);
        Assert.Equal(self, mesh.Self);
        Assert.Equal("master", mesh.Role);
        var me = Assert.Single(mesh.Nodes);
        Assert.True(me.IsSelf && me.IsLeader && me.Reachable);
        Assert.Equal("master", me.Role);
        Assert.Equal(2, me.Stratum);
        Assert.Equal("upstream", me.Follows);
        Assert.Equal(node.Endpoints[0].ToString(), me.NtpEndpoint);

        string text = await Cli(control.Endpoint.ToString(), "mesh");
        output.WriteLine(text);
        Assert.StartsWith($"Mesh of 1 node, 1 reachable; leader 127.0.0.1:{clusterPort}; this node 127.0.0.1:{clusterPort} (master)\n", text);
        Assert.Matches($@"\n\*> 127\.0\.0\.1:{clusterPort} +master +yes +{Regex.Escape(me.NtpEndpoint!)} +2 +\d+(ns|us|ms) upstream +\d+\.\ds\n", text);

        using var http = new HttpClient();
        // The drift store recovers from SQLite beside all this; on a loaded machine that may take a while.
        await WaitFor(async () => PrometheusText.Parse(await http.GetStringAsync($"http://{control.Endpoint}/metrics")).Value("timemesh_persistence_available") == 1,
            "the drift state database to be available");
        var metrics = PrometheusText.Parse(await http.GetStringAsync($"http://{control.Endpoint}/metrics"));
        Assert.Equal(1, metrics.Value("timemesh_mesh_leader", ("node", self)));
        Assert.Equal(1, metrics.Value("timemesh_mesh_members"));
        Assert.Equal(1, metrics.Value("timemesh_mesh_is_leader"));
        Assert.Equal(1, metrics.Value("timemesh_synchronised"));
        Assert.Equal(2, metrics.Value("timemesh_stratum"));
        Assert.Equal(1, metrics.Value("timemesh_source_selected", ("source", $"127.0.0.1:{upstreamPort}")));
        Assert.InRange(metrics.Value("timemesh_source_reachability", ("source", $"127.0.0.1:{upstreamPort}")), 1, 255);
        Assert.Equal(0, metrics.Value("timemesh_persistence_errors_total"));
        Assert.Equal(1, metrics.Value("timemesh_persistence_available"));
    }
}
