using System.Net;
using System.Net.Sockets;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// A node refuses a cluster port (or a multi-loop NTP port) that another process already listens on, instead of
/// sharing it through SO_REUSEPORT. Seen in CI: a test handed two nodes the same free port; the second node
/// started, listened beside the first, and took half of its cluster connections.
/// </summary>
[Collection(ProcessLanes.Mesh)]
public class ClusterPortTests
{
    private static NodeIdentity Akka(string host, int port, string? bindPort = null) =>
        NodeIdentity.FromConfig(global::Akka.Configuration.ConfigurationFactory.ParseString(
            $"akka.remote.dot-netty.tcp {{ hostname = \"{host}\", port = {port}{(bindPort is null ? "" : $", bind-port = \"{bindPort}\"")} }}"), "timemesh", inMesh: true);

    /// <summary>A listener as Akka's transport opens one: dual-mode IPv6, ReuseAddress (which is SO_REUSEPORT too on Linux).</summary>
    private static Socket ListenLikeAkka(int port)
    {
        var s = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), port));
        s.Listen();
        return s;
    }

    [Fact]
    public void A_port_another_socket_listens_on_is_refused_naming_the_key()
    {
        using var listener = ListenLikeAkka(0);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var e = Assert.Throws<TimeMeshConfigException>(() => ClusterPort.EnsureFree(Akka("127.0.0.1", port)));
        Assert.Equal("akka.remote.dot-netty.tcp.port", e.Key);
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        // bind-port, when set, is the port bound and the key named.
        e = Assert.Throws<TimeMeshConfigException>(() => ClusterPort.EnsureFree(Akka("127.0.0.1", 1, bindPort: port.ToString())));
        Assert.Equal("akka.remote.dot-netty.tcp.bind-port", e.Key);
    }

    [Fact]
    public void A_port_left_in_time_wait_by_a_restart_is_free_and_port_0_is_never_checked()
    {
        int port;
        using (var listener = ListenLikeAkka(0))
        {
            port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            client.Connect(IPAddress.Loopback, port);
            using var accepted = listener.Accept();
            accepted.Close(); // the server side closes first: its connection stays in TIME_WAIT on the port
        }
        ClusterPort.EnsureFree(Akka("127.0.0.1", port));
        // What Akka then does on a restart must work too: listen on it again at once.
        using (ListenLikeAkka(port)) { }
        Assert.Null(ClusterPort.BindEndpoint(Akka("127.0.0.1", 0)));
        Assert.Null(ClusterPort.BindEndpoint(Akka("", 4000)));
        Assert.Null(ClusterPort.BindEndpoint(NodeIdentity.Local("timemesh")));
    }

    private static global::Akka.Configuration.Config Node(int clusterPort, string listen = "127.0.0.1:0", int loops = 1) =>
        global::Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = master
              listen = ["{{listen}}"]
              allow = ["127.0.0.0/8"]
              cmdport = 0
              control.listen = off
              ntp-server.loops-per-socket = {{loops}}
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-port-" + Guid.NewGuid().ToString("N")[..8])}}"
            }
            akka {
              loglevel = WARNING
              remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{clusterPort}} }
              cluster.seed-nodes = ["akka.tcp://timemesh@127.0.0.1:{{clusterPort}}"]
            }
            """);

    [Fact]
    public async Task A_second_node_on_a_running_nodes_cluster_port_or_multi_loop_ntp_port_does_not_start()
    {
        int clusterPort = Chrony.FreeTcpPort();
        var first = TimeMeshNode.Start(Node(clusterPort, loops: 2));
        try
        {
            var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(Node(clusterPort)));
            Assert.Equal("akka.remote.dot-netty.tcp.port", e.Key);

            // Its NTP port with two loops (SO_REUSEPORT) is refused as well, before anything else starts.
            var ntp = first.Endpoints[0];
            var se = Assert.Throws<SocketException>(() => TimeMeshNode.Start(Node(Chrony.FreeTcpPort(), ntp.ToString(), loops: 2)));
            Assert.Equal(SocketError.AddressAlreadyInUse, se.SocketErrorCode);
            Assert.Contains(ntp.ToString(), se.Message);

            // The first node is untouched: it answers NTP, and it forms its cluster alone (given time on a busy machine).
            Assert.NotNull(NtpProbe.Ask(ntp, NtpProbe.ClientRequest(3), TimeSpan.FromSeconds(5)));
            var cluster = global::Akka.Cluster.Cluster.Get(first.MeshSystem!);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline && cluster.SelfMember.Status != global::Akka.Cluster.MemberStatus.Up)
                await Task.Delay(100);
            var member = Assert.Single(cluster.State.Members);
            Assert.Equal(global::Akka.Cluster.MemberStatus.Up, member.Status);
            Assert.Equal(clusterPort, member.Address.Port);
        }
        finally
        {
            await first.StopAsync();
        }
    }
}
