using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Three real `timemesh run` processes on loopback (two masters, each with its own chronyd upstream, and a
/// member), a real chronyd as the member's LAN client; SIGKILL the leading master.
/// </summary>
[Collection(ProcessTests.Name)]
public class MeshProcessTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Node(string role, int clusterPort, int seedA, int seedB, string upstream = "", int ntpPort = 0) => $$"""
          role = {{role}}
          listen = ["127.0.0.1:{{ntpPort}}"]
          allow = ["127.0.0.0/8"]
          {{upstream}}
        """;

    private static string Akka(int clusterPort, int seedA, int seedB) => $$"""
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
        akka.cluster.seed-nodes = ["akka.tcp://timemesh@127.0.0.1:{{seedA}}", "akka.tcp://timemesh@127.0.0.1:{{seedB}}"]
        """;

    /// <summary>
    /// served − local, seconds, by one NTP exchange with the node; NaN for a leap-3 answer; and the
    /// exchange's delay, which bounds the measurement's error (delay / 2).
    /// </summary>
    private static (double Offset, double Delay)? Measure(IPEndPoint node)
    {
        long t1 = TimeMesh.Node.Clock.RealtimeClock.ReadUnixNanoseconds();
        var reply = NtpProbe.Ask(node, NtpProbe.ClientRequest((ulong)t1), TimeSpan.FromMilliseconds(300));
        long t4 = TimeMesh.Node.Clock.RealtimeClock.ReadUnixNanoseconds();
        if (reply is null) return null;
        var h = NtpPacket.Parse(reply).Header;
        if (h.Leap == LeapIndicator.Unsynchronised) return (double.NaN, 0);
        long t2 = h.ReceiveTime.ToUnixNanoseconds(t1), t3 = h.TransmitTime.ToUnixNanoseconds(t1);
        return (((t2 - t1) + (t3 - t4)) * 0.5e-9, ((t4 - t1) - (t3 - t2)) * 1e-9);
    }

    /// <summary>Exchanges slower than this are too disturbed to tell a jump of the served time from queueing.</summary>
    private const double CleanDelaySeconds = 200e-6;

    [Fact]
    public async Task WhenBothMastersLoseUpstreamTheMeshStillServesOneTime()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        var upA = Chrony.StartServer("127.0.0.1", upstreamPort);
        var upB = Chrony.StartServer("127.0.0.2", upstreamPort);
        int portA = Chrony.FreeTcpPort(), portB = Chrony.FreeTcpPort(), portM = Chrony.FreeTcpPort();
        string Upstream(string ip) => $"server = [ {{ address = \"{ip}\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 1, maxunreach = 3 }} ]\nlocal {{ stratum = 10 }}";
        using var masterA = TimeMeshProcess.Start(Node("master", portA, portA, portB, Upstream("127.0.0.1")), Akka(portA, portA, portB));
        using var masterB = TimeMeshProcess.Start(Node("master", portB, portA, portB, Upstream("127.0.0.2")), Akka(portB, portA, portB));
        using var member = TimeMeshProcess.Start(Node("member", portM, portA, portB), Akka(portM, portA, portB));
        var nodes = new[] { masterA.WaitStarted(TimeSpan.FromSeconds(60))[0], masterB.WaitStarted(TimeSpan.FromSeconds(60))[0], member.WaitStarted(TimeSpan.FromSeconds(60))[0] };

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(member.Output.Contains($"mesh: following {nodes[0]}") && member.Output.Contains($"mesh: following {nodes[1]}")))
            await Task.Delay(250);
        Assert.Contains($"mesh: following {nodes[1]}", member.Output);

        // Both upstream servers die.
        upA.Kill(); upA.Dispose();
        upB.Kill(); upB.Dispose();

        // The masters hold over; the one that does not lead follows the one that does; all three serve
        // time (no leap 3) and agree with each other within 1 ms.
        int[] strata = [];
        double spread = double.MaxValue;
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var measured = nodes.Select(Measure).ToArray();
            if (measured.All(m => m is { } v && !double.IsNaN(v.Offset) && v.Delay < CleanDelaySeconds))
            {
                strata = nodes.Select(n => (int)NtpPacket.Parse(NtpProbe.Ask(n, NtpProbe.ClientRequest(9), TimeSpan.FromSeconds(1))!).Header.Stratum).ToArray();
                spread = measured.Max(m => m!.Value.Offset) - measured.Min(m => m!.Value.Offset);
                // Holdover reached: one master at its local stratum 10, the other following it at 11.
                if (strata.Take(2).OrderBy(x => x).SequenceEqual([10, 11]) && strata[2] == 11) break;
            }
            await Task.Delay(250);
        }
        output.WriteLine($"measured: strata after both upstreams died: master-a {strata.ElementAtOrDefault(0)}, master-b {strata.ElementAtOrDefault(1)}, member {strata.ElementAtOrDefault(2)}; spread of served times {spread * 1e6:0.0} µs");
        Assert.Equal([10, 11], strata.Take(2).OrderBy(x => x));
        Assert.Equal(11, strata[2]);
        Assert.True(spread < 1e-3, $"the nodes' served times spread over {spread * 1e6:0} µs");
    }

    [Fact]
    public async Task KillingTheLeadingMasterMovesTheMemberToTheOtherWithinSecondsAndItsClientNeverNotices()
    {
        int upstreamPort = Chrony.FreeUdpPort();
        using var upA = Chrony.StartServer("127.0.0.1", upstreamPort);
        using var upB = Chrony.StartServer("127.0.0.2", upstreamPort);
        int portA = Chrony.FreeTcpPort(), portB = Chrony.FreeTcpPort(), portM = Chrony.FreeTcpPort();
        string Upstream(string ip) => $"server = [ {{ address = \"{ip}\", port = {upstreamPort}, iburst = on, minpoll = 0, maxpoll = 2 }} ]\nlocal {{ stratum = 10 }}";

        // Every node names the masters' NTP addresses (timemesh.mesh.masters), as the shipped configs do.
        int ntpPortA = Chrony.FreeUdpPort(), ntpPortB = Chrony.FreeUdpPort();
        string masters = $"\nmesh.masters = [\"127.0.0.1:{ntpPortA}\", \"127.0.0.1:{ntpPortB}\"]";
        using var masterA = TimeMeshProcess.Start(Node("master", portA, portA, portB, Upstream("127.0.0.1") + masters, ntpPortA), Akka(portA, portA, portB));
        using var masterB = TimeMeshProcess.Start(Node("master", portB, portA, portB, Upstream("127.0.0.2") + masters, ntpPortB), Akka(portB, portA, portB));
        using var member = TimeMeshProcess.Start(Node("member", portM, portA, portB, masters), Akka(portM, portA, portB));
        var ntpA = masterA.WaitStarted(TimeSpan.FromSeconds(60))[0];
        var ntpB = masterB.WaitStarted(TimeSpan.FromSeconds(60))[0];
        var ntpM = member.WaitStarted(TimeSpan.FromSeconds(60))[0];

        // The member follows the mesh: stratum 3 (upstream 1, master 2).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        NtpHeader? served = null;
        while (DateTime.UtcNow < deadline)
        {
            var r = NtpProbe.Ask(ntpM, NtpProbe.ClientRequest(1), TimeSpan.FromMilliseconds(500));
            if (r is not null && NtpPacket.Parse(r).Header is { Stratum: 3 } h) { served = h; break; }
            await Task.Delay(250);
        }
        Assert.True(served is not null, "the member never served stratum 3:\n" + member.Output);

        // The mesh is whole when the member follows both masters (the leader preferred, the other warm).
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !(member.Output.Contains($"mesh: following {ntpA}") && member.Output.Contains($"mesh: following {ntpB}")))
            await Task.Delay(250);
        Assert.True(member.Output.Contains($"mesh: following {ntpA}") && member.Output.Contains($"mesh: following {ntpB}"), "the member never followed both masters:\n" + member.Output);

        using var client = Chrony.StartClient($"server 127.0.0.1 port {ntpM.Port} iburst minpoll 0 maxpoll 2");
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !client.Chronyc("-n", "-c", "sources").StartsWith("^,*,")) await Task.Delay(250);
        Assert.StartsWith("^,*,", client.Chronyc("-n", "-c", "sources"));

        // Which master leads, in the member's own words (it polls both masters from its start, before the cluster forms).
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && !Regex.IsMatch(member.Output, @"mesh leader: \S+ -> akka\.tcp://")) await Task.Delay(250);
        var leaderLine = Regex.Matches(member.Output, @"mesh leader: \S+ -> akka\.tcp://timemesh@127\.0\.0\.1:(\d+)").Last();
        int leaderPort = int.Parse(leaderLine.Groups[1].Value);
        var (leader, survivor, leaderNtp, survivorNtp) = leaderPort == portA ? (masterA, masterB, ntpA, ntpB) : (masterB, masterA, ntpB, ntpA);
        output.WriteLine($"leader: master on cluster port {leaderPort}, NTP {leaderNtp}");

        int selectedBefore = Regex.Matches(member.Output, $"selected source {Regex.Escape(survivorNtp.ToString())}").Count;
        double? before = null;
        while (before is null) { var m = Measure(ntpM); if (m is { } v && v.Delay < CleanDelaySeconds) before = v.Offset; }
        var killed = Stopwatch.StartNew();
        leader.Dispose(); // SIGKILL
        double? failover = null;
        double maxJump = 0, previous = before ?? 0;
        bool clientAlwaysSynchronised = true;
        int clean = 0;
        string lastSources = "";
        // 20 s at least, and on until 20 clean probes were seen (a loaded machine makes fewer probes clean), at most 60 s.
        var watchUntil = TimeSpan.FromSeconds(20);
        while (killed.Elapsed < watchUntil || (clean < 20 && killed.Elapsed < TimeSpan.FromSeconds(60)))
        {
            // The dead master stays a source (the config names it); the fail-over is the member selecting the other one.
            if (failover is null && Regex.Matches(member.Output, $"selected source {Regex.Escape(survivorNtp.ToString())}").Count > selectedBefore)
                failover = killed.Elapsed.TotalSeconds;
            var measured = Measure(ntpM);
            Assert.True(measured is not null, "the member stopped answering");
            Assert.False(double.IsNaN(measured!.Value.Offset), $"the member served leap 3 {killed.Elapsed.TotalSeconds:0.00} s after the kill:\n" + member.Output[^Math.Min(member.Output.Length, 4000)..]);
            if (measured.Value.Delay < CleanDelaySeconds)
            {
                maxJump = Math.Max(maxJump, Math.Abs(measured.Value.Offset - previous));
                previous = measured.Value.Offset;
                clean++;
            }
            lastSources = client.Chronyc("-n", "-c", "sources");
            if (!lastSources.StartsWith("^,*,")) clientAlwaysSynchronised = false;
            await Task.Delay(100);
        }
        output.WriteLine($"measured: fail-over {failover:0.00} s after SIGKILL; largest change of the member's served offset between clean probes (delay < 200 µs, {clean} of them) {maxJump * 1e6:0.0} µs; client always synchronised: {clientAlwaysSynchronised}");
        Assert.NotNull(failover);
        Assert.True(clean >= 20, $"only {clean} clean probes");
        Assert.True(failover <= 5, $"fail-over took {failover} s");
        Assert.True(maxJump < 1e-3, $"the member's served time jumped {maxJump * 1e6:0} µs");
        Assert.True(clientAlwaysSynchronised, "chronyd saw the member unsynchronised: " + lastSources);
        var stratum = NtpPacket.Parse(NtpProbe.Ask(ntpM, NtpProbe.ClientRequest(2), TimeSpan.FromSeconds(2))!).Header.Stratum;
        Assert.Equal(3, stratum);
        Assert.False(survivor.HasExited);
    }
}
