using System.Buffers.Binary;
using CsCheck;
using TimeMesh.Core.Access;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;

namespace TimeMesh.Core.Tests;

/// <summary>
/// Property tests (CsCheck): the codec's round trips and era rule, the server's reply bounds, and the access
/// list against a naive model. Seeded and single-threaded, so a run is repeatable; a failure prints the
/// shrunk input.
/// </summary>
public class PropertyTests
{
    private static readonly string Seed = new PCG(6, 1124).ToString();
    private const int Iterations = 20_000;

    private static void Sample<T>(Gen<T> gen, Action<T> assert, int iter = Iterations) =>
        gen.Sample(assert, seed: Seed, iter: iter, threads: 1);

    private const long NanosPerSecond = 1_000_000_000;
    private const long EraSeconds = 1L << 32;
    /// <summary>Unix ns from 1900 to 2150, across the era 0/1 boundary of 2036; small enough that a pivot 68 years away fits a long.</summary>
    private static readonly Gen<long> AnyTime = Gen.Long[-2_208_988_800L * NanosPerSecond, 5_679_792_000L * NanosPerSecond];
    /// <summary>Unix ns from 1950 to 2080, for pivots more than an era away.</summary>
    private static readonly Gen<long> ModernTime = Gen.Long[-631_152_000L * NanosPerSecond, 3_471_292_800L * NanosPerSecond];

    [Fact]
    public void A_timestamp_comes_back_within_a_nanosecond_from_a_pivot_within_68_years()
    {
        var gen = from t in AnyTime
                  from offsetSeconds in Gen.Long[-(EraSeconds / 2) + 1, EraSeconds / 2 - 1]
                  select (t, pivot: t + offsetSeconds * NanosPerSecond);
        Sample(gen, x =>
        {
            long back = NtpTimestamp.FromUnixNanoseconds(x.t).ToUnixNanoseconds(x.pivot);
            Assert.InRange(back - x.t, -1, 0); // the 32-bit fraction truncates by less than 1 ns
        });
    }

    [Fact]
    public void Era_rule_a_pivot_beyond_68_years_lands_a_whole_number_of_eras_away_and_within_68_years_of_the_pivot()
    {
        var gen = from t in ModernTime
                  from pivotOffsetSeconds in Gen.Long[EraSeconds / 2 + 1, EraSeconds + EraSeconds / 4].Select(Gen.Bool, (s, negative) => negative ? -s : s)
                  select (t, pivot: t + pivotOffsetSeconds * NanosPerSecond);
        Sample(gen, x =>
        {
            long back = NtpTimestamp.FromUnixNanoseconds(x.t).ToUnixNanoseconds(x.pivot);
            long shift = back - x.t;
            long eras = (long)Math.Round(shift / (double)(EraSeconds * NanosPerSecond));
            Assert.NotEqual(0, eras);
            Assert.InRange(shift - eras * EraSeconds * NanosPerSecond, -1, 0);
            Assert.InRange(back - x.pivot, -(EraSeconds / 2) * NanosPerSecond, EraSeconds / 2 * NanosPerSecond);
        });
    }

    [Fact]
    public void Difference_of_two_timestamps_is_exact_across_era_boundaries()
    {
        var gen = from a in AnyTime
                  from deltaNs in Gen.Long[-(EraSeconds / 2 - 1) * NanosPerSecond, (EraSeconds / 2 - 1) * NanosPerSecond]
                  select (a, b: a + deltaNs);
        Sample(gen, x =>
        {
            double seconds = NtpTimestamp.DifferenceSeconds(NtpTimestamp.FromUnixNanoseconds(x.b), NtpTimestamp.FromUnixNanoseconds(x.a));
            double expected = (x.b - x.a) / 1e9;
            Assert.True(Math.Abs(seconds - expected) <= 2e-9 + Math.Abs(expected) * 1e-15, $"{seconds} vs {expected}");
        });
    }

    private static readonly Gen<NtpHeader> AnyHeader =
        from leap in Gen.Int[0, 3]
        from version in Gen.Int[0, 7]
        from mode in Gen.Int[0, 7]
        from stratum in Gen.Byte
        from poll in Gen.SByte
        from precision in Gen.SByte
        from rootDelay in Gen.UInt
        from rootDispersion in Gen.UInt
        from referenceId in Gen.UInt
        from times in Gen.ULong.Array[4]
        select new NtpHeader((LeapIndicator)leap, (byte)version, (NtpMode)mode, stratum, poll, precision,
            new NtpShort(rootDelay), new NtpShort(rootDispersion), referenceId,
            new NtpTimestamp(times[0]), new NtpTimestamp(times[1]), new NtpTimestamp(times[2]), new NtpTimestamp(times[3]));

    [Fact]
    public void Header_write_then_read_is_the_identity_and_read_then_write_gives_the_same_bytes()
    {
        Sample(AnyHeader, header =>
        {
            var bytes = new byte[NtpHeader.Length];
            header.Write(bytes);
            Assert.Equal(header, NtpHeader.Read(bytes));
            var again = new byte[NtpHeader.Length];
            NtpHeader.Read(bytes).Write(again);
            Assert.Equal(bytes, again);
        });
    }

    /// <summary>A well-formed request as a client may send it: a v1–v4 header, for v4 extension fields, and maybe a MAC.</summary>
    private static readonly Gen<(byte[] Datagram, int Fields, int FieldBytes, int MacBytes)> WellFormedPacket =
        from header in AnyHeader
        from version in Gen.Int[1, 4]
        from fieldLengths in Gen.Int[4, 40].Select(words => words * 4).Array[0, 5]
        from mac in Gen.Int[0, 4].Select(i => new[] { 0, 20, 24, 36, 68 }[i])
        select Build(header with { Version = (byte)version }, version == 4 ? fieldLengths : [], mac);

    private static (byte[], int, int, int) Build(NtpHeader header, int[] fieldLengths, int macBytes)
    {
        // Without a MAC the last field must be at least 28 bytes (RFC 7822), or it would pass for one.
        if (macBytes == 0 && fieldLengths.Length > 0 && fieldLengths[^1] < NtpPacket.MinLastExtensionFieldLength)
            fieldLengths[^1] = NtpPacket.MinLastExtensionFieldLength;
        while (fieldLengths.Sum() > NtpPacket.MaxExtensionFieldsLength) fieldLengths = fieldLengths[..^1];
        int fieldBytes = fieldLengths.Sum();
        var datagram = new byte[NtpHeader.Length + fieldBytes + macBytes];
        header.Write(datagram);
        int offset = NtpHeader.Length;
        ushort type = 0x0104;
        foreach (int length in fieldLengths)
        {
            BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(offset), type++);
            BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(offset + 2), (ushort)length);
            datagram.AsSpan(offset + 4, length - 4).Fill((byte)length);
            offset += length;
        }
        if (macBytes > 0) BinaryPrimitives.WriteUInt32BigEndian(datagram.AsSpan(offset), 42);
        return (datagram, fieldLengths.Length, fieldBytes, macBytes);
    }

    [Fact]
    public void A_well_formed_packet_parses_to_the_fields_and_mac_it_was_built_from_and_serialises_back()
    {
        Sample(WellFormedPacket, p =>
        {
            var packet = NtpPacket.Parse(p.Datagram);
            Assert.Equal(p.Fields, packet.Trailer.ExtensionFieldCount);
            Assert.Equal(p.FieldBytes, packet.Trailer.ExtensionFieldsLength);
            Assert.Equal(p.MacBytes, packet.Trailer.MacLength);
            Assert.Equal(p.Datagram.Length, packet.Length);
            if (p.MacBytes > 0) Assert.Equal(42u, packet.MacKeyId(p.Datagram));
            int index = 0;
            foreach (var field in packet.ExtensionFields(p.Datagram))
            {
                Assert.Equal((ushort)(0x0104 + index++), field.Type);
                byte fill = (byte)(field.Value.Length + 4);
                Assert.All(field.Value.ToArray(), b => Assert.Equal(fill, b));
            }
            var header = new byte[NtpHeader.Length];
            packet.Header.Write(header);
            Assert.Equal(p.Datagram.AsSpan(0, NtpHeader.Length).ToArray(), header);
        });
    }

    /// <summary>Requests as an attacker may send them: any mode and version, well-formed or cut, padded or not.</summary>
    private static readonly Gen<byte[]> AnyRequest = Gen.OneOf(
        WellFormedPacket.Select(p => p.Datagram),
        WellFormedPacket.Select(Gen.Int[0, 200], (p, cut) => p.Datagram[..Math.Max(0, p.Datagram.Length - cut)]),
        Gen.Byte.Array[0, 1300]);

    [Fact]
    public void The_server_never_answers_larger_than_the_request_and_never_answers_modes_6_and_7()
    {
        var access = AccessList.FromSpecs(["all"], []);
        var gen = from requests in AnyRequest.Array[1, 20]
                  from kod in Gen.Bool
                  from local in Gen.Bool
                  from stepLog2 in Gen.Int[0, 34]
                  select (requests, kod, local, stepLog2);
        Sample(gen, x =>
        {
            var handler = new NtpServerHandler(new ClientLog(4096, new RateLimitSettings(-1, 2, 1, x.kod), seed: 3));
            var snapshot = new ServerSnapshot
            {
                Reference = x.local ? ReferenceState.Local(10) : ReferenceState.Unsynchronised,
                Access = access,
                PrecisionLog2 = -20,
            };
            var reply = new byte[2048];
            long now = 1_800_000_000L * NanosPerSecond;
            foreach (var request in x.requests)
            {
                now += 1L << x.stepLog2;
                var verdict = handler.Handle(request, IpAddress128.FromIPv4(0x7F000001), now, snapshot, reply, out int length);
                if (verdict is not (ServerVerdict.Respond or ServerVerdict.RespondKissOfDeath))
                {
                    Assert.Equal(0, length);
                    continue;
                }
                Assert.InRange(length, NtpHeader.Length, request.Length);
                Assert.Equal(NtpMode.Client, NtpHeader.ModeOf(request[0]));
                Assert.Equal(NtpMode.Server, NtpHeader.ModeOf(reply[0]));
            }
        }, iter: 5_000);
    }

    /// <summary>Rules over a small address space (10.0.0.0/24 and fd00::/120) so that they overlap often.</summary>
    private static readonly Gen<(Subnet Subnet, bool Allow)> AnyRule =
        from ipv4 in Gen.Bool
        from host in Gen.Byte
        from prefix in Gen.Int[0, 8]
        from allow in Gen.Bool
        select (ipv4
            ? Subnet.Create(System.Net.IPAddress.Parse($"10.0.0.{host}"), prefix == 0 ? 0 : 24 + prefix)
            : Subnet.Create(System.Net.IPAddress.Parse($"fd00::{host:x}"), prefix == 0 ? 0 : 120 + prefix), allow);

    /// <summary>The specification in its plainest form: of the rules that contain the address, the longest prefixes decide, deny winning a tie; no rule, no access.</summary>
    private static bool NaiveIsAllowed((Subnet Subnet, bool Allow)[] rules, IpAddress128 address)
    {
        var matching = rules.Where(r => r.Subnet.Contains(address)).ToArray();
        if (matching.Length == 0) return false;
        int longest = matching.Max(r => r.Subnet.PrefixLength);
        return matching.Where(r => r.Subnet.PrefixLength == longest).All(r => r.Allow);
    }

    [Fact]
    public void Access_list_agrees_with_the_naive_most_specific_wins_model()
    {
        var gen = from rules in AnyRule.Array[0, 12]
                  from probes in Gen.Select(Gen.Bool, Gen.Byte).Array[16]
                  select (rules, probes);
        Sample(gen, x =>
        {
            var list = new AccessList(x.rules.Where(r => r.Allow).Select(r => r.Subnet), x.rules.Where(r => !r.Allow).Select(r => r.Subnet));
            foreach (var (ipv4, host) in x.probes)
            {
                var address = IpAddress128.FromIPAddress(System.Net.IPAddress.Parse(ipv4 ? $"10.0.0.{host}" : $"fd00::{host:x}"));
                Assert.Equal(NaiveIsAllowed(x.rules, address), list.IsAllowed(address));
            }
        }, iter: 10_000);
    }

    [Fact]
    public void Shortened_and_zero_padded_ipv4_subnets_read_their_octets_as_decimal()
    {
        // Found by tests/fuzz (config target): "096.168.10.0/24" threw from IPAddress.Parse; "010" would have been octal.
        Assert.Equal("96.168.10.0/24", Subnet.ParseSpec("096.168.10.0/24").Single().ToString());
        Assert.Equal("10.0.0.1/32", Subnet.ParseSpec("010.000.000.001").Single().ToString());
        Assert.Equal("192.168.0.0/16", Subnet.ParseSpec("192.168").Single().ToString());
        Assert.False(Subnet.TryParseSpec("256.1.1.1", out _, out string? why));
        Assert.NotNull(why);
    }
}
