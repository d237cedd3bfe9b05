using System.Text.RegularExpressions;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// The interleaved mode (RFC 9769) against a real client: Debian's chronyd with <c>server ... xleave</c> takes its
/// samples from the true transmit times of the node's earlier replies, and says so in <c>chronyc ntpdata</c>.
/// </summary>
[Collection(ProcessLanes.Mesh)]
public class InterleavedInteropTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Config = """
          listen = ["127.0.0.1:0"]
          allow = ["127.0.0.0/8"]
          local { stratum = 10 }
        """;

    private static string WaitForNtpdata(Chrony chrony, Func<string, bool> done, TimeSpan timeout)
    {
        string ntpdata = "";
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            ntpdata = chrony.Chronyc("-n", "ntpdata");
            if (done(ntpdata)) break;
            Thread.Sleep(500);
        }
        return ntpdata;
    }

    private static long Field(string ntpdata, string name)
    {
        var m = Regex.Match(ntpdata, "^" + Regex.Escape(name) + @"\s*: (\d+)", RegexOptions.Multiline);
        return m.Success ? long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    [Fact]
    public void ChronydWithXleaveGetsInterleavedRepliesFromTheNode()
    {
        int cmdPort = Chrony.FreeUdpPort();
        using var node = TimeMeshProcess.Start(Config + $"\n  cmdport = {cmdPort}\n");
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        using var chrony = Chrony.StartClient($"server {endpoint.Address} port {endpoint.Port} xleave minpoll 0 maxpoll 0");

        // chronyd's first exchange is basic; from the second on the node can answer with the first reply's transmit time.
        string ntpdata = WaitForNtpdata(chrony, d => d.Contains("Interleaved     : Yes") && Field(d, "Total good RX") >= 4, TimeSpan.FromSeconds(60));
        output.WriteLine(ntpdata);
        Assert.True(ntpdata.Contains("Interleaved     : Yes"), "chronyd saw no interleaved reply:\n" + ntpdata + "\n" + node.Output);
        Assert.Contains("Mode            : Server", ntpdata);
        Assert.Contains("Stratum         : 10", ntpdata);
        Assert.True(Field(ntpdata, "Total good RX") >= 4, ntpdata);

        // Keeps going: later exchanges are interleaved too (a reply whose stamp went missing would show "No").
        long goodBefore = Field(ntpdata, "Total good RX");
        ntpdata = WaitForNtpdata(chrony, d => Field(d, "Total good RX") >= goodBefore + 3, TimeSpan.FromSeconds(30));
        output.WriteLine(ntpdata);
        Assert.Contains("Interleaved     : Yes", ntpdata);
        // The sample is sane: an offset between two readings of one clock (chronyc prints "+1.2e-06 seconds").
        var offset = Regex.Match(ntpdata, @"^Offset\s*: ([-+0-9.e]+) seconds", RegexOptions.Multiline);
        Assert.True(offset.Success, ntpdata);
        double seconds = double.Parse(offset.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(seconds) < 0.001, $"offset {seconds} s in interleaved mode:\n{ntpdata}");

        // The node counts them too (chronyc serverstats through its command port).
        string serverstats = Chrony.ChronycAt("127.0.0.1", cmdPort, "serverstats");
        output.WriteLine(serverstats);
        long interleaved = Field(serverstats, "Interleaved NTP packets");
        Assert.True(interleaved >= 5 && interleaved < Field(serverstats, "NTP packets received"), serverstats);
        Assert.True(Field(serverstats, "NTP timestamps held") >= 6, serverstats);
    }

    [Fact]
    public void WithInterleavedOffTheNodeAnswersXleaveClientsInBasicMode()
    {
        using var node = TimeMeshProcess.Start(Config + "\n  ntp-server.interleaved = off\n");
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        using var chrony = Chrony.StartClient($"server {endpoint.Address} port {endpoint.Port} xleave minpoll 0 maxpoll 0");
        string ntpdata = WaitForNtpdata(chrony, d => Field(d, "Total good RX") >= 5, TimeSpan.FromSeconds(60));
        output.WriteLine(ntpdata);
        Assert.True(Field(ntpdata, "Total good RX") >= 5, "chronyd took no samples from the node:\n" + ntpdata + "\n" + node.Output);
        Assert.Contains("Interleaved     : No", ntpdata);
    }

    [Fact]
    public void TheNodeWithXleaveTakesInterleavedSamplesFromChronyd()
    {
        int port = Chrony.FreeUdpPort();
        int cmdPort = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", port);
        using var node = TimeMeshProcess.Start($$"""
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              cmdport = {{cmdPort}}
              server = [ { address = "127.0.0.1", port = {{port}}, iburst = on, xleave = on, minpoll = 0, maxpoll = 0 } ]
            """);
        node.WaitStarted(TimeSpan.FromSeconds(60));

        // The node's own report, read with Debian's chronyc over the node's command port.
        string ntpdata = "";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            ntpdata = Chrony.ChronycAt("127.0.0.1", cmdPort, "-n", "ntpdata");
            if (ntpdata.Contains("Interleaved     : Yes") && Field(ntpdata, "Total good RX") >= 4) break;
            Thread.Sleep(500);
        }
        output.WriteLine(ntpdata);
        Assert.True(ntpdata.Contains("Interleaved     : Yes"), "no interleaved sample from chronyd:\n" + ntpdata + "\n" + node.Output);
        Assert.Contains("Stratum         : 1", ntpdata);
        var offset = Regex.Match(ntpdata, @"^Offset\s*: ([-+0-9.e]+) seconds", RegexOptions.Multiline);
        Assert.True(offset.Success, ntpdata);
        double seconds = double.Parse(offset.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(seconds) < 0.001, $"offset {seconds} s in interleaved mode:\n{ntpdata}");
    }
}
