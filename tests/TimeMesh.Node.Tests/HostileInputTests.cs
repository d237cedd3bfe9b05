using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Hostile datagrams against a running node: random, truncated, oversized and mode 6/7. Each request
/// that is at least a header long carries a unique transmit timestamp, so every reply can be traced to
/// the request it answers.
/// </summary>
[Collection(ProcessLanes.Tools)]
public class HostileInputTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private enum Kind : byte { Random, Truncated, Oversized, Control, Private, ValidClient }

    [Fact]
    public void HundredsOfThousandsOfHostileDatagramsCrashNothingAndAmplifyNothing()
    {
        using var node = TimeMeshProcess.Start("""
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              local { stratum = 10 }
            """);
        var server = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        Assert.NotNull(NtpProbe.AskUntilAnswered(server, TimeSpan.FromSeconds(10)));

        const int total = 120_000;
        var random = new Random(1124);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.ReceiveBufferSize = 8 << 20;
        socket.SendBufferSize = 8 << 20;
        socket.Blocking = false;

        var sent = new Dictionary<ulong, (Kind Kind, int Length)>();
        var counts = new int[6];
        var datagram = new byte[70_000];
        var receive = new byte[70_000];
        int replies = 0, repliesToControl = 0, oversizedReplies = 0, untraceable = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);

        void Drain()
        {
            while (true)
            {
                int n;
                try { n = socket.Receive(receive); }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock) { return; }
                replies++;
                if (n < 48) { untraceable++; continue; }
                ulong origin = BinaryPrimitives.ReadUInt64BigEndian(receive.AsSpan(NtpHeader.OriginTimeOffset));
                if (!sent.TryGetValue(origin, out var request)) { untraceable++; continue; }
                if (request.Kind is Kind.Control or Kind.Private) repliesToControl++;
                if (n > request.Length) oversizedReplies++;
            }
        }

        for (int i = 0; i < total && DateTime.UtcNow < deadline; i++)
        {
            var kind = (Kind)random.Next(0, 5);
            int length = kind switch
            {
                Kind.Random => random.Next(1, 1500),
                Kind.Truncated => random.Next(1, 48),
                Kind.Oversized => random.Next(1200, 65_000),
                _ => random.Next(0, 3) switch { 0 => 48, 1 => 12, _ => 48 + 4 * random.Next(0, 100) },
            };
            var span = datagram.AsSpan(0, length);
            random.NextBytes(span);
            if (kind is Kind.Control or Kind.Private)
                span[0] = NtpHeader.PackFirstByte(0, random.Next(1, 5), kind == Kind.Control ? NtpMode.Control : NtpMode.Private);
            if (length >= 48 && NtpHeader.ModeOf(span[0]) is NtpMode.Control or NtpMode.Private)
                kind = NtpHeader.ModeOf(span[0]) == NtpMode.Control ? Kind.Control : Kind.Private;
            ulong id = 0x5EED_0000_0000_0000ul | (uint)i;
            if (length >= 48)
            {
                BinaryPrimitives.WriteUInt64BigEndian(span[NtpHeader.TransmitTimeOffset..], id);
                sent[id] = (kind, length);
            }
            counts[(int)kind]++;
            try { socket.SendTo(span, server); }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.NoBufferSpaceAvailable) { Drain(); }
            if (i % 64 == 0) Drain();
        }
        Thread.Sleep(500);
        Drain();

        output.WriteLine($"measured: {counts.Sum()} datagrams (random {counts[0]}, truncated {counts[1]}, oversized {counts[2]}, mode 6 {counts[3]}, mode 7 {counts[4]}), {replies} replies, {repliesToControl} to mode 6/7, {oversizedReplies} larger than their request, RSS {node.ResidentBytes() / 1048576.0:0.0} MB");
        Assert.Equal(0, repliesToControl);
        Assert.Equal(0, oversizedReplies);
        Assert.Equal(0, untraceable);
        Assert.False(node.HasExited, "the node died:\n" + node.Output);
        // A valid client is still answered afterwards, correctly.
        var reply = NtpProbe.Ask(server, NtpProbe.ClientRequest(0xC0FFEE), TimeSpan.FromSeconds(5));
        Assert.NotNull(reply);
        var header = NtpPacket.Parse(reply).Header;
        Assert.Equal(0xC0FFEEul, header.OriginTime.Value);
        Assert.Equal(10, header.Stratum);
        Assert.True(counts.Sum() >= 100_000, $"only {counts.Sum()} datagrams were sent before the deadline");
    }
}
