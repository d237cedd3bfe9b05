using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using TimeMesh.Core.Cmdmon;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// chrony's command port on a real node, read by Debian's chronyc 4.3 over UDP: the node follows a real chronyd
/// (-x) upstream, and what chronyc prints agrees with the monitoring endpoint's JSON (what <c>timemesh ... --json</c> prints).
/// </summary>
[Collection(ProcessLanes.Tools)]
public class CmdmonTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    private static Akka.Configuration.Config Config(int cmdPort, string upstream, string extra = "") =>
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              {{upstream}}
              cmdport = {{cmdPort}}
              control { listen = "127.0.0.1:0", socket = off, private-reports-over-tcp = on }
              {{extra}}
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-cmdmon-" + Guid.NewGuid().ToString("N")[..8])}}"
            }
            akka.loglevel = WARNING
            """);

    private static async Task<JsonElement> Json(HttpClient http, TimeMeshNode node, string path) =>
        await http.GetFromJsonAsync<JsonElement>($"http://{node.Control!.Endpoint}{path}");

    private static string[] Csv(string text) => text.Trim().Split('\n')[0].Split(',');

    private static double D(string s) => double.Parse(s, C);

    /// <summary>chronyc -c prints seconds with 9 decimals from chrony's 24-bit float: equal within both roundings.</summary>
    private static void Same(double expected, string printed, string what)
    {
        double actual = D(printed);
        double tolerance = 1.5e-9 + Math.Abs(expected) * Math.Pow(2, -22);
        Assert.True(Math.Abs(actual - expected) <= tolerance, $"{what}: chronyc {printed}, JSON {expected:R}");
    }

    [Fact]
    public async Task Chronyc_reads_tracking_sources_sourcestats_ntpdata_serverstats_clients_and_activity_as_the_json_says()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        int cmdPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort);
        var node = TimeMeshNode.Start(Config(cmdPort, $"server = [ {{ address = \"127.0.0.1\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1 }} ]"));
        try
        {
            Assert.NotNull(node.Cmdmon);
            Assert.Equal(2, node.Cmdmon!.Endpoints.Count); // 127.0.0.1 and ::1, as chronyd binds its command port
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            // A few NTP clients, so that serverstats and clients have something to agree on.
            var ntp = node.Endpoints[0];
            for (int i = 0; i < 3; i++) Assert.NotNull(NtpProbe.Ask(ntp, NtpProbe.ClientRequest((ulong)i + 1), TimeSpan.FromSeconds(2)));

            string sources = "";
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            while (DateTime.UtcNow < deadline)
            {
                sources = Chrony.ChronycAt("127.0.0.1", cmdPort, "-c", "sources");
                if (sources.StartsWith("^,*,") && Csv(sources)[5] == "377") break;
                await Task.Delay(500);
            }
            Assert.True(sources.StartsWith("^,*,"), "chronyc sources never showed the upstream selected:\n" + sources);

            // "The same moment": the node samples every 2 s; a round is kept when no sample came between the JSON
            // read before chronyc and the one after (the good-reply count did not move).
            for (int attempt = 1; ; attempt++)
            {
                var roundClock = System.Diagnostics.Stopwatch.StartNew();
                var before = await Json(http, node, "/api/ntpdata");
                var json = new Dictionary<string, JsonElement>
                {
                    ["sources"] = await Json(http, node, "/api/sources"),
                    ["sourcestats"] = await Json(http, node, "/api/sourcestats"),
                    ["tracking"] = await Json(http, node, "/api/tracking"),
                    ["ntpdata"] = before,
                };
                var printed = new Dictionary<string, string>();
                foreach (string command in new[] { "sources", "sourcestats", "tracking", "ntpdata" })
                    printed[command] = Chrony.ChronycAt("127.0.0.1", cmdPort, "-c", command);
                var after = await Json(http, node, "/api/ntpdata");
                long Good(JsonElement e) => e.GetProperty("sources")[0].GetProperty("total_good_rx").GetInt64();
                if (Good(before) != Good(after) && attempt < 20) continue;
                Assert.Equal(Good(before), Good(after));
                // The estimates "at now" (adjusted offset, sourcestats offset, system time offset) move between the JSON read and
                // chronyc's by the time between them times the frequency (and its uncertainty): on a loaded machine that time is
                // seconds, so the allowance is 1 µs plus that drift, not a fixed 1 µs.
                var stat = json["sourcestats"].GetProperty("sources")[0];
                _nowAllowance = 1e-6 + roundClock.Elapsed.TotalSeconds * (Math.Abs(stat.GetProperty("frequency_ppm").GetDouble()) + stat.GetProperty("skew_ppm").GetDouble()) * 1e-6;
                output.WriteLine($"round {attempt}:\n" + string.Join("", printed.Select(p => $"$ chronyc -c {p.Key}\n{p.Value}")));
                CompareSources(json["sources"].GetProperty("sources")[0], Csv(printed["sources"]));
                CompareSourceStats(json["sourcestats"].GetProperty("sources")[0], Csv(printed["sourcestats"]));
                CompareTracking(json["tracking"], Csv(printed["tracking"]));
                CompareNtpData(json["ntpdata"].GetProperty("sources")[0], Csv(printed["ntpdata"]), upstreamPort);
                break;
            }

            // The counters: read the JSON, then chronyc; NTP traffic has stopped, command traffic is chronyc's own.
            var stats = await Json(http, node, "/api/serverstats");
            var serverstats = Csv(Chrony.ChronycAt("127.0.0.1", cmdPort, "-c", "serverstats"));
            output.WriteLine("$ chronyc -c serverstats\n" + string.Join(",", serverstats));
            Assert.Equal(stats.GetProperty("ntp_packets_received").GetInt64().ToString(C), serverstats[0]);
            Assert.Equal(stats.GetProperty("ntp_packets_dropped").GetInt64().ToString(C), serverstats[1]);
            Assert.True(long.Parse(serverstats[2], C) >= 10, "command packets received: " + serverstats[2]);
            Assert.Equal(stats.GetProperty("client_log_records_dropped").GetInt64().ToString(C), serverstats[4]);

            var clientsJson = (await Json(http, node, "/api/clients")).GetProperty("clients");
            string clientsText = Chrony.ChronycAt("127.0.0.1", cmdPort, "-c", "clients");
            output.WriteLine("$ chronyc -c clients\n" + clientsText);
            var lines = clientsText.Trim().Split('\n').Select(l => l.Split(',')).ToList();
            foreach (var client in clientsJson.EnumerateArray())
            {
                var line = lines.Single(l => l[0] == client.GetProperty("address").GetString());
                Assert.Equal(client.GetProperty("ntp_packets").GetInt64().ToString(C), line[1]);
                Assert.Equal(client.GetProperty("ntp_dropped").GetInt64().ToString(C), line[2]);
            }
            // chronyc's own requests show in the Cmd column of 127.0.0.1.
            Assert.True(long.Parse(lines.Single(l => l[0] == "127.0.0.1")[6], C) > 0, clientsText);

            // timemesh ntpdata prints chronyc's layout from the JSON; the lines that hold still between samples agree.
            // The source is still polled (every 1-2 s), so a reply may land between the two reads and change its header
            // (the poll interval went 0 -> 1 once): then both are read again, at most five times.
            string[] steady = ["Remote port     :", "Leap status     :", "Version         :", "Mode            :", "Stratum         :",
                "Poll interval   :", "Precision       :", "Root delay      :", "Root dispersion :", "Reference ID    :", "Authenticated   :"];
            for (int attempt = 1; ; attempt++)
            {
                var ours = await Control.ControlEndpointTests.RunCli("ntpdata", "--node", node.Control!.Endpoint.ToString());
                string theirs = Chrony.ChronycAt("127.0.0.1", cmdPort, "ntpdata");
                output.WriteLine($"$ timemesh ntpdata (read {attempt})\n" + ours.Out + "$ chronyc ntpdata\n" + theirs);
                Assert.Equal(0, ours.Exit);
                string Line(string text, string label) => text.Split('\n').Single(l => l.StartsWith(label, StringComparison.Ordinal));
                if (attempt < 5 && steady.Any(label => Line(theirs, label) != Line(ours.Out, label))) continue;
                foreach (string label in steady) Assert.Equal(Line(theirs, label), Line(ours.Out, label));
                break;
            }

            string activity = Chrony.ChronycAt("127.0.0.1", cmdPort, "activity");
            output.WriteLine("$ chronyc activity\n" + activity);
            Assert.Contains("1 sources online", activity);
            Assert.Contains("0 sources with unknown address", activity);

            // Over IPv6 too, and the text layouts parse (verbose sources, the "Not authorised" refusal of a change).
            Assert.StartsWith("^,*,127.0.0.1,", Chrony.ChronycAt("::1", cmdPort, "-c", "sources"));
            string verbose = Chrony.ChronycAt("127.0.0.1", cmdPort, "-n", "sources", "-v");
            output.WriteLine("$ chronyc -n sources -v\n" + verbose);
            Assert.Contains("^* 127.0.0.1", verbose);
            Assert.Contains("501 Not authorised", Chrony.ChronycAt("127.0.0.1", cmdPort, "burst", "1/1"));
            Assert.Contains("501 Not authorised", Chrony.ChronycAt("127.0.0.1", cmdPort, "makestep"));
            Assert.Contains("513 RTC driver not running", Chrony.ChronycAt("127.0.0.1", cmdPort, "rtcdata"));
        }
        finally
        {
            await node.DisposeAsync();
        }
    }

    /// <summary>How far two reads of an estimate "at now" may differ in this round (see where it is set).</summary>
    private static double _nowAllowance = 1e-6;

    private static void CompareSources(JsonElement s, string[] f)
    {
        // ^,*,127.0.0.1,1,1,377,0,-0.000000449,-0.000000908,0.000002655
        Assert.Equal("^", f[0]);
        Assert.Equal(s.GetProperty("state").GetString() == "selected" ? "*" : "?", f[1]);
        Assert.Equal("127.0.0.1", f[2]);
        Assert.Equal(s.GetProperty("stratum").GetInt32().ToString(C), f[3]);
        Assert.Equal(s.GetProperty("poll_log2").GetInt32().ToString(C), f[4]);
        Assert.Equal(Convert.ToString(s.GetProperty("reach").GetInt32(), 8), f[5]);
        Assert.InRange(long.Parse(f[6], C), (long)s.GetProperty("last_rx_ago_seconds").GetDouble() - 1, (long)s.GetProperty("last_rx_ago_seconds").GetDouble() + 3);
        // The adjusted offset is the estimate at "now", which moves with the source's frequency: within 1 µs.
        Assert.True(Math.Abs(D(f[7]) - s.GetProperty("adjusted_offset_seconds").GetDouble()) < _nowAllowance, $"adjusted offset {f[7]} vs {s} (allowed {_nowAllowance:E2} s)");
        Same(s.GetProperty("measured_offset_seconds").GetDouble(), f[8], "measured offset");
        Same(s.GetProperty("error_seconds").GetDouble(), f[9], "error");
    }

    private static void CompareSourceStats(JsonElement s, string[] f)
    {
        // 127.0.0.1,9,4,6,-0.011,0.334,-0.000000022,0.000000328
        Assert.Equal("127.0.0.1", f[0]);
        Assert.Equal(s.GetProperty("samples").GetInt32().ToString(C), f[1]);
        Assert.Equal(s.GetProperty("runs").GetInt32().ToString(C), f[2]);
        Assert.Equal(Math.Round(s.GetProperty("span_seconds").GetDouble()).ToString(C), f[3]);
        Assert.Equal(s.GetProperty("frequency_ppm").GetDouble().ToString("F3", C), f[4]);
        Assert.Equal(s.GetProperty("skew_ppm").GetDouble().ToString("F3", C), f[5]);
        Assert.True(Math.Abs(D(f[6]) - s.GetProperty("offset_seconds").GetDouble()) < _nowAllowance, $"offset {f[6]} vs {s} (allowed {_nowAllowance:E2} s)");
        Same(s.GetProperty("std_dev_seconds").GetDouble(), f[7], "std dev");
    }

    private static void CompareTracking(JsonElement t, string[] f)
    {
        // 7F000001,127.0.0.1,2,1795490474.379219187,-0.000001857,-0.000000459,0.000000341,0.149,-0.011,0.387,0.000005198,0.000004528,1.0,Normal
        Assert.Equal(t.GetProperty("reference_id").GetUInt32().ToString("X8", C), f[0]);
        Assert.Equal("127.0.0.1", f[1]);
        Assert.Equal(t.GetProperty("stratum").GetInt32().ToString(C), f[2]);
        Assert.Equal(t.GetProperty("ref_time_unix_ns").GetInt64() / 1_000_000_000, long.Parse(f[3].Split('.')[0], C));
        // chronyc -c prints the correction to apply (positive = slow); the JSON how far the clock is fast.
        Assert.True(Math.Abs(D(f[4]) + t.GetProperty("system_time_offset_seconds").GetDouble()) < _nowAllowance, $"system time {f[4]} vs {t} (allowed {_nowAllowance:E2} s)");
        Same(t.GetProperty("last_offset_seconds").GetDouble(), f[5], "last offset");
        Same(t.GetProperty("rms_offset_seconds").GetDouble(), f[6], "rms offset");
        Assert.Equal(t.GetProperty("frequency_ppm").GetDouble().ToString("F3", C), f[7]); // chronyc -c: positive = fast
        Assert.Equal(t.GetProperty("residual_frequency_ppm").GetDouble().ToString("F3", C), f[8]);
        Assert.Equal(t.GetProperty("skew_ppm").GetDouble().ToString("F3", C), f[9]);
        Same(t.GetProperty("root_delay_seconds").GetDouble(), f[10], "root delay");
        Assert.True(Math.Abs(D(f[11]) - t.GetProperty("root_dispersion_seconds").GetDouble()) < 1e-5, $"root dispersion {f[11]} vs {t}");
        Assert.Equal(t.GetProperty("update_interval_seconds").GetDouble().ToString("F1", C), f[12]);
        Assert.Equal("Normal", f[13]);
    }

    private static void CompareNtpData(JsonElement n, string[] f, int upstreamPort)
    {
        // 127.0.0.1,7F000001,12301,[UNSPEC],00000000,N,4,Server,1,1,1.0,-26,...,Offset,...
        Assert.Equal("127.0.0.1", f[0]);
        Assert.Equal(upstreamPort.ToString(C), f[2]);
        Assert.Equal(n.GetProperty("version").GetInt32().ToString(C), f[6]);
        Assert.Equal("Server", f[7]);
        Assert.Equal(n.GetProperty("stratum").GetInt32().ToString(C), f[8]);
        Assert.Equal(n.GetProperty("poll_log2").GetInt32().ToString(C), f[9]);
        Assert.Equal(n.GetProperty("precision_log2").GetInt32().ToString(C), f[11]);
        Assert.Equal(n.GetProperty("reference_id").GetUInt32().ToString("X8", C), f[15]);
        Same(n.GetProperty("offset_seconds").GetDouble(), f[18], "ntpdata offset");
        Same(n.GetProperty("delay_seconds").GetDouble(), f[19], "peer delay");
        Same(n.GetProperty("dispersion_seconds").GetDouble(), f[20], "peer dispersion");
        Same(n.GetProperty("response_time_seconds").GetDouble(), f[21], "response time");
        Assert.Equal(n.GetProperty("total_good_rx").GetInt64().ToString(C), f[^1]);
        Assert.Equal(n.GetProperty("total_valid_rx").GetInt64().ToString(C), f[^2]);
    }

    /// <summary>A version-6 request as chronyc sends it: header, body, zero padding to its reply's length.</summary>
    internal static byte[] Request(ushort command, uint sequence, ReadOnlySpan<byte> body = default)
    {
        var packet = new byte[CmdmonWire.RequestLength(command, CmdmonWire.ProtocolVersion)];
        packet[0] = CmdmonWire.ProtocolVersion;
        packet[1] = CmdmonWire.PacketTypeRequest;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), command);
        BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(8), sequence);
        body.CopyTo(packet.AsSpan(CmdmonWire.RequestHeaderLength));
        return packet;
    }

    private static byte[]? Ask(IPAddress from, IPEndPoint to, byte[] request, TimeSpan timeout)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(from, 0));
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        socket.SendTo(request, to);
        var buffer = new byte[2048];
        try { return buffer[..socket.Receive(buffer)]; }
        catch (SocketException) { return null; }
    }

    private static ushort StatusOf(byte[] reply) => BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8));

    [Fact]
    public async Task A_host_outside_cmdallow_gets_nothing_and_socket_only_reports_go_to_localhost_only()
    {
        int cmdPort = Chrony.FreeUdpPort();
        var node = TimeMeshNode.Start(Config(cmdPort, "local { stratum = 10 }", "cmdallow = [\"127.0.0.3\"]\n cmddeny = [\"127.0.0.4\"]"));
        try
        {
            var to = new IPEndPoint(IPAddress.Loopback, cmdPort);
            var tracking = Request(CmdmonWire.Request.Tracking, 0xC0FFEE);
            // 127.0.0.2 is loopback but not localhost to chronyd, and not in cmdallow: silence.
            Assert.Null(Ask(IPAddress.Parse("127.0.0.2"), to, tracking, TimeSpan.FromSeconds(1)));
            Assert.Null(Ask(IPAddress.Parse("127.0.0.4"), to, tracking, TimeSpan.FromSeconds(1)));
            Assert.True(node.Cmdmon!.RefusedAccess >= 2);

            var allowed = Ask(IPAddress.Parse("127.0.0.3"), to, tracking, TimeSpan.FromSeconds(3));
            Assert.NotNull(allowed);
            Assert.Equal(CmdmonWire.Status.Success, StatusOf(allowed!));
            Assert.Equal(0xC0FFEEu, BinaryPrimitives.ReadUInt32BigEndian(allowed.AsSpan(16)));
            var body = allowed.AsSpan(CmdmonWire.ReplyHeaderLength);
            Assert.Equal(0x7F7F0101u, BinaryPrimitives.ReadUInt32BigEndian(body));  // chronyd's local reference id
            Assert.Equal(10, BinaryPrimitives.ReadUInt16BigEndian(body[24..]));     // local stratum 10

            // serverstats, ntpdata and clients: not from an allowed remote host (chronyd: Unix socket only) ...
            foreach (ushort command in new[] { CmdmonWire.Request.ServerStats, CmdmonWire.Request.NtpData, CmdmonWire.Request.ClientAccessesByIndex3 })
            {
                var reply = Ask(IPAddress.Parse("127.0.0.3"), to, Request(command, 7), TimeSpan.FromSeconds(3));
                Assert.NotNull(reply);
                Assert.Equal(CmdmonWire.Status.Unauthorised, StatusOf(reply!));
            }
            // ... but from localhost.
            var local = Ask(IPAddress.Loopback, to, Request(CmdmonWire.Request.ServerStats, 8), TimeSpan.FromSeconds(3));
            Assert.Equal(CmdmonWire.Status.Success, StatusOf(local!));
            Assert.Equal(CmdmonWire.Reply.ServerStats3, BinaryPrimitives.ReadUInt16BigEndian(local.AsSpan(6)));

            // The rate limit (chrony's cmdratelimit values: 16 a second, burst 8) holds a flood from an allowed host
            // down, and never touches localhost.
            int Flood(IPAddress from)
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                socket.Bind(new IPEndPoint(from, 0));
                for (uint i = 0; i < 100; i++) socket.SendTo(Request(CmdmonWire.Request.Tracking, i), to);
                socket.ReceiveTimeout = 1000;
                var buffer = new byte[2048];
                int answered = 0;
                try { while (true) { socket.Receive(buffer); answered++; } }
                catch (SocketException) { }
                return answered;
            }
            long droppedBefore = node.Cmdmon.Dropped;
            int remote = Flood(IPAddress.Parse("127.0.0.3"));
            int fromLocalhost = Flood(IPAddress.Loopback);
            output.WriteLine($"100 requests at once: 127.0.0.3 answered {remote}, 127.0.0.1 answered {fromLocalhost}");
            Assert.InRange(remote, 1, 50);
            Assert.Equal(100, fromLocalhost);
            Assert.True(node.Cmdmon.Dropped - droppedBefore >= 50);
        }
        finally
        {
            await node.DisposeAsync();
        }

        // cmdport = 0: no command port at all.
        var off = TimeMeshNode.Start(Config(0, "local { stratum = 10 }"));
        try { Assert.Null(off.Cmdmon); }
        finally { await off.DisposeAsync(); }
    }

    [Fact]
    public async Task No_reply_is_larger_than_its_request_in_200_000_hostile_datagrams()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        int cmdPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort);
        var node = TimeMeshNode.Start(Config(cmdPort, $"server = [ {{ address = \"127.0.0.1\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1 }} ]"));
        try
        {
            // Templates: a valid request for every command code chrony defines (reports and changes alike).
            var templates = Enumerable.Range(0, CmdmonWire.Request.Count)
                .Where(c => CmdmonWire.RequestLength((ushort)c, 6) > 0)
                .Select(c => Request((ushort)c, 0))
                .ToList();
            var random = new Random(14);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // localhost: never rate limited, so everything answerable is answered
            socket.ReceiveBufferSize = 4 << 20;
            var to = new IPEndPoint(IPAddress.Loopback, cmdPort);
            var sentLength = new Dictionary<uint, int>();
            var receive = new byte[4096];
            int sent = 0, replies = 0, largest = 0;
            const int total = 200_000, window = 256;
            var clock = Stopwatch.StartNew();
            var limit = TimeSpan.FromMinutes(8);
            while (sent < total && clock.Elapsed < limit)
            {
                for (int i = 0; i < window && sent < total; i++, sent++)
                {
                    byte[] datagram;
                    switch (random.Next(4))
                    {
                        case 0: // random bytes of any length up to beyond the largest request
                            datagram = new byte[random.Next(0, 1200)];
                            random.NextBytes(datagram);
                            break;
                        case 1: // a valid request cut short or grown
                            var t = templates[random.Next(templates.Count)];
                            datagram = new byte[Math.Max(0, t.Length + random.Next(-t.Length, 64))];
                            t.AsSpan(0, Math.Min(t.Length, datagram.Length)).CopyTo(datagram);
                            break;
                        default: // a valid request with bytes flipped (header fields included)
                            datagram = (byte[])templates[random.Next(templates.Count)].Clone();
                            for (int f = random.Next(1, 4); f > 0; f--) datagram[random.Next(datagram.Length)] = (byte)random.Next(256);
                            break;
                    }
                    // Each datagram long enough to be answered carries its own sequence number, to pair replies.
                    if (datagram.Length >= 12) BinaryPrimitives.WriteUInt32BigEndian(datagram.AsSpan(8), (uint)sent);
                    sentLength[(uint)sent] = datagram.Length;
                    socket.SendTo(datagram, to);
                }
                // Drain what came back so far (late replies are drained with a later window: pairing is by sequence).
                socket.ReceiveTimeout = sent < total ? 20 : 2000;
                while (true)
                {
                    int n;
                    try { n = socket.Receive(receive); }
                    catch (SocketException) { break; }
                    Assert.True(n >= CmdmonWire.ReplyHeaderLength, $"a {n}-byte reply");
                    uint sequence = BinaryPrimitives.ReadUInt32BigEndian(receive.AsSpan(16));
                    Assert.True(sentLength.TryGetValue(sequence, out int requestLength), $"a reply to sequence {sequence} never sent");
                    Assert.True(n <= requestLength, $"a {n}-byte reply to a {requestLength}-byte request");
                    largest = Math.Max(largest, n);
                    replies++;
                }
            }
            output.WriteLine($"{sent} hostile datagrams in {clock.Elapsed.TotalSeconds:F1} s: {replies} replies, none larger than its request (largest {largest} bytes); " +
                $"listener: {node.Cmdmon!.Received} requests, {node.Cmdmon.Malformed} not requests, {node.Cmdmon.Answered} answered");
            Assert.Equal(total, sent);
            Assert.True(replies > 10_000, $"only {replies} replies: the datagrams never reached the reports");
            // The port still serves the real chronyc afterwards.
            Assert.Contains("Reference ID", Chrony.ChronycAt("127.0.0.1", cmdPort, "tracking"));
        }
        finally
        {
            await node.DisposeAsync();
        }
    }
}
