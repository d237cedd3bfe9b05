using System.Text.Json;
using TimeMesh.Cli.Commands;
using TimeMesh.Node.Control;

namespace TimeMesh.Node.Tests.Control;

/// <summary>
/// The CLI's text for fixed node states, against lines chronyc 4.3 printed for the same values (captured on
/// this machine and in chrony's documentation): same columns, symbols, units and rounding.
/// </summary>
public class ChronycFormatTests
{
    private static SourceDto Source(string name, string state, int stratum, int poll, int reach, double? lastRx, double adjusted, double measured, double error) =>
        new(name, "server", state, stratum, poll, reach, lastRx, adjusted, measured, error);

    [Fact]
    public void SourcesLinesAreChronycs()
    {
        var report = new SourcesDto([
            Source("localhost", "selected", 1, 0, 255, 2.4, -449e-9, -908e-9, 2655e-9),
            Source("127.0.0.2", "unusable", 0, 2, 0, null, 0, 0, 0),
            Source("100.100.61.88", "selected", 1, 10, 255, 649, -44e-6, -57e-6, 11e-3),
            Source("192.168.57.2", "selected", 2, 6, 255, 38, 40e-6, -981e-6, 39e-3),
        ]);
        Assert.Equal("""
            MS Name/IP address         Stratum Poll Reach LastRx Last sample               
            ===============================================================================
            ^* localhost                     1   0   377     2   -449ns[ -908ns] +/- 2655ns
            ^? 127.0.0.2                     0   2     0     -     +0ns[   +0ns] +/-    0ns
            ^* 100.100.61.88                 1  10   377   649    -44us[  -57us] +/-   11ms
            ^* 192.168.57.2                  2   6   377    38    +40us[ -981us] +/-   39ms

            """.ReplaceLineEndings("\n"), ChronycFormat.Sources(report, verbose: false));
    }

    [Fact]
    public void SourcesVerboseStartsWithChronycsLegend()
    {
        string text = ChronycFormat.Sources(new SourcesDto([]), verbose: true);
        Assert.StartsWith("\n  .-- Source mode  '^' = server, '=' = peer, '#' = local clock.\n", text);
        Assert.Contains("||                                 |    |           \\\nMS Name/IP address", text);
    }

    [Fact]
    public void StatesAndModesUseChronycsSymbols()
    {
        var states = new[] { ("selected", '*'), ("combined", '+'), ("not_combined", '-'), ("falseticker", 'x'), ("too_variable", '~'), ("unusable", '?') };
        foreach (var (state, symbol) in states)
        {
            string line = ChronycFormat.Sources(new SourcesDto([Source("a", state, 2, 6, 1, 1, 0, 0, 0)]), false).Split('\n')[2];
            Assert.Equal("^" + symbol, line[..2]);
        }
        var peer = new SourceDto("b", "peer", "combined", 2, 6, 1, 1, 0, 0, 0);
        var local = new SourceDto("c", "local", "selected", 2, 6, 1, 1, 0, 0, 0);
        Assert.StartsWith("=+ b", ChronycFormat.Sources(new SourcesDto([peer]), false).Split('\n')[2]);
        Assert.StartsWith("#* c", ChronycFormat.Sources(new SourcesDto([local]), false).Split('\n')[2]);
    }

    [Fact]
    public void LongNamesAreCutWithAMarkAsChronycDoes()
    {
        string line = ChronycFormat.Sources(new SourcesDto([Source("a-very-long-host-name.example.org", "selected", 2, 6, 255, 5, 0, 0, 0)]), false).Split('\n')[2];
        Assert.StartsWith("^* a-very-long-host-name.ex>     2", line);
        Assert.Equal(79, line.Length);
    }

    [Fact]
    public void SourceStatsLinesAreChronycs()
    {
        var report = new SourceStatsListDto([
            new SourceStatsDto("localhost", 9, 4, 6.7, -0.011, 0.334, -22e-9, 328e-9),
            new SourceStatsDto("127.0.0.1", 14, 9, 11, -0.002, 0.056, -2e-9, 166e-9),
            new SourceStatsDto("127.0.0.2", 0, 0, 0, 0, 2000, 0, 4),
        ]);
        Assert.Equal("""
            Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev
            ==============================================================================
            localhost                   9   4     6     -0.011      0.334    -22ns   328ns
            127.0.0.1                  14   9    11     -0.002      0.056     -2ns   166ns
            127.0.0.2                   0   0     0     +0.000   2000.000     +0ns  4000ms

            """.ReplaceLineEndings("\n"), ChronycFormat.SourceStats(report, verbose: false));
        Assert.StartsWith("                             .- Number of sample points in measurement set.\n",
            ChronycFormat.SourceStats(report, verbose: true));
    }

    [Fact]
    public void TrackingNamesHowTransmitTimesWereTakenWhenTheNodePollsSources()
    {
        var tracking = new TrackingDto(0x7F000001, "localhost", 2, 1795490474_379219187, 0.000001857, -0.000000459, 0.000000341,
            0.149, -0.011, 0.387, 0.000005198, 0.000004526, 1.0, "normal", "synchronised", true, null);
        Assert.DoesNotContain("TX timestamps", ChronycFormat.Tracking(tracking));
        string text = ChronycFormat.Tracking(tracking with { TransmitTimestamping = "user-space", KernelTransmitTimestamps = 3, UserSpaceTransmitTimestamps = 12 });
        Assert.EndsWith("Leap status     : Normal\nTX timestamps   : user-space (3 kernel, 12 user-space)\n", text);
    }

    [Fact]
    public void TrackingIsChronycs()
    {
        var tracking = new TrackingDto(0x7F000001, "localhost", 2, 1795490474_379219187, 0.000001857, -0.000000459, 0.000000341,
            0.149, -0.011, 0.387, 0.000005198, 0.000004526, 1.0, "normal", "synchronised", true, null);
        Assert.Equal("""
            Reference ID    : 7F000001 (localhost)
            Stratum         : 2
            Ref time (UTC)  : Tue Nov 24 03:21:14 2026
            System time     : 0.000001857 seconds fast of NTP time
            Last offset     : -0.000000459 seconds
            RMS offset      : 0.000000341 seconds
            Frequency       : 0.149 ppm fast
            Residual freq   : -0.011 ppm
            Skew            : 0.387 ppm
            Root delay      : 0.000005198 seconds
            Root dispersion : 0.000004526 seconds
            Update interval : 1.0 seconds
            Leap status     : Normal

            """.ReplaceLineEndings("\n"), ChronycFormat.Tracking(tracking));
    }

    [Fact]
    public void TrackingOfALocalReferenceAndOfNothingAreChronycs()
    {
        // chronyd 4.3 with `local stratum 1` and no source, captured here (its ref time aside).
        var local = new TrackingDto(0x7F7F0101, "", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "normal", "local", false, "no sources");
        Assert.Equal("""
            Reference ID    : 7F7F0101 ()
            Stratum         : 1
            Ref time (UTC)  : Thu Jan 01 00:00:00 1970
            System time     : 0.000000000 seconds fast of NTP time
            Last offset     : +0.000000000 seconds
            RMS offset      : 0.000000000 seconds
            Frequency       : 0.000 ppm slow
            Residual freq   : +0.000 ppm
            Skew            : 0.000 ppm
            Root delay      : 0.000000000 seconds
            Root dispersion : 0.000000000 seconds
            Update interval : 0.0 seconds
            Leap status     : Normal

            """.ReplaceLineEndings("\n"), ChronycFormat.Tracking(local));
        var none = local with { ReferenceId = 0, Stratum = 0, Leap = "not_synchronised", SystemTimeOffsetSeconds = -0.25, FrequencyPpm = -12.5 };
        string text = ChronycFormat.Tracking(none);
        Assert.Contains("Reference ID    : 00000000 ()\n", text);
        Assert.Contains("System time     : 0.250000000 seconds slow of NTP time\n", text);
        Assert.Contains("Frequency       : 12.500 ppm slow\n", text);
        Assert.EndsWith("Leap status     : Not synchronised\n", text);
        Assert.Equal("LOCL", ChronycFormat.RefIdText(0x4C4F434C));
    }

    [Fact]
    public void ClientsLinesAreChronycs()
    {
        var report = new ClientsDto([
            new ClientDto("localhost", 8, 0, 0, 1.4),
            new ClientDto("127.0.0.1", 14, 0, 0, 0.2),
            new ClientDto("192.168.111.150", 5, 0, 4, 18),
            new ClientDto("10.0.0.9", 1, 0, null, 3000),
        ]);
        Assert.Equal("""
            Hostname                      NTP   Drop Int IntL Last     Cmd   Drop Int  Last
            ===============================================================================
            localhost                       8      0   0   -     1       0      0   -     -
            127.0.0.1                      14      0   0   -     0       0      0   -     -
            192.168.111.150                 5      0   4   -    18       0      0   -     -
            10.0.0.9                        1      0   -   -   50m       0      0   -     -

            """.ReplaceLineEndings("\n"), ChronycFormat.Clients(report));
    }

    [Fact]
    public void ServerStatsAreChronycs()
    {
        var stats = new ServerStatsDto(8, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0) { AuthenticatedNtpPackets = 5, InterleavedNtpPackets = 6, NtpTimestampsHeld = 7, NtpTimestampSpanSeconds = 3 };
        Assert.Equal("""
            NTP packets received       : 8
            NTP packets dropped        : 0
            Command packets received   : 2
            Command packets dropped    : 0
            Client log records dropped : 0
            NTS-KE connections accepted: 0
            NTS-KE connections dropped : 0
            Authenticated NTP packets  : 5
            Interleaved NTP packets    : 6
            NTP timestamps held        : 7
            NTP timestamp span         : 3

            """.ReplaceLineEndings("\n"), ChronycFormat.ServerStats(stats));
    }

    [Theory]
    [InlineData(0, "   0")]
    [InlineData(2.9, "   2")]
    [InlineData(1199, "1199")]
    [InlineData(1200, " 20m")]
    [InlineData(35999, "599m")]
    [InlineData(36000, " 10h")]
    [InlineData(345599, " 95h")]
    [InlineData(345600, "  4d")]
    [InlineData(86400.0 * 999, "999d")]
    [InlineData(86400.0 * 1000, "  2y")]
    public void IntervalsStepUnitsAsChronyc(double seconds, string expected) => Assert.Equal(expected, ChronycFormat.Interval(seconds));

    [Theory]
    [InlineData(0.0, "   +0ns")]
    [InlineData(-0.3e-9, "   -0ns")]
    [InlineData(9999e-9, "+9999ns")]
    [InlineData(9999.5e-9, "  +10us")]
    [InlineData(-2.5e-3, "-2500us")]
    // 0.0125 s * 1e3 is exactly 12.5 in binary: C rounds the tie to even.
    [InlineData(0.0125, "  +12ms")]
    [InlineData(0.0135, "  +14ms")]
    [InlineData(12.34, " +12.3s")]
    [InlineData(-1500.0, " -1500s")]
    [InlineData(120000.0, " +2000m")]
    [InlineData(99999.5 * 3600, " +4167d")]
    public void SignedDurationsStepUnitsAsChronyc(double seconds, string expected) => Assert.Equal(expected, ChronycFormat.SignedDuration(seconds));

    [Theory]
    [InlineData(0.0, "   0ns")]
    [InlineData(-5e-6, "5000ns")]
    [InlineData(3.2e-3, "3200us")]
    [InlineData(4.0, "4000ms")]
    [InlineData(10.0, " 10.0s")]
    [InlineData(1500.0, " 1500s")]
    public void DurationsStepUnitsAsChronyc(double seconds, string expected) => Assert.Equal(expected, ChronycFormat.Duration(seconds));

    [Theory]
    [InlineData(0.5, 0, "0")]
    [InlineData(1.5, 0, "2")]
    [InlineData(2.5, 0, "2")]
    [InlineData(0.125, 2, "0.12")]
    [InlineData(0.375, 2, "0.38")]
    [InlineData(-0.3, 0, "-0")]
    [InlineData(9.9996, 3, "10.000")]
    [InlineData(0.1, 9, "0.100000000")]
    [InlineData(123456.7, 1, "123456.7")]
    public void NumbersRoundAsCsPrintf(double value, int decimals, string expected) => Assert.Equal(expected, ChronycFormat.Fixed(value, decimals));

    [Fact]
    public void FrequenciesTakeTenColumns()
    {
        Assert.Equal("    -0.011", ChronycFormat.Ppm(-0.011, signed: true));
        Assert.Equal("  2000.000", ChronycFormat.Ppm(2000, signed: false));
        Assert.Equal("   +123457", ChronycFormat.Ppm(123456.7, signed: true));
    }

    [Fact]
    public void MeshTableShowsLeaderSelfRolesAndWhoFollowsWhom()
    {
        var mesh = new MeshDto(true, "akka.tcp://timemesh@127.0.0.1:4055", "member", "akka.tcp://timemesh@127.0.0.1:4053", [
            new MeshNodeDto("akka.tcp://timemesh@127.0.0.1:4053", "master", true, false, true, "127.0.0.1:11131", 2, 0.00042, true, true, true, 0xC0000201, "upstream", 0.3),
            new MeshNodeDto("akka.tcp://timemesh@127.0.0.1:4054", "master", false, false, false, "127.0.0.1:11132", 10, 0, false, true, false, 0x7F7F0101, null, 2.1),
            new MeshNodeDto("akka.tcp://timemesh@127.0.0.1:4055", "member", true, true, false, "127.0.0.1:11133", 3, 0.0012, false, true, false, 0x7F000001, "akka.tcp://timemesh@127.0.0.1:4053", 0.0),
            new MeshNodeDto("akka.tcp://timemesh@127.0.0.1:4056", null, true, false, false, null, null, null, null, null, null, null, null, null),
        ]);
        Assert.Equal("""
            Mesh of 4 nodes, 3 reachable; leader 127.0.0.1:4053; this node 127.0.0.1:4055 (member)

            LS Node                  Role    Reach NTP address           Stratum Root dist Follows                 Age
            ==========================================================================================================
            *  127.0.0.1:4053        master  yes   127.0.0.1:11131             2     420us upstream               0.3s
               127.0.0.1:4054        master  no    127.0.0.1:11132            10       0ns own clock              2.1s
             > 127.0.0.1:4055        member  yes   127.0.0.1:11133             3    1200us 127.0.0.1:4053         0.0s
               127.0.0.1:4056        ?       yes   -                           -         - -                         -

            L: '*' = leader.  S: '>' = this node.  Follows: the node whose time it serves (by reference id),
            'upstream' = a source outside the mesh, 'own clock' = local stratum or holdover.

            """.ReplaceLineEndings("\n"), ChronycFormat.Mesh(mesh));
        Assert.Equal("This node is not a mesh node: it runs alone (no timemesh.role in its configuration).\n",
            ChronycFormat.Mesh(new MeshDto(false, null, null, null, [])));
    }

    [Fact]
    public void JsonRoundTripsThroughTheSharedContextInSnakeCase()
    {
        var tracking = new TrackingDto(0x7F000001, "127.0.0.1", 2, 1795490474_379219187, 1.857e-6, -4.59e-7, 3.41e-7,
            0.149, -0.011, 0.387, 5.198e-6, 4.526e-6, 1.0, "normal", "synchronised", true, null);
        string json = JsonSerializer.Serialize(tracking, ControlJsonContext.Default.TrackingDto);
        Assert.Contains("\"ref_time_unix_ns\": 1795490474379219187", json);
        Assert.Contains("\"system_time_offset_seconds\": 1.857E-06", json);
        Assert.Equal(tracking, JsonSerializer.Deserialize(json, ControlJsonContext.Default.TrackingDto));
    }
}
