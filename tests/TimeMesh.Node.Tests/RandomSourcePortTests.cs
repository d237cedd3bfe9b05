using System.Net;
using System.Net.Sockets;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Sync;

namespace TimeMesh.Node.Tests;

/// <summary>RFC 9109: every client request leaves from a fresh random port, observed on the wire.</summary>
public class RandomSourcePortTests : Akka.TestKit.Xunit2.TestKit
{
    [Fact]
    public void Every_request_leaves_from_a_different_random_ephemeral_port()
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.ReceiveTimeout = 10_000;
        var endpoint = (IPEndPoint)server.LocalEndPoint!;
        var request = new byte[NtpHeader.Length];
        request[0] = NtpHeader.PackFirstByte(LeapIndicator.NoWarning, 4, NtpMode.Client);
        var clock = DisciplinedClock.System();

        const int requests = 60;
        var ports = new List<int>();
        var buffer = new byte[512];
        for (int i = 0; i < requests; i++)
        {
            NtpClientTransport.Exchange(TestActor, 1, endpoint, request, clock, TimeSpan.FromMilliseconds(30));
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            server.ReceiveFrom(buffer, ref from);
            ports.Add(((IPEndPoint)from).Port);
        }

        // A request whose send call took too long is not reported as sent (no sample comes of it); on a busy
        // machine some of the 60 may be such. Most are reported, each with its own source.
        var sent = ReceiveWhile(TimeSpan.FromSeconds(2), m => m as SyncProtocol.RequestSent, requests);
        Assert.InRange(sent.Count, 1, requests);
        Assert.All(sent, m => Assert.Equal(1, m!.SourceId));

        var (lowest, highest) = Core.Sources.SourcePortPicker.ParseLinuxRange(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range"));
        Assert.Equal(requests, ports.Distinct().Count());
        Assert.All(ports, p => Assert.InRange(p, lowest, highest));
        // Spread over the range, not counting up from one place: 60 uniform draws all within a quarter of
        // the range has a probability of about 4 * 0.25^59.
        Assert.True(ports.Max() - ports.Min() > (highest - lowest) / 4, $"ports {string.Join(",", ports)}");
        Assert.True(ports.Zip(ports.Skip(1)).Count(p => p.Item2 == p.Item1 + 1) < requests / 4, "ports are sequential");
    }
}
