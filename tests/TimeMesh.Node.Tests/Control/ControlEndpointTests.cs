using TimeMesh.Control;
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using TimeMesh.Node.Control;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests.Control;

/// <summary>
/// A whole node started in-process with its monitoring endpoint on a free loopback port: every view over
/// HTTP, /metrics through a strict exposition parser, and the CLI (invoked in-process through its
/// RootCommand) against it and against a closed port.
/// </summary>
public class ControlEndpointTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>A node on loopback; its Unix socket (where clients and serverstats are served) in a directory of its own under /tmp.</summary>
    private static Akka.Configuration.Config LocalNode(string control = "\"127.0.0.1:0\"")
    {
        string dir = Path.Combine(Path.GetTempPath(), "tm-control-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.1"]
              local { stratum = 10 }
              data-dir = "{{Path.Combine(dir, "data")}}"
              control.listen = {{control}}
              control.socket = "{{Path.Combine(dir, "timemesh.sock")}}"
            }
            akka.loglevel = WARNING
            """);
    }

    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };

    private static async Task<T> Get<T>(ControlEndpoint control, string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        using var response = await Http.GetAsync($"http://{control.Endpoint}{path}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), type)!;
    }

    private static void AskTime(TimeMeshNode node, int requests)
    {
        for (int i = 0; i < requests; i++)
            Assert.NotNull(NtpProbe.Ask(node.Endpoints[0], NtpProbe.ClientRequest((ulong)i + 1), TimeSpan.FromSeconds(5)));
    }

    /// <summary>Runs `timemesh ARGS` in-process and returns its exit code, standard output and standard error.</summary>
    public static async Task<(int Exit, string Out, string Err)> RunCli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await TimeMesh.Cli.Cli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task ALocalNodeAnswersEveryView()
    {
        await using var node = TimeMeshNode.Start(LocalNode());
        var control = Assert.IsType<ControlEndpoint>(node.Control);
        Assert.True(IPAddress.IsLoopback(control.Endpoint.Address));
        Assert.NotEqual(0, control.Endpoint.Port);
        AskTime(node, 3);

        Assert.Empty((await Get(control, "/api/sources", ControlJsonContext.Default.SourcesDto)).Sources);
        Assert.Empty((await Get(control, "/api/sourcestats", ControlJsonContext.Default.SourceStatsListDto)).Sources);

        var tracking = await Get(control, "/api/tracking", ControlJsonContext.Default.TrackingDto);
        Assert.Equal(0x7F7F0101u, tracking.ReferenceId);
        Assert.Equal(10, tracking.Stratum);
        Assert.Equal("normal", tracking.Leap);
        Assert.Equal("local", tracking.Reference);
        Assert.False(tracking.Synchronised);
        Assert.InRange(tracking.RefTimeUnixNs, DateTime.UtcNow.AddMinutes(-1).Ticks, long.MaxValue);

        // clients and serverstats: on the Unix socket only (PortAbuseTests.Clients_and_serverstats_are_served_on_the_unix_socket_only).
        var clients = await TimeMesh.Cli.Commands.ControlClient.GetAsync(null, control.SocketPath, "/api/clients", ControlJsonContext.Default.ClientsDto, default);
        var client = Assert.Single(clients.Clients);
        Assert.Equal("127.0.0.1", client.Address);
        Assert.Equal(3, client.NtpPackets);
        Assert.Equal(0, client.NtpDropped);
        Assert.InRange(client.LastNtpAgoSeconds, 0, 30);

        var stats = await TimeMesh.Cli.Commands.ControlClient.GetAsync(null, control.SocketPath, "/api/serverstats", ControlJsonContext.Default.ServerStatsDto, default);
        Assert.Equal(3, stats.NtpPacketsReceived);
        Assert.Equal(3, stats.NtpPacketsAnswered);
        Assert.Equal(0, stats.NtpPacketsDropped);
        Assert.True(stats.ControlRequests >= 5, $"control requests {stats.ControlRequests}");

        var mesh = await Get(control, "/api/mesh", ControlJsonContext.Default.MeshDto);
        Assert.False(mesh.IsMeshNode);
        Assert.Empty(mesh.Nodes);

        // Read-only: nothing but GET; unknown paths are not found.
        using (var post = await Http.PostAsync($"http://{control.Endpoint}/api/tracking", new StringContent("{}")))
            Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        using (var missing = await Http.GetAsync($"http://{control.Endpoint}/api/nothing"))
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task MetricsAreValidExpositionWithTheExpectedFamilies()
    {
        await using var node = TimeMeshNode.Start(LocalNode());
        var control = node.Control!;
        // A request from an address not allowed (127.0.0.2) is dropped by access: it shows under its reason.
        AskTime(node, 2);
        Assert.Null(NtpProbe.Ask(node.Endpoints[0], NtpProbe.ClientRequest(9), TimeSpan.FromMilliseconds(300), IPAddress.Parse("127.0.0.2")));

        using var response = await Http.GetAsync($"http://{control.Endpoint}/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        string text = await response.Content.ReadAsStringAsync();
        output.WriteLine(text);
        var metrics = PrometheusText.Parse(text);

        foreach (var (name, _) in metrics.Types)
        {
            Assert.True(metrics.Help.ContainsKey(name), $"{name} has no HELP");
            if (metrics.Types[name] == "counter") Assert.EndsWith("_total", name);
        }
        string[] expected =
        [
            "timemesh_offset_seconds", "timemesh_frequency_ppm", "timemesh_skew_ppm", "timemesh_stratum", "timemesh_root_delay_seconds",
            "timemesh_root_dispersion_seconds", "timemesh_source_reachability", "timemesh_source_selected", "timemesh_source_state",
            "timemesh_ntp_packets_received_total", "timemesh_ntp_packets_answered_total", "timemesh_ntp_packets_dropped_total",
            "timemesh_ntp_kod_sent_total", "timemesh_mesh_leader", "timemesh_mesh_members", "timemesh_persistence_errors_total",
        ];
        foreach (var name in expected) Assert.True(metrics.Types.ContainsKey(name), $"{name} missing");
        Assert.Equal(10, metrics.Value("timemesh_stratum"));
        Assert.Equal(0, metrics.Value("timemesh_synchronised"));
        Assert.Equal(0, metrics.Value("timemesh_leap_status"));
        Assert.Equal(2, metrics.Value("timemesh_ntp_packets_answered_total"));
        Assert.Equal(0, metrics.Value("timemesh_ntp_kod_sent_total"));
        Assert.Equal(0, metrics.Value("timemesh_mesh_members"));
        Assert.Equal(0, metrics.Value("timemesh_persistence_errors_total"));
        Assert.Equal(1, metrics.Value("timemesh_ntp_clients"));
        Assert.Equal(3, metrics.Value("timemesh_ntp_packets_received_total"));
        Assert.Equal(1, metrics.Value("timemesh_ntp_packets_dropped_total", ("reason", "access")));
        Assert.Equal(0, metrics.Value("timemesh_ntp_packets_dropped_total", ("reason", "rate_limit")));
        Assert.DoesNotContain(metrics.Samples, s => s.Name.StartsWith("timemesh_source_"));
        Assert.All(metrics.Samples, s => Assert.False(double.IsNaN(s.Value), s.Name + " is NaN"));
    }

    [Fact]
    public async Task TheCliReadsEveryReportFromALiveNode()
    {
        await using var node = TimeMeshNode.Start(LocalNode());
        string at = node.Control!.Endpoint.ToString();
        AskTime(node, 4);

        var tracking = await RunCli("tracking", "--node", at);
        Assert.Equal((0, ""), (tracking.Exit, tracking.Err));
        Assert.StartsWith("Reference ID    : 7F7F0101 ()\nStratum         : 10\nRef time (UTC)  : ", tracking.Out);
        Assert.EndsWith("Leap status     : Normal\n", tracking.Out);

        var sources = await RunCli("sources", "--node", at);
        Assert.Equal(0, sources.Exit);
        Assert.Equal("MS Name/IP address         Stratum Poll Reach LastRx Last sample               \n" + new string('=', 79) + "\n", sources.Out);
        var verbose = await RunCli("sources", "-v", "--node", at);
        Assert.StartsWith(ChronycFormat_SourcesLegendStart, verbose.Out);

        string socket = node.Control.SocketPath!;
        var clients = await RunCli("clients", "--socket", socket);
        Assert.Equal(0, clients.Exit);
        string line = clients.Out.Split('\n')[2];
        // Four requests within milliseconds: a mean interval of about 2^-14 s, which chronyc prints as it is (overflowing
        // its column); on a loaded machine they can be ~8 ms apart (2^-7: "-7").
        Assert.Matches(@"^127\.0\.0\.1 {23}4      0  ( \d|-\d|-?\d\d)   -  [ \d]{3}[\dmhdy]       0      0   -     -$", line);

        var stats = await RunCli("serverstats", "--socket", socket);
        Assert.StartsWith("NTP packets received       : 4\nNTP packets dropped        : 0\nCommand packets received   : ", stats.Out);

        var mesh = await RunCli("mesh", "--node", at);
        Assert.Equal((0, "This node is not a mesh node: it runs alone (no timemesh.role in its configuration).\n"), (mesh.Exit, mesh.Out));

        var sourcestats = await RunCli("sourcestats", "--node", at);
        Assert.StartsWith("Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev\n", sourcestats.Out);

        // --json is the endpoint's own JSON, readable with the shared records.
        var json = await RunCli("tracking", "--json", "--node", at);
        Assert.Equal(0, json.Exit);
        var dto = JsonSerializer.Deserialize(json.Out, ControlJsonContext.Default.TrackingDto)!;
        Assert.Equal(10, dto.Stratum);
        var clientsJson = JsonSerializer.Deserialize((await RunCli("clients", "--json", "--socket", socket)).Out, ControlJsonContext.Default.ClientsDto)!;
        Assert.Equal(4, Assert.Single(clientsJson.Clients).NtpPackets);
        foreach (var view in new[] { "sources", "sourcestats", "serverstats", "mesh" })
        {
            var r = await RunCli(view, "--json", "--socket", socket);
            Assert.Equal(0, r.Exit);
            using var doc = JsonDocument.Parse(r.Out);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        }
    }

    private const string ChronycFormat_SourcesLegendStart = "\n  .-- Source mode  '^' = server, '=' = peer, '#' = local clock.\n";

    [Fact]
    public async Task TheCliSaysClearlyWhenNoNodeListens()
    {
        int closed = Chrony.FreeTcpPort();
        foreach (var view in new[] { "sources", "sourcestats", "tracking", "clients", "serverstats", "mesh" })
        {
            var result = await RunCli(view, "--node", $"127.0.0.1:{closed}");
            Assert.Equal(1, result.Exit);
            Assert.Equal("", result.Out);
            Assert.Equal($"timemesh: cannot reach TimeMesh node at 127.0.0.1:{closed}: connection refused\n", result.Err.ReplaceLineEndings("\n"));
        }
        var bad = await RunCli("tracking", "--node", "localhost");
        Assert.NotEqual(0, bad.Exit);
        Assert.Contains("--node must be HOST:PORT", bad.Err);
    }

    [Fact]
    public async Task TheEndpointStopsWithTheNode()
    {
        var node = TimeMeshNode.Start(LocalNode());
        var endpoint = node.Control!.Endpoint;
        Assert.Equal(0, (await RunCli("tracking", "--node", endpoint.ToString())).Exit);
        await node.StopAsync();
        var after = await RunCli("tracking", "--node", endpoint.ToString());
        Assert.Equal(1, after.Exit);
        Assert.Contains("connection refused", after.Err);

        // Terminated without coordinated shutdown (a crash): the port is closed all the same.
        var crashed = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString(
            "akka.coordinated-shutdown.run-by-actor-system-terminate = off").WithFallback(LocalNode()));
        endpoint = crashed.Control!.Endpoint;
        await crashed.System.Terminate();
        Assert.Contains("connection refused", (await RunCli("tracking", "--node", endpoint.ToString())).Err);
    }

    [Fact]
    public async Task OffMeansNoEndpointAndATakenPortLeavesNtpServing()
    {
        await using (var off = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString("timemesh.control = off").WithFallback(LocalNode())))
            Assert.Null(off.Control);
        // listen = off leaves the Unix socket: every report there, no TCP port.
        await using (var socketOnly = TimeMeshNode.Start(LocalNode("off")))
        {
            Assert.Null(socketOnly.Control!.Endpoint);
            var tracking = await RunCli("tracking", "--socket", socketOnly.Control.SocketPath!);
            Assert.Equal(0, tracking.Exit);
        }

        var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            int port = ((IPEndPoint)taken.LocalEndpoint).Port;
            await using var node = TimeMeshNode.Start(LocalNode($"\"127.0.0.1:{port}\""));
            Assert.Null(node.Control);
            AskTime(node, 1);
        }
        finally
        {
            taken.Stop();
        }
    }

    [Fact]
    public async Task TheEndpointListensOnIpv6Loopback()
    {
        await using var node = TimeMeshNode.Start(LocalNode("\"[::1]:0\""));
        var endpoint = node.Control!.Endpoint;
        Assert.Equal(IPAddress.IPv6Loopback, endpoint.Address);
        var result = await RunCli("tracking", "--node", $"[::1]:{endpoint.Port}");
        Assert.Equal(0, result.Exit);
        Assert.Contains("Stratum         : 10\n", result.Out);
    }
}
