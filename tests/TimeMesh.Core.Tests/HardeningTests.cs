using TimeMesh.Core.Access;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

/// <summary>
/// The server against abuse, on virtual time: a spoofed flood gets a bounded number of replies, the client
/// table never grows past clientloglimit however many sources there are, and nothing is allocated per
/// packet. And the RFC 9109 source port picker.
/// </summary>
public class HardeningTests
{
    private const long Second = 1_000_000_000;
    private static readonly byte[] Request = NtpClientRequest();

    private static byte[] NtpClientRequest()
    {
        var bytes = new byte[NtpHeader.Length];
        bytes[0] = NtpHeader.PackFirstByte(LeapIndicator.NoWarning, 4, NtpMode.Client);
        return bytes;
    }

    private static ServerSnapshot Open => new()
    {
        Reference = ReferenceState.Local(10),
        Access = AccessList.FromSpecs(["all"], []),
        PrecisionLog2 = -20,
    };

    [Fact]
    public void A_spoofed_flood_from_one_address_gets_one_kiss_of_death_per_interval_and_a_bounded_leak()
    {
        // chrony's defaults (8 s, burst 8, leak 2) with kod on: 100 000 requests in 10 s from a victim's address.
        var handler = new NtpServerHandler(new ClientLog(524288, RateLimitSettings.ChronyDefaults with { KissOfDeath = true }, seed: 9));
        var victim = IpAddress128.FromIPv4(0xC0A80105);
        var snapshot = Open;
        var reply = new byte[NtpHeader.Length];
        int answered = 0, kisses = 0, replyBytes = 0;
        const int requests = 100_000;
        for (int i = 0; i < requests; i++)
        {
            long now = 1_000 * Second + i * (10 * Second / requests);
            var verdict = handler.Handle(Request, victim, now, snapshot, reply, out int length);
            if (verdict == ServerVerdict.Respond) answered++;
            if (verdict == ServerVerdict.RespondKissOfDeath) kisses++;
            replyBytes += length;
        }
        // 10 s at one interval of 8 s: at most two kisses.
        Assert.InRange(kisses, 1, 2);
        // The burst, a refill and the leak (on average 1 in 4 over the limit) pass; the rest is dropped, so the
        // victim gets far fewer replies than the flood has requests, each no larger than its request.
        Assert.True(answered < requests / 3, $"{answered} answered");
        Assert.True(replyBytes <= requests * NtpHeader.Length, "more bytes out than in");
    }

    [Fact]
    public void A_million_spoofed_sources_never_grow_the_client_table_past_its_limit_nor_allocate()
    {
        const long limitBytes = 65536; // 512 clients
        var log = new ClientLog(limitBytes, RateLimitSettings.ChronyDefaults, seed: 5);
        var handler = new NtpServerHandler(log);
        var snapshot = Open;
        var reply = new byte[NtpHeader.Length];
        // Warm up so that the JIT's own allocations are not counted.
        for (int i = 0; i < 10_000; i++) handler.Handle(Request, IpAddress128.FromIPv4((uint)i), i, snapshot, reply, out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        const int sources = 1_000_000;
        for (int i = 0; i < sources; i++)
            handler.Handle(Request, IpAddress128.FromIPv4(0x0A000000u + (uint)i), 100 * Second + i, snapshot, reply, out _);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal((int)(limitBytes / ClientLog.RecordBytes), log.Capacity);
        Assert.InRange(log.Snapshot().Count, 1, log.Capacity);
        Assert.True(log.Evictions >= sources - log.Capacity, $"{log.Evictions} evictions");
        Assert.True(allocated < 1024, $"{allocated} bytes allocated for {sources} packets");
    }

    [Fact]
    public void Kiss_of_death_carries_no_time_and_is_never_larger_than_the_request()
    {
        var handler = new NtpServerHandler(new ClientLog(4096, new RateLimitSettings(3, 1, 4, true), seed: 1));
        var client = IpAddress128.FromIPv4(0x7F000001);
        var request = (byte[])Request.Clone();
        new NtpTimestamp(0x1122334455667788).Write(request.AsSpan(NtpHeader.TransmitTimeOffset));
        var reply = new byte[NtpHeader.Length];
        ServerVerdict verdict = ServerVerdict.Respond;
        for (int i = 0; i < 200 && verdict != ServerVerdict.RespondKissOfDeath; i++)
            verdict = handler.Handle(request, client, 50 * Second + i, Open, reply, out _);
        Assert.Equal(ServerVerdict.RespondKissOfDeath, verdict);
        var header = NtpHeader.Read(reply);
        Assert.Equal(0, header.Stratum);
        Assert.Equal(ReferenceIds.KissRate, header.ReferenceId);
        Assert.All(new[] { header.ReceiveTime, header.TransmitTime, header.ReferenceTime, header.OriginTime },
            t => Assert.Equal(0x1122334455667788ul, t.Value));
    }

    [Fact]
    public void The_port_picker_stays_in_its_range_and_never_repeats_one_of_its_last_64_ports()
    {
        var random = new Random(1124);
        var picker = new SourcePortPicker(40000, 40200, random.Next);
        var picks = Enumerable.Range(0, 20_000).Select(_ => picker.Pick()).ToArray();
        Assert.All(picks, p => Assert.InRange(p, 40000, 40200));
        for (int i = 0; i < picks.Length; i++)
        {
            for (int j = Math.Max(0, i - SourcePortPicker.RememberedPorts + 1); j < i; j++)
                Assert.NotEqual(picks[j], picks[i]);
        }
        // Uniform enough: every port of the range was used.
        Assert.Equal(201, picks.Distinct().Count());
    }

    [Theory]
    [InlineData("32768\t60999\n", 32768, 60999)]
    [InlineData("1024 65535", 1024, 65535)]
    [InlineData("", 32768, 60999)]
    [InlineData("60000 60010", 32768, 60999)]
    public void The_linux_ephemeral_range_is_read_or_defaulted(string text, int lowest, int highest) =>
        Assert.Equal((lowest, highest), SourcePortPicker.ParseLinuxRange(text));
}
