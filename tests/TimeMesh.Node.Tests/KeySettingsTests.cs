using TimeMesh.Control;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>timemesh.keyfile and a server's key option, and the receive loop answering keyed requests.</summary>
public sealed class KeySettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("timemesh-keyconf").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private string KeyFilePath(string content)
    {
        string path = Path.Combine(_dir, "chrony.keys");
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // a node refuses a key others can read
        return path;
    }

    private static TimeMeshSettings Parse(string body) =>
        TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}"));

    [Fact]
    public void NoKeyfileMeansNoKeys()
    {
        Assert.Equal(0, Parse("").Keys.Count);
        Assert.Equal(0, Parse("keyfile = \"\"").Keys.Count);
    }

    [Fact]
    public void AChronyKeyfileLoadsAndServersTakeItsKeys()
    {
        string path = KeyFilePath("# chrony.keys\n1 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7\n5 AES128 HEX:CE75CA131698DD984EF9EBAB3A52B5DE\n");
        var s = Parse($$"""
            keyfile = "{{path}}"
            server = [ { address = "192.0.2.1", key = 5 }, { address = "192.0.2.2" } ]
            pool = [ { address = "pool.example.org", key = 1 } ]
            """);
        Assert.Equal(2, s.Keys.Count);
        Assert.Equal(5u, s.Upstream.Servers[0].Key!.Id);
        Assert.Equal(MacAlgorithm.Aes128Cmac, s.Upstream.Servers[0].Key!.Algorithm);
        Assert.Null(s.Upstream.Servers[1].Key);
        Assert.Equal(1u, s.Upstream.Pools[0].Template.Key!.Id);
    }

    [Fact]
    public void ABadLineStopsTheNodeNamingFileLineAndProblem()
    {
        string path = KeyFilePath("1 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7\n\n2 AES128 HEX:00\n");
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse($"keyfile = \"{path}\""));
        Assert.Equal("timemesh.keyfile", e.Key);
        Assert.Contains($"{path}:3: key 2: AES128 takes a 128-bit key, this one has 8 bits", e.Message);
    }

    [Fact]
    public void AMissingKeyfileIsAnError()
    {
        string path = Path.Combine(_dir, "absent.keys");
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse($"keyfile = \"{path}\""));
        Assert.Contains("cannot read the keyfile", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AServerKeyMustBeInTheKeyfile()
    {
        string path = KeyFilePath("1 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7\n3 MD5 ASCII:crocus\n");
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse($$"""
            keyfile = "{{path}}"
            server = [ { address = "192.0.2.1" }, { address = "192.0.2.2", key = 2 } ]
            """));
        Assert.Equal("timemesh.server[1].key", e.Key);
        Assert.Contains("defines 1, 3", e.Message);

        var none = Assert.Throws<TimeMeshConfigException>(() => Parse("server = [ { address = \"192.0.2.1\", key = 1 } ]"));
        Assert.Contains("no keyfile is loaded", none.Message);
        Assert.Throws<TimeMeshConfigException>(() => Parse($"keyfile = \"{path}\"\nserver = [ {{ address = \"192.0.2.1\", key = 0 }} ]"));
        var both = Assert.Throws<TimeMeshConfigException>(() => Parse($"keyfile = \"{path}\"\nserver = [ {{ address = \"192.0.2.1\", key = 1, nts = on }} ]"));
        Assert.Contains("not both", both.Message);
    }

    [Fact]
    public async Task AForgedUnsignedReplyArrivingFirstDoesNotCostTheGenuineOne()
    {
        // The test's own server: it answers every keyed request twice, first with the reply's bare 48
        // bytes (what an attacker racing the server could send), then with the signed reply.
        string path = KeyFilePath("7 AES128 HEX:CE75CA131698DD984EF9EBAB3A52B5DE\n");
        var keys = KeyFile.Parse(File.ReadAllBytes(path), path);
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.ReceiveTimeout = 500;
        int port = ((IPEndPoint)server.LocalEndPoint!).Port;
        var handler = new Core.Server.NtpServerHandler(new Core.RateLimit.ClientLog(524288, null, 1)) { Keys = keys };
        var snapshot = new Core.Server.ServerSnapshot
        {
            Reference = Core.Server.ReferenceState.Local(1),
            Access = Core.Access.AccessList.FromSpecs(["127.0.0.0/8"], []),
            PrecisionLog2 = -24,
        };
        using var stop = new CancellationTokenSource();
        int answered = 0;
        var responder = Task.Run(() =>
        {
            var buffer = new byte[2048];
            var reply = new byte[2048];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            while (!stop.IsCancellationRequested)
            {
                int n;
                try { n = server.ReceiveFrom(buffer, ref from); }
                catch (SocketException) { continue; }
                long now = DateTime.UtcNow.Ticks * 100 - DateTime.UnixEpoch.Ticks * 100;
                var verdict = handler.Handle(buffer.AsSpan(0, n), Core.Access.IpAddress128.FromIPAddress(IPAddress.Loopback), now, snapshot, reply, out int length);
                if (length == 0) continue;
                handler.FinishReply(verdict, reply, length, now + 1000);
                server.SendTo(reply.AsSpan(0, 48), from);
                server.SendTo(reply.AsSpan(0, length), from);
                Interlocked.Increment(ref answered);
            }
        });
        try
        {
            var config = Akka.Configuration.ConfigurationFactory.ParseString($$"""
                timemesh {
                  listen = ["127.0.0.1:0"]
                  allow = ["127.0.0.0/8"]
                  keyfile = "{{path}}"
                  server = [ { address = "127.0.0.1", port = {{port}}, key = 7, iburst = on, minpoll = 0, maxpoll = 1 } ]
                  data-dir = "{{Path.Combine(_dir, "data")}}"
                }
                """);
            await using var node = TimeMeshNode.Start(config);
            byte reach = 0;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                var sources = (await node.Sync!.Ask<Sync.SyncProtocol.Sources>(Sync.SyncProtocol.GetSources.Instance, TimeSpan.FromSeconds(5))).Entries;
                reach = sources.Count > 0 ? sources[0].Reach : (byte)0;
                if (System.Numerics.BitOperations.PopCount(reach) >= 3) break;
                await Task.Delay(250);
            }
            // Every poll was answered forged-first, and every poll still counted.
            Assert.True(System.Numerics.BitOperations.PopCount(reach) >= 3, $"reach {Convert.ToString(reach, 8)} after {answered} double answers");
        }
        finally
        {
            stop.Cancel();
            await responder;
        }
    }

    [Fact]
    public void ServerStatsCarryTheAuthCountersThroughTheControlEndpointsJson()
    {
        var stats = TimeMesh.Node.Control.NodeQueries.ServerStats(ServerStats.Zero with { Authenticated = 12, DroppedAuth = 3 }, 0);
        string json = System.Text.Json.JsonSerializer.Serialize(stats, TimeMesh.Node.Control.ControlJsonContext.Default.ServerStatsDto);
        var back = System.Text.Json.JsonSerializer.Deserialize(json, TimeMesh.Node.Control.ControlJsonContext.Default.ServerStatsDto)!;
        Assert.Equal(12, back.AuthenticatedNtpPackets);
        Assert.Equal(3, back.NtpDroppedAuth);
        Assert.Equal(3, back.NtpPacketsDropped);
    }

    [Fact]
    public async Task TheReceiveLoopAnswersKeyedRequestsWithoutAllocating()
    {
        string path = KeyFilePath("3 SHA256 HEX:CE75CA131698DD984EF9EBAB3A52B5DECE75CA13\n7 AES128 HEX:CE75CA131698DD984EF9EBAB3A52B5DE\n");
        var config = Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              local { stratum = 10 }
              keyfile = "{{path}}"
              data-dir = "{{Path.Combine(_dir, "data")}}"
            }
            """);
        await using var node = TimeMeshNode.Start(config);
        var keys = node.Settings.Keys;
        Assert.True(keys.TryGet(3, out var sha));
        Assert.True(keys.TryGet(7, out var aes));
        byte[] Signed(SymmetricKey key, ulong cookie)
        {
            var buffer = new byte[NtpPacket.MaxLength];
            NtpProbe.ClientRequest(cookie).CopyTo(buffer, 0);
            return buffer[..NtpMac.Append(buffer, 48, key, 4)];
        }
        byte[][] requests = [Signed(sha, 11), Signed(aes, 12)];
        NtpProbe.AskUntilAnswered(node.Endpoints[0], TimeSpan.FromSeconds(30));

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(node.Endpoints[0]);
        socket.ReceiveTimeout = 2000;
        var reply = new byte[256];
        void RoundTrips(int count)
        {
            for (int i = 0; i < count; i++)
            {
                var request = requests[i % 2];
                socket.Send(request);
                int n = socket.Receive(reply);
                Assert.Equal(request.Length, n);
            }
        }
        // One reply checked end to end: the MAC is valid over the stamped transmit time.
        socket.Send(requests[1]);
        int length = socket.Receive(reply);
        var packet = NtpPacket.Parse(reply.AsSpan(0, length));
        Assert.Equal(MacCheck.Valid, NtpMac.Verify(reply.AsSpan(0, length), packet.Trailer, aes));

        async Task<ServerStats> Stats() => await node.NtpServer.Ask<ServerStats>(NtpServerProtocol.GetStats.Instance, TimeSpan.FromSeconds(5));
        RoundTrips(2000);
        Thread.Sleep(500);
        RoundTrips(2000);
        long before = (await Stats()).LoopAllocatedBytes;
        RoundTrips(20_000);
        var after = await Stats();
        long allocated = after.LoopAllocatedBytes - before;
        Assert.True(allocated < 1024, $"the loop allocated {allocated} bytes over 20 000 authenticated packets");
        Assert.True(after.Authenticated >= 24_000);
        Assert.Equal(0, after.DroppedAuth);
    }
}
