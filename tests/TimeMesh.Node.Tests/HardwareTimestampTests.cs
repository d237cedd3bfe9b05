using Akka.Configuration;
using TimeMesh.Cli.Commands;
using TimeMesh.Cli.Import;
using TimeMesh.Node.Config;
using TimeMesh.Node.Control;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>timemesh.hwtimestamp (chrony's hwtimestamp): the key, its import from chrony.conf, and what the node reports.</summary>
public class HardwareTimestampSettingsTests
{
    private static TimeMeshSettings Parse(string body) =>
        TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}"));

    [Fact]
    public void Off_by_default_and_a_list_of_interfaces_or_star_when_set()
    {
        Assert.Empty(Parse("").HardwareTimestampInterfaces);
        Assert.Equal(["eth0", "enp3s0"], Parse("hwtimestamp = [\"eth0\", \"enp3s0\"]").HardwareTimestampInterfaces);
        Assert.Equal(["*"], Parse("hwtimestamp = [\"*\"]").HardwareTimestampInterfaces);
        Assert.Null(ConfigKeys.Unknown("timemesh.hwtimestamp"));   // a known key: a config file may set it
    }

    [Theory]
    [InlineData("hwtimestamp = eth0", "eth0", "expected a list")]
    [InlineData("hwtimestamp = [\"eth0:1\"]", "eth0:1", "not an interface name")]
    [InlineData("hwtimestamp = [\"a-name-of-16chrs\"]", "a-name-of-16chrs", "1 to 15 bytes")]
    [InlineData("hwtimestamp = [\"\"]", "", "not an interface name")]
    [InlineData("hwtimestamp = [\"eth0\", \"eth0\"]", "eth0", "each interface may appear once")]
    public void A_bad_value_names_the_key_the_value_and_what_is_allowed(string body, string value, string why)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal("timemesh.hwtimestamp", e.Key);
        Assert.Equal(value, e.Value);
        Assert.Contains(why, e.Message);
        Assert.Contains("[\"*\"] for every interface", e.Message);
    }

    [Fact]
    public void Nothing_named_is_off_and_switches_nothing_on()
    {
        var off = HardwareTimestamps.Enable([]);
        Assert.Same(HardwareTimestamps.Off, off);
        Assert.False(off.Configured);
        Assert.Equal("off", off.Mode);
        Assert.False(off.TryToSystem(0, 123, out _));
    }

    [Fact]
    public void Loopback_and_a_missing_interface_fall_back_to_kernel_stamps_each_with_its_reason()
    {
        using var hw = HardwareTimestamps.Enable(["lo", "tmhwnone0"]);
        Assert.True(hw.Configured);
        Assert.False(hw.AnyHardware);
        Assert.Equal("kernel", hw.Mode);
        Assert.Collection(hw.Interfaces,
            lo =>
            {
                Assert.Equal(("lo", "kernel"), (lo.Interface, lo.Mode));
                Assert.StartsWith("lo: no hardware timestamping (capabilities: ", lo.Reason);
            },
            none =>
            {
                Assert.Equal(("tmhwnone0", "kernel"), (none.Interface, none.Mode));
                Assert.Equal("tmhwnone0: no such interface", none.Reason);
            });
        Assert.Empty(hw.Conversions);
        Assert.Null(hw.SampleClocks());
        Assert.False(hw.TryToSystem(1, 123, out _));
    }

    [Fact]
    public void Star_takes_every_interface_of_the_namespace_once()
    {
        using var hw = HardwareTimestamps.Enable(["lo", "*"], () => ["tmhwnone1", "lo"]);
        Assert.Equal(["lo", "tmhwnone1"], hw.Interfaces.Select(i => i.Interface));
        Assert.All(hw.Interfaces, i => Assert.Equal("kernel", i.Mode));
        // (Not "*" on this machine's own list: on a machine with a stamping NIC that would switch its stamping on.)
    }

    [Fact]
    public void Tracking_shows_the_stamping_each_interface_got()
    {
        var tracking = new TrackingDto(0x7F000001, "localhost", 2, 1795490474_379219187, 0.000001857, -0.000000459, 0.000000341,
            0.149, -0.011, 0.387, 0.000005198, 0.000004526, 1.0, "normal", "synchronised", true, null)
        {
            TransmitTimestamping = "kernel", KernelTransmitTimestamps = 5,
        };
        Assert.DoesNotContain("HW timestamps", ChronycFormat.Tracking(tracking));
        Assert.DoesNotContain("hardware", ChronycFormat.Tracking(tracking));

        using var lo = HardwareTimestamps.Enable(["lo"]);
        string text = ChronycFormat.Tracking(NodeQueries.WithHardware(tracking, lo));
        Assert.Contains("TX timestamps   : kernel (5 kernel, 0 user-space, 0 of them hardware)\n", text);
        Assert.Matches(@"\nHW timestamps   : kernel \(lo: no hardware timestamping \(capabilities: [a-z, -]+; no PTP hardware clock\)\)\n$", text);

        var hardware = tracking with
        {
            HardwareTimestamping = "hardware",
            HardwareTimestampingInterfaces = [new("eth0", "hardware", null, "/dev/ptp0, receive filter 1"), new("lo", "kernel", "lo: no hardware timestamping", null)],
        };
        Assert.EndsWith("HW timestamps   : hardware (eth0: hardware, /dev/ptp0, receive filter 1; lo: no hardware timestamping)\n", ChronycFormat.Tracking(hardware));
    }

    private static (ChronyImportResult Result, TimeMeshSettings Settings) Import(params string[] lines)
    {
        var result = ChronyConfImporter.Translate(string.Join("\n", lines) + "\n");
        return (result, TimeMeshSettings.FromConfig(ConfigurationFactory.ParseString(result.Hocon)));
    }

    [Fact]
    public void Chronys_hwtimestamp_lines_become_the_key()
    {
        var (result, settings) = Import("server ntp1.example iburst", "hwtimestamp eth0", "hwtimestamp enp3s0 rxfilter all", "hwtimestamp *");
        Assert.Equal(["eth0", "enp3s0", "*"], settings.HardwareTimestampInterfaces);
        Assert.DoesNotContain(result.Notes, n => n.Subject.StartsWith("hwtimestamp", StringComparison.Ordinal));
        Assert.Contains("# line 2: hwtimestamp eth0", result.Hocon);

        // Without the directive the key stays off.
        Assert.Empty(Import("server ntp1.example iburst").Settings.HardwareTimestampInterfaces);
    }

    [Fact]
    public void Options_TimeMesh_does_not_have_are_named_and_bad_lines_skipped()
    {
        var (result, settings) = Import(
            "hwtimestamp eth0 minpoll -2 txcomp 300e-9 nocrossts",
            "hwtimestamp eth1 rxfilter ptp",
            "hwtimestamp eth0",
            "hwtimestamp",
            "hwtimestamp eth2 frobnicate 3",
            "hwtimestamp eth3 precision",
            "hwtimestamp eth0:1");
        Assert.Equal(["eth0", "eth1"], settings.HardwareTimestampInterfaces);
        string Note(int line) => Assert.Single(result.Notes, n => n.Line == line).Message;
        Assert.Contains("translated without minpoll -2, txcomp 300e-9, nocrossts", Note(1));
        Assert.Contains("translated without rxfilter ptp", Note(2));
        Assert.Contains("already listed on line 1", Note(3));
        Assert.Contains("invalid, chronyd would refuse this line (hwtimestamp takes an interface name or *)", Note(4));
        Assert.Contains("unknown hwtimestamp option 'frobnicate'", Note(5));
        Assert.Contains("precision takes a value", Note(6));
        Assert.Contains("not translated: \"eth0:1\" is not an interface name", Note(7));
    }
}

/// <summary>
/// A node with hwtimestamp set on interfaces without hardware stamping (loopback; a veth into a namespace this test makes)
/// falls back to the kernel's software stamps, keeps serving and synchronising, and says so in tracking and the metrics.
/// </summary>
[Collection(ProcessTests.Name)]
public class HardwareTimestampFallbackTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string DataDir() => Path.Combine(Path.GetTempPath(), "tm-hwts-" + Guid.NewGuid().ToString("N")[..8]);

    private static async Task<TrackingDto> AwaitSynchronised(NodeQueries queries, int requests)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        TrackingDto t;
        do
        {
            await Task.Delay(250);
            t = await queries.TrackingAsync();
        }
        while (DateTime.UtcNow < deadline && !(t.Synchronised && t.KernelTransmitTimestamps + t.UserSpaceTransmitTimestamps >= requests));
        Assert.True(t.Synchronised, "not synchronised: " + t.NotSynchronisedReason);
        return t;
    }

    private static async Task AwaitClientSynchronised(Chrony client, string nodeAddress)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        string sources = "";
        while (DateTime.UtcNow < deadline)
        {
            sources = client.Chronyc("-n", "sources");
            if (sources.Contains("^* " + nodeAddress)) return;
            await Task.Delay(500);
        }
        Assert.Fail($"the chronyd client did not select the node {nodeAddress}:\n{sources}");
    }

    private async Task CheckFallback(TimeMeshNode node, string iface, string nodeAddress, Chrony client)
    {
        var queries = node.NodeQueries;
        var t = await AwaitSynchronised(queries, 4);
        output.WriteLine(ChronycFormat.Tracking(t));
        Assert.Equal("kernel", t.HardwareTimestamping);
        var status = Assert.Single(t.HardwareTimestampingInterfaces!);
        Assert.Equal((iface, "kernel"), (status.Interface, status.Mode));
        Assert.StartsWith($"{iface}: no hardware timestamping", status.Reason);
        // Requests took the kernel's software transmit stamps, and replies their software receive stamps.
        Assert.Equal("kernel", t.TransmitTimestamping);
        Assert.Equal(0, t.UserSpaceTransmitTimestamps);
        Assert.Equal(0, t.HardwareTransmitTimestamps);
        Assert.Equal(0, t.HardwareReceiveTimestamps);
        Assert.True(Math.Abs(t.LastOffsetSeconds) < 1e-3, $"last offset {t.LastOffsetSeconds * 1e6:0.0} µs");

        string text = ChronycFormat.Tracking(t);
        Assert.Contains($"HW timestamps   : kernel ({iface}: no hardware timestamping", text);
        string metrics = await PrometheusMetrics.CollectAsync(queries, 0);
        Assert.Contains($"timemesh_hardware_timestamping{{interface=\"{iface}\",kind=\"kernel\"}} 1\n", metrics);
        Assert.Contains($"timemesh_hardware_timestamping{{interface=\"{iface}\",kind=\"hardware\"}} 0\n", metrics);
        Assert.Contains("timemesh_hardware_timestamps_in_use 0\n", metrics);
        Assert.Contains("timemesh_transmit_timestamps_total{kind=\"kernel\"}", metrics);

        // Still a server: a chronyd client selects the node.
        await AwaitClientSynchronised(client, nodeAddress);
    }

    [Fact]
    public async Task On_loopback_the_node_falls_back_to_kernel_stamps_and_keeps_syncing_and_serving()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", upstreamPort);
        await using var node = TimeMeshNode.Start(ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              server = [ { address = "127.0.0.1", port = {{upstreamPort}}, iburst = on, minpoll = 0, maxpoll = 1 } ]
              hwtimestamp = ["lo"]
              data-dir = "{{DataDir()}}"
              control.listen = "127.0.0.1:0"
            }
            akka.loglevel = WARNING
            """));
        using var client = Chrony.StartClient($"server 127.0.0.1 port {node.Endpoints[0].Port} iburst minpoll 0 maxpoll 0");
        await CheckFallback(node, "lo", "127.0.0.1", client);
    }

    [Fact]
    public async Task On_a_veth_into_a_namespace_the_node_falls_back_to_kernel_stamps_and_keeps_syncing_and_serving()
    {
        using var ns = NetworkNamespace.Create("tmhw");
        string subnet = $"10.237.{Environment.ProcessId % 200 + 20}";
        var (hostAddress, nsAddress) = ns.AddLink(0, subnet);
        string veth = $"{ns.Name}h0";
        const int upstreamPort = 123;
        using var upstream = Chrony.StartInNamespace(ns.Name, upstreamPort,
            $"port {upstreamPort}", $"bindaddress {nsAddress}", "local stratum 1", $"allow {subnet}.0/24");
        await using var node = TimeMeshNode.Start(ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["{{hostAddress}}:0"]
              allow = ["{{subnet}}.0/24"]
              server = [ { address = "{{nsAddress}}", port = {{upstreamPort}}, iburst = on, minpoll = 0, maxpoll = 1 } ]
              hwtimestamp = ["{{veth}}"]
              data-dir = "{{DataDir()}}"
              control.listen = "127.0.0.1:0"
            }
            akka.loglevel = WARNING
            """));
        // The node's client: chronyd in the namespace, across the veth.
        using var client = Chrony.StartInNamespace(ns.Name, 0, $"server {hostAddress} port {node.Endpoints[0].Port} iburst minpoll 0 maxpoll 0", "port 0");
        await CheckFallback(node, veth, hostAddress, client);
    }
}

/// <summary>What hwtimestamp got is logged once at start, a fallback as a warning naming the interface and the reason.</summary>
public class HardwareTimestampLogTests() : Akka.TestKit.Xunit2.TestKit("akka.loglevel = INFO")
{
    [Fact]
    public void A_named_interface_that_falls_back_is_one_warning_with_its_reason()
    {
        using var hw = HardwareTimestamps.Enable(["lo"]);
        EventFilter.Warning(start: "hwtimestamp: lo: no hardware timestamping (capabilities: ").ExpectOne(() => hw.Log(Sys.Log));
    }

    [Fact]
    public void Interfaces_only_star_brought_in_are_info_lines_and_one_warning_says_none_stamps_in_hardware()
    {
        using var hw = HardwareTimestamps.Enable(["*"], () => ["lo", "tmhwnone2"]);
        EventFilter.Info(start: "hwtimestamp *: ").Expect(2, () =>
            EventFilter.Warning(start: "hwtimestamp *: no interface stamps in hardware").ExpectOne(() => hw.Log(Sys.Log)));
    }

    [Fact]
    public void Off_logs_nothing()
    {
        EventFilter.Warning().Expect(0, () => EventFilter.Info(start: "hwtimestamp").Expect(0, () => HardwareTimestamps.Off.Log(Sys.Log)));
    }
}

/// <summary>
/// The node's use of a NIC's PTP clock, with a synthetic clock in place of /dev/ptpN (this machine has none): stamps
/// convert by interface index once the clock was read, a stale or unknown one does not, transmit stamps prefer the NIC's.
/// </summary>
public class HardwareTimestampConversionTests
{
    private const long Second = 1_000_000_000L;

    /// <summary>A PHC on TAI (37 s ahead of the system's UTC) running 5 ppm fast; each read is 10 samples, 300-1200 ns wide.</summary>
    private sealed class SyntheticPhc
    {
        public long SystemNowNs = 1_800_000_000 * Second;
        public bool Fail;
        public long PhcAt(long systemNs) => systemNs + 37 * Second + (long)((systemNs - 1_800_000_000 * Second) * 5e-6);

        public int Read(Span<(long SystemBeforeNs, long PhcNs, long SystemAfterNs)> samples, out string? error)
        {
            error = Fail ? "/dev/ptp9: PTP_SYS_OFFSET refused (Operation not supported, errno 95)" : null;
            if (Fail) return 0;
            for (int i = 0; i < 10; i++)
            {
                long width = 300 + 100 * ((i * 7) % 10);
                long before = SystemNowNs + i * 2_000;
                samples[i] = (before, PhcAt(before + width / 2), before + width);
            }
            return 10;
        }
    }

    private static HardwareTimestamps With(params (string Name, int Index, SyntheticPhc Clock)[] clocks) => new(
        clocks.Select(c => new InterfaceTimestampingStatus(c.Name, "hardware", null, "/dev/ptp9, receive filter 1")).ToList(),
        clocks.Select(c => new HardwareTimestamps.HardwareClock(c.Name, c.Index, "/dev/ptp9", c.Clock.Read)).ToArray(),
        wildcard: false);

    [Fact]
    public void A_NIC_stamp_converts_to_system_time_through_its_clock_by_interface_index()
    {
        var phc = new SyntheticPhc();
        using var hw = With(("eth9", 7, phc));
        Assert.Equal("hardware", hw.Mode);
        Assert.False(hw.TryToSystem(7, phc.PhcAt(phc.SystemNowNs), out _));   // not read yet
        for (int i = 0; i < 5; i++)
        {
            Assert.Null(hw.SampleClocks());
            phc.SystemNowNs += Second;
        }
        long system = phc.SystemNowNs + 300_000_000;
        Assert.True(hw.TryToSystem(7, phc.PhcAt(system), out long converted));
        Assert.InRange(converted - system, -20, 20);
        Assert.True(hw.TryToSystem(0, phc.PhcAt(system), out long viaOnly));   // transmit reports name no interface
        Assert.Equal(converted, viaOnly);
        Assert.False(hw.TryToSystem(8, phc.PhcAt(system), out _));             // not one of ours
        Assert.False(hw.TryToSystem(7, phc.PhcAt(system + 20 * Second), out _)); // too far past the last reading
        var (name, conversion) = Assert.Single(hw.Conversions);
        Assert.Equal("eth9", name);
        Assert.InRange(conversion!.RatePpm, -5.01, -4.99);   // system = phc - 37 s - 5 ppm
    }

    [Fact]
    public void A_transmit_report_takes_the_NICs_stamp_where_there_is_one_and_the_software_one_otherwise()
    {
        var phc = new SyntheticPhc();
        using var hw = With(("eth9", 7, phc));
        hw.SampleClocks();
        long system = phc.SystemNowNs + 1_000;
        long sent = hw.TransmitTime(new Net.TransmitTimestamp(3, 0, phc.PhcAt(system)), out bool hardware);
        Assert.True(hardware);
        Assert.InRange(sent - system, -20, 20);
        Assert.Equal(1, hw.TransmitHardware);
        Assert.Equal(123, hw.TransmitTime(new Net.TransmitTimestamp(4, 123), out hardware));
        Assert.False(hardware);
        // A NIC stamp that cannot be converted (too old) leaves the software stamp, 0 when there is none.
        Assert.Equal(0, hw.TransmitTime(new Net.TransmitTimestamp(5, 0, phc.PhcAt(system - 60 * Second)), out hardware));
        Assert.False(hardware);
        Assert.Equal(1, hw.TransmitHardware);
    }

    [Fact]
    public void With_two_hardware_interfaces_transmit_stamps_without_an_interface_are_not_converted()
    {
        var a = new SyntheticPhc();
        var b = new SyntheticPhc();
        using var hw = With(("eth9", 7, a), ("eth10", 8, b));
        hw.SampleClocks();
        Assert.True(hw.TryToSystem(8, b.PhcAt(b.SystemNowNs), out _));
        Assert.False(hw.TryToSystem(0, a.PhcAt(a.SystemNowNs), out _));
    }

    [Fact]
    public void A_clock_that_cannot_be_read_is_reported_and_its_stamps_are_not_converted()
    {
        var phc = new SyntheticPhc { Fail = true };
        using var hw = With(("eth9", 7, phc));
        Assert.Equal("/dev/ptp9: PTP_SYS_OFFSET refused (Operation not supported, errno 95)", hw.SampleClocks());
        Assert.Equal(hw.SampleClocks(), hw.LastSampleError);
        Assert.False(hw.TryToSystem(7, phc.PhcAt(phc.SystemNowNs), out _));
        phc.Fail = false;
        Assert.Null(hw.SampleClocks());
        Assert.True(hw.TryToSystem(7, phc.PhcAt(phc.SystemNowNs), out _));
    }
}
