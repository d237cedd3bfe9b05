using System.Net;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>Real clients: Debian's chronyd selects the TimeMesh node and measures it.</summary>
[Collection(ProcessLanes.Mesh)]
public class ChronyInteropTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Config = """
          listen = ["127.0.0.1:0", "[::1]:0"]
          allow = ["127.0.0.0/8", "::1/128"]
          local { stratum = 10 }
        """;

    [Theory]
    [InlineData(0)] // IPv4
    [InlineData(1)] // IPv6
    public void ChronydSelectsTheNodeAtLocalStratumPlusOne(int endpointIndex)
    {
        using var node = TimeMeshProcess.Start(Config);
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[endpointIndex];
        using var chrony = Chrony.StartClient($"server {endpoint.Address} port {endpoint.Port} iburst minpoll 0 maxpoll 2");

        // chronyc -c sources: "^,*,127.0.0.1,10,0,377,..." once the source is selected.
        string sources = "";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            sources = chrony.Chronyc("-n", "-c", "sources");
            if (sources.StartsWith("^,*,")) break;
            Thread.Sleep(500);
        }
        var fields = sources.Trim().Split(',');
        Assert.True(fields.Length > 3 && fields[1] == "*", "chronyd did not select TimeMesh:\n" + sources + "\n" + node.Output);
        Assert.Equal(endpoint.Address, IPAddress.Parse(fields[2]));
        Assert.Equal("10", fields[3]); // the node's stratum

        string tracking = chrony.Chronyc("-n", "tracking");
        Assert.Contains("Stratum         : 11", tracking); // chronyd itself is local + 1
        Assert.Contains("Leap status     : Normal", tracking);
    }

    [Fact]
    public void ChronydMeasuresAnOffsetUnderOneMillisecond()
    {
        using var node = TimeMeshProcess.Start(Config);
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        double offset = Chrony.MeasureOffsetSeconds($"server {endpoint.Address} port {endpoint.Port} iburst");
        output.WriteLine($"measured: chronyd -Q offset {offset * 1e6:0.0} µs");
        Assert.True(Math.Abs(offset) < 0.001, $"chronyd -Q measured {offset} s");
    }

    [Fact]
    public void WithoutLocalChronydRefusesAnUnsynchronisedNode()
    {
        using var node = TimeMeshProcess.Start("""
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
            """);
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        using var chrony = Chrony.StartClient($"server {endpoint.Address} port {endpoint.Port} iburst minpoll 0 maxpoll 2");
        // Give chronyd enough polls to select, were it ever going to.
        Thread.Sleep(TimeSpan.FromSeconds(8));
        string sources = chrony.Chronyc("-n", "-c", "sources");
        Assert.StartsWith("^,", sources);
        Assert.DoesNotContain("^,*,", sources);
        Assert.DoesNotContain("^,+,", sources);
        // chronyd did receive valid replies, saying leap 3 and stratum 16, and used none of them.
        string ntpdata = chrony.Chronyc("-n", "ntpdata");
        Assert.Contains("Leap status     : Not synchronised", ntpdata);
        Assert.Contains("Stratum         : 16", ntpdata);
        Assert.Matches(@"Total valid RX  : [1-9]", ntpdata);
        Assert.Contains("Total good RX   : 0", ntpdata);
    }
}
