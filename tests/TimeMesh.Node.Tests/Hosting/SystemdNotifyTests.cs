using System.Net;
using System.Net.Sockets;
using System.Text;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests.Hosting;

/// <summary>
/// <c>timemesh run</c> as a Type=notify service without systemd: the test plays the service manager,
/// a unix datagram socket named by NOTIFY_SOCKET, as systemd does.
/// </summary>
[Collection(ProcessTests.Name)]
public class SystemdNotifyTests
{
    private static string Receive(Socket socket, TimeSpan timeout)
    {
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        var buffer = new byte[4096];
        try
        {
            int n = socket.Receive(buffer);
            return Encoding.UTF8.GetString(buffer, 0, n).Trim();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            return "(nothing within " + timeout + ")";
        }
    }

    [Fact]
    public void ReadyComesWhenTheNtpPortAnswersAndStoppingOnSigterm()
    {
        string dir = Directory.CreateTempSubdirectory("timemesh-notify").FullName;
        try
        {
            string path = Path.Combine(dir, "notify.sock");
            using var manager = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            manager.Bind(new UnixDomainSocketEndPoint(path));
            int port = Chrony.FreeUdpPort();
            var endpoint = new IPEndPoint(IPAddress.Loopback, port);
            using var node = TimeMeshProcess.Start($"listen = [\"{endpoint}\"]\nallow = [\"127.0.0.1\"]\nlocal {{ stratum = 10 }}",
                environment: new Dictionary<string, string> { ["NOTIFY_SOCKET"] = path });

            Assert.Equal("READY=1", Receive(manager, TimeSpan.FromSeconds(60)));
            // Ready means serving: one request sent right now is answered, without retries.
            var reply = NtpProbe.Ask(endpoint, NtpProbe.ClientRequest(42), TimeSpan.FromSeconds(10));
            Assert.NotNull(reply);

            // Under a service manager the logs carry syslog priorities for journald, on one start-up line.
            node.WaitStarted(TimeSpan.FromSeconds(30));
            Assert.Contains($"<6>[ActorSystem(timemesh)] TimeMesh node started: role alone, NTP on {endpoint}, data in ", node.Output);

            node.Signal(15);
            Assert.Equal("STOPPING=1", Receive(manager, TimeSpan.FromSeconds(30)));
            Assert.Equal(0, node.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains("CoordinatedShutdown", node.Output);
            Assert.Contains("<5>timemesh: SIGTERM, shutting down", node.Output);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    [Fact]
    public void WithoutNotifySocketTheLogsArePlain()
    {
        using var node = TimeMeshProcess.Start("listen = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\nlocal { stratum = 10 }");
        var endpoint = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        Assert.Contains($"TimeMesh node started: role alone, NTP on {endpoint}, data in ", node.Output);
        Assert.DoesNotContain("<6>", node.Output);
        node.Signal(15);
        Assert.Equal(0, node.WaitForExit(TimeSpan.FromSeconds(60)));
    }
}
