using System.Diagnostics;
using System.Net;
using Xunit;

namespace TimeMesh.Net.Tests;

/// <summary>Kernel transmit timestamps (SO_TIMESTAMPING, read from the error queue) and the fallback when they are off.</summary>
public class TransmitTimestampTests
{
    private static long UnixNsNow() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

    private static int ReceiveOne(BatchedUdpSocket socket, DatagramBatch batch)
    {
        var wait = Stopwatch.StartNew();
        while (wait.Elapsed < TimeSpan.FromSeconds(5))
        {
            int n = socket.Receive(batch);
            if (n > 0) return n;
        }
        return 0;
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void The_transmit_timestamp_is_after_the_user_space_stamp_and_before_the_reply(string address)
    {
        var ip = IPAddress.Parse(address);
        using var client = BatchedUdpSocket.Bind(new IPEndPoint(ip, 0),
            new UdpSocketOptions { TransmitTimestamps = true, ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        using var server = BatchedUdpSocket.Bind(new IPEndPoint(ip, 0), new UdpSocketOptions { ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.True(client.TransmitTimestampsEnabled);
        Assert.False(server.TransmitTimestampsEnabled);
        using var clientBatch = new DatagramBatch(4, 256);
        using var serverBatch = new DatagramBatch(4, 256);

        for (uint round = 0; round < 3; round++)
        {
            clientBatch.Outgoing(0)[..48].Fill((byte)round);
            clientBatch.SetOutgoing(0, 48);
            clientBatch.SetDestination(0, PeerAddress.FromEndPoint(server.LocalEndPoint));
            long userStamp = UnixNsNow();   // DateTime ticks truncate, so this is never later than the real reading
            Assert.Equal(1, client.Send(clientBatch, 1));
            long txStamp = client.ReadTransmitTimestampUnixNanoseconds(TimeSpan.FromSeconds(1), out uint id);
            Assert.NotEqual(0, txStamp);
            Assert.Equal(round, id);   // OPT_ID numbers the datagrams sent on this socket from 0

            Assert.Equal(1, ReceiveOne(server, serverBatch));
            long serverRx = serverBatch.KernelTimestampUnixNanoseconds(0);
            serverBatch.Outgoing(0)[0] = 0x24;
            serverBatch.SetOutgoing(0, 48);
            Assert.Equal(1, server.Send(serverBatch, 1));
            Assert.Equal(1, ReceiveOne(client, clientBatch));
            long replyRx = clientBatch.KernelTimestampUnixNanoseconds(0);
            // The error queue is apart from the receive queue: the reading above left the reply for Receive.
            Assert.Equal(48, clientBatch.Received(0).Length);

            Assert.True(txStamp >= userStamp, $"tx {txStamp} before the user-space stamp {userStamp}");
            Assert.True(txStamp <= serverRx, $"tx {txStamp} after the server received it at {serverRx}");
            Assert.True(txStamp < replyRx, $"tx {txStamp} not before the reply at {replyRx}");
            // Nothing else waits in the error queue once the stamp was read.
            Assert.Equal(0, client.ReadTransmitTimestampUnixNanoseconds(TimeSpan.Zero, out _));
        }
    }

    [Fact]
    public void Without_transmit_timestamps_the_read_gives_0_at_once_and_receiving_is_unchanged()
    {
        using var client = BatchedUdpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0), new UdpSocketOptions { ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        using var server = BatchedUdpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0), new UdpSocketOptions { ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.False(client.TransmitTimestampsEnabled);
        using var batch = new DatagramBatch(2, 64);
        batch.SetOutgoing(0, 8);
        batch.SetDestination(0, PeerAddress.FromEndPoint(server.LocalEndPoint));
        Assert.Equal(1, client.Send(batch, 1));
        var wait = Stopwatch.StartNew();
        Assert.Equal(0, client.ReadTransmitTimestampUnixNanoseconds(TimeSpan.FromSeconds(2), out _));
        Assert.True(wait.Elapsed < TimeSpan.FromSeconds(1), $"waited {wait.Elapsed} although stamps are off");
        Assert.Equal(1, ReceiveOne(server, batch));
        Assert.NotEqual(0, batch.KernelTimestampUnixNanoseconds(0));
    }

    [Fact]
    public void Received_datagrams_keep_their_receive_timestamp_on_a_socket_with_transmit_timestamps()
    {
        using var sender = BatchedUdpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0), new UdpSocketOptions { ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        using var receiver = BatchedUdpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0),
            new UdpSocketOptions { TransmitTimestamps = true, ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        using var batch = new DatagramBatch(2, 64);
        batch.SetOutgoing(0, 8);
        batch.SetDestination(0, PeerAddress.FromEndPoint(receiver.LocalEndPoint));
        long before = UnixNsNow();
        Assert.Equal(1, sender.Send(batch, 1));
        Assert.Equal(1, ReceiveOne(receiver, batch));
        long rx = batch.KernelTimestampUnixNanoseconds(0);
        Assert.InRange(rx, before, UnixNsNow() + 1000);
        // Receiving queues no transmit report.
        Assert.Equal(0, receiver.ReadTransmitTimestampUnixNanoseconds(TimeSpan.FromMilliseconds(50), out _));
    }

    [Fact]
    public void After_dispose_the_read_gives_0()
    {
        var client = BatchedUdpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0), new UdpSocketOptions { TransmitTimestamps = true });
        client.Dispose();
        Assert.Equal(0, client.ReadTransmitTimestampUnixNanoseconds(TimeSpan.FromMilliseconds(100), out _));
    }
}
