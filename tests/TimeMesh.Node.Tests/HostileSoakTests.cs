using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// A million hostile datagrams against a running <c>timemesh run</c> within a minute, from many source
/// addresses and ports (some that look like services a reflection would aim at), while a valid client on
/// an address of its own asks for time every 20 ms. Zero crashes, the valid client answered throughout,
/// no reply larger than its request, no reply to mode 6/7, and the node's memory flat.
/// </summary>
[Collection(ProcessLanes.Tools)]
public class HostileSoakTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private enum Kind { Random, Truncated, Oversized, Control, Private, BadExtensionField, GarbageMac, ValidLooking }
    private const int KindCount = 8;

    [Fact]
    public void A_million_hostile_datagrams_leave_the_node_answering_and_its_memory_flat()
    {
        using var node = TimeMeshProcess.Start("""
              listen = ["127.0.0.1:0"]
              allow = ["127.0.0.0/8"]
              local { stratum = 10 }
              ratelimit { interval = -6, burst = 16, leak = 2, kod = on }
            """);
        var server = node.WaitStarted(TimeSpan.FromSeconds(60))[0];
        Assert.NotNull(NtpProbe.AskUntilAnswered(server, TimeSpan.FromSeconds(10)));
        Thread.Sleep(1000);

        // Flooders: addresses 127.0.0.2-9, on well-known ports a reflection would aim at where they are free.
        var senders = new List<Socket>();
        foreach (int port in new[] { 7, 19, 53, 123, 161, 1900, 11211, 0, 0, 0, 0, 0, 0, 0, 0, 0 })
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try { s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{2 + senders.Count % 8}"), port)); }
            catch (SocketException) { s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{2 + senders.Count % 8}"), 0)); }
            s.Blocking = false;
            s.SendBufferSize = 4 << 20;
            s.ReceiveBufferSize = 1 << 16;
            senders.Add(s);
        }
        var target = server.Serialize();

        long dropsBefore = KernelDrops(server.Port);
        long startRss = node.ResidentBytes(), peakRss = startRss;
        int probesSent = 0, probesAnswered = 0, longestProbeGapMs = 0;
        var stop = new CancellationTokenSource();
        var prober = new Thread(() =>
        {
            var lastAnswer = Stopwatch.StartNew();
            ulong cookie = 0xAB00_0000_0000_0000;
            while (!stop.IsCancellationRequested)
            {
                probesSent++;
                var reply = NtpProbe.Ask(server, NtpProbe.ClientRequest(++cookie), TimeSpan.FromSeconds(1), IPAddress.Parse("127.0.0.200"));
                if (reply is not null && NtpPacket.Parse(reply).Header is { Stratum: 10, Mode: NtpMode.Server } h && h.OriginTime.Value == cookie)
                {
                    probesAnswered++;
                    longestProbeGapMs = Math.Max(longestProbeGapMs, (int)lastAnswer.ElapsedMilliseconds);
                    lastAnswer.Restart();
                }
                long rss = node.ResidentBytes();
                if (rss > peakRss) peakRss = rss;
                Thread.Sleep(20);
            }
        }) { IsBackground = true };
        prober.Start();

        const int total = 1_000_000;
        var random = new Random(20261124);
        var noise = new byte[70_000];
        random.NextBytes(noise);
        var datagram = new byte[70_000];
        var receive = new byte[70_000];
        var counts = new int[KindCount];
        int sent = 0, sendErrors = 0, replies = 0, oversizedReplies = 0, repliesToControl = 0;
        var requestLength = new Dictionary<ulong, (Kind Kind, int Length)>();
        var watch = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(60);

        void Drain(Socket s)
        {
            while (s.Available > 0)
            {
                int n;
                try { n = s.Receive(receive); }
                catch (SocketException) { return; }
                replies++;
                if (n < NtpHeader.Length) { oversizedReplies++; continue; }
                ulong origin = BinaryPrimitives.ReadUInt64BigEndian(receive.AsSpan(NtpHeader.OriginTimeOffset));
                if (requestLength.TryGetValue(origin, out var request))
                {
                    if (n > request.Length) oversizedReplies++;
                    if (request.Kind is Kind.Control or Kind.Private) repliesToControl++;
                }
            }
        }

        for (int i = 0; i < total && watch.Elapsed < deadline; i++)
        {
            var kind = (Kind)(i % KindCount);
            int length = kind switch
            {
                Kind.Random => random.Next(1, 1500),
                Kind.Truncated => random.Next(1, NtpHeader.Length),
                Kind.Oversized => random.Next(1200, 65_000),
                Kind.BadExtensionField => NtpHeader.Length + 4 * random.Next(1, 60),
                Kind.GarbageMac => NtpHeader.Length + (random.Next(2) == 0 ? 20 : 24),
                _ => NtpHeader.Length,
            };
            var span = datagram.AsSpan(0, length);
            noise.AsSpan(random.Next(0, noise.Length - length), length).CopyTo(span);
            int version = random.Next(1, 5);
            switch (kind)
            {
                case Kind.Control: span[0] = NtpHeader.PackFirstByte(0, version, NtpMode.Control); break;
                case Kind.Private: span[0] = NtpHeader.PackFirstByte(0, version, NtpMode.Private); break;
                case Kind.BadExtensionField:
                    span[0] = NtpHeader.PackFirstByte(0, 4, NtpMode.Client);
                    // A field that claims more bytes than there are, or fewer than 16, or not a multiple of 4.
                    BinaryPrimitives.WriteUInt16BigEndian(span[(NtpHeader.Length + 2)..], (ushort)(random.Next(3) switch { 0 => length, 1 => random.Next(0, 16), _ => 4 * random.Next(4, 20) + 2 }));
                    break;
                case Kind.GarbageMac:
                case Kind.ValidLooking:
                    span[0] = NtpHeader.PackFirstByte(0, version, NtpMode.Client);
                    break;
            }
            ulong id = 0x5EED_0000_0000_0000ul | (uint)i;
            if (length >= NtpHeader.Length)
            {
                BinaryPrimitives.WriteUInt64BigEndian(span[NtpHeader.TransmitTimeOffset..], id);
                if (NtpHeader.ModeOf(span[0]) is NtpMode.Control or NtpMode.Private)
                    kind = NtpHeader.ModeOf(span[0]) == NtpMode.Control ? Kind.Control : Kind.Private;
                if (kind is Kind.Control or Kind.Private or Kind.ValidLooking or Kind.GarbageMac || (i & 15) == 0)
                    requestLength[id] = (kind, length);
            }
            counts[(int)kind]++;
            var socket = senders[i % senders.Count];
            try
            {
                socket.SendTo(span, SocketFlags.None, target);
                sent++;
            }
            catch (SocketException) { sendErrors++; }
            if ((i & 1023) == 0)
            {
                foreach (var s in senders) Drain(s);
            }
        }
        var elapsed = watch.Elapsed;
        Thread.Sleep(1000);
        foreach (var s in senders) Drain(s);
        stop.Cancel();
        prober.Join();
        long endRss = node.ResidentBytes();
        long kernelDrops = KernelDrops(server.Port) - dropsBefore;
        foreach (var s in senders) s.Dispose();

        output.WriteLine($"measured: {sent} datagrams sent in {elapsed.TotalSeconds:0.0} s ({sent / elapsed.TotalSeconds:0} /s; {sendErrors} send errors): " +
            string.Join(", ", Enum.GetValues<Kind>().Select(k => $"{k} {counts[(int)k]}")) +
            $"; {kernelDrops} dropped by the kernel at the node's socket (so {sent - kernelDrops} reached the node)" +
            $"; {replies} replies seen, {oversizedReplies} larger than their request, {repliesToControl} to mode 6/7; " +
            $"valid client {probesAnswered}/{probesSent} answered, longest gap {longestProbeGapMs} ms; " +
            $"RSS start {startRss / 1048576.0:0.0} MB, peak {peakRss / 1048576.0:0.0} MB, end {endRss / 1048576.0:0.0} MB");

        Assert.False(node.HasExited, "the node died:\n" + node.Output);
        Assert.True(sent >= total, $"only {sent} datagrams sent in {deadline.TotalSeconds} s");
        Assert.Equal(0, repliesToControl);
        Assert.Equal(0, oversizedReplies);
        Assert.True(probesAnswered >= probesSent * 0.95, $"the valid client got {probesAnswered} of {probesSent} answers");
        Assert.True(longestProbeGapMs < 3000, $"the valid client went {longestProbeGapMs} ms without an answer");
        Assert.True(peakRss - startRss < 32L << 20, $"RSS grew from {startRss >> 20} MB to a peak of {peakRss >> 20} MB");
        Assert.True(endRss - startRss < 16L << 20, $"RSS grew from {startRss >> 20} MB to {endRss >> 20} MB");
        Assert.NotNull(NtpProbe.Ask(server, NtpProbe.ClientRequest(0xC0FFEE), TimeSpan.FromSeconds(5)));
    }

    /// <summary>The kernel's drop counter for the UDP socket bound to <paramref name="port"/> (last column of /proc/net/udp).</summary>
    private static long KernelDrops(int port)
    {
        string hexPort = ":" + port.ToString("X4");
        foreach (string line in File.ReadLines("/proc/net/udp").Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 12 && fields[1].EndsWith(hexPort, StringComparison.Ordinal)) return long.Parse(fields[^1]);
        }
        throw new InvalidOperationException($"no UDP socket on port {port} in /proc/net/udp");
    }
}
