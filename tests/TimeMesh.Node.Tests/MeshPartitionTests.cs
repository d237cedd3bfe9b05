using System.Net;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// A real partition: the member runs in a network namespace this test makes, reaching the masters over one
/// veth link and its LAN client (this test) over another. Cutting the masters' link partitions the cluster;
/// the split-brain resolver downs the member, which keeps answering its LAN client and, once the link is
/// mended, rejoins by itself — no process restart.
/// </summary>
[Collection(ProcessTests.Name)]
public class MeshPartitionTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task APartitionedMemberKeepsServingItsLanAndRejoinsWhenThePartitionHeals()
    {
        using var ns = NetworkNamespace.Create("tmp");
        var (mastersIp, memberClusterIp) = ns.AddLink(1, "10.231.1");
        var (lanHostIp, memberLanIp) = ns.AddLink(2, "10.231.2");
        int upstreamPort = Chrony.FreeUdpPort();
        using var up = Chrony.StartServer("127.0.0.1", upstreamPort);
        int portA = Chrony.FreeTcpPort(), portB = Chrony.FreeTcpPort(), portM = Chrony.FreeTcpPort();
        int ntpA = Chrony.FreeUdpPort(), ntpB = Chrony.FreeUdpPort(), ntpM = Chrony.FreeUdpPort();
        string seeds = $"akka.cluster.seed-nodes = [\"akka.tcp://timemesh@{mastersIp}:{portA}\", \"akka.tcp://timemesh@{mastersIp}:{portB}\"]";
        string Master(int ntp) => $$"""
              role = master
              listen = ["{{mastersIp}}:{{ntp}}"]
              allow = ["10.231.0.0/16", "127.0.0.0/8"]
              server = [ { address = "127.0.0.1", port = {{upstreamPort}}, iburst = on, minpoll = 0, maxpoll = 1 } ]
              local { stratum = 10 }
              mesh.insecure = on   # the test's own namespaces
            """;
        using var a = TimeMeshProcess.Start(Master(ntpA), $"akka.remote.dot-netty.tcp {{ hostname = \"{mastersIp}\", port = {portA} }}\n{seeds}");
        using var b = TimeMeshProcess.Start(Master(ntpB), $"akka.remote.dot-netty.tcp {{ hostname = \"{mastersIp}\", port = {portB} }}\n{seeds}");
        // The member's own holdover: while cut off from both masters it serves its own clock at stratum 12.
        using var m = TimeMeshProcess.Start($$"""
              role = member
              listen = ["0.0.0.0:{{ntpM}}"]
              allow = ["10.231.0.0/16"]
              local { stratum = 12 }
              mesh.rejoin-delay = 2s
              mesh.insecure = on
              mesh.masters = ["{{mastersIp}}:{{ntpA}}", "{{mastersIp}}:{{ntpB}}"]
            """, $"akka.remote.dot-netty.tcp {{ hostname = \"{memberClusterIp}\", port = {portM} }}\n{seeds}", netns: ns.Name);
        a.WaitStarted(TimeSpan.FromSeconds(60));
        b.WaitStarted(TimeSpan.FromSeconds(60));
        m.WaitStarted(TimeSpan.FromSeconds(60));
        var lan = new IPEndPoint(IPAddress.Parse(memberLanIp), ntpM);

        async Task<int> StratumWhen(Func<int, bool> wanted, TimeSpan timeout)
        {
            var until = DateTime.UtcNow + timeout;
            int stratum = -1;
            while (DateTime.UtcNow < until)
            {
                var r = NtpProbe.MeasureOffset(lan, TimeSpan.FromSeconds(1), IPAddress.Parse(lanHostIp));
                if (r is not null && r.Value.Header.Leap != LeapIndicator.Unsynchronised && wanted(stratum = r.Value.Header.Stratum)) return stratum;
                await Task.Delay(250);
            }
            return stratum;
        }

        Assert.Equal(3, await StratumWhen(s => s == 3, TimeSpan.FromSeconds(90)));
        // It takes time from the masters it names from its start; wait until it is in the cluster too and names the leader.
        var joinedBy = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < joinedBy && !System.Text.RegularExpressions.Regex.IsMatch(m.Output, @"mesh leader: none -> akka")) await Task.Delay(250);
        Assert.Matches(@"mesh leader: none -> akka", m.Output);

        // Partition: the member loses the masters (cluster and NTP alike) but not its LAN.
        ns.SetLink(1, up: false);
        var cut = System.Diagnostics.Stopwatch.StartNew();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        int unanswered = 0, answered = 0;
        while (DateTime.UtcNow < deadline && !m.Output.Contains("was removed from the cluster"))
        {
            var r = NtpProbe.MeasureOffset(lan, TimeSpan.FromSeconds(1), IPAddress.Parse(lanHostIp));
            if (r is null) unanswered++; else answered++;
            await Task.Delay(250);
        }
        output.WriteLine($"measured: the split-brain resolver removed the cut-off member {cut.Elapsed.TotalSeconds:0.0} s into the partition; LAN probes meanwhile: {answered} answered, {unanswered} not");
        Assert.True(m.Output.Contains("was removed from the cluster"), "the member was never removed; its log ends:\n" + m.Output[^Math.Min(m.Output.Length, 6000)..]);
        Assert.Equal(0, unanswered);
        // Cut off from both masters' NTP too, it falls back to its own clock at its local stratum.
        Assert.Equal(12, await StratumWhen(s => s == 12, TimeSpan.FromSeconds(60)));
        output.WriteLine($"measured: on its own clock at stratum 12 {cut.Elapsed.TotalSeconds:0.0} s into the partition");

        // Heal: the member's next incarnation joins the masters again (Akka.Cluster welcomes it) and it serves their time.
        ns.SetLink(1, up: true);
        var healed = System.Diagnostics.Stopwatch.StartNew();
        bool Rejoined()
        {
            string log = m.Output;
            int restarted = log.IndexOf("incarnation 2", StringComparison.Ordinal);
            return restarted >= 0 && log.IndexOf("Welcome from", restarted, StringComparison.Ordinal) >= 0;
        }
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline && !Rejoined()) await Task.Delay(250);
        output.WriteLine($"measured: the member's second incarnation was welcomed into the cluster {healed.Elapsed.TotalSeconds:0.0} s after the partition healed");
        Assert.True(Rejoined(), "the member did not rejoin:\n" + m.Output);
        Assert.Equal(3, await StratumWhen(s => s == 3, TimeSpan.FromSeconds(30)));
        output.WriteLine($"measured: {healed.Elapsed.TotalSeconds:0.0} s after the partition healed the member serves stratum 3 again");
        Assert.False(m.HasExited, "the member process exited:\n" + m.Output);
    }
}
