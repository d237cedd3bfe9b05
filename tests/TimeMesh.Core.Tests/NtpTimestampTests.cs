using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Tests;

public class NtpTimestampTests
{
    private const long NsPerSecond = 1_000_000_000;

    [Fact]
    public void UnixEpochIsTheKnownNtpValue()
    {
        var t = NtpTimestamp.FromUnixNanoseconds(0);
        Assert.Equal(0x83AA7E80u, t.Seconds);
        Assert.Equal(0u, t.Fraction);
    }

    [Fact]
    public void HalfASecondIsHalfTheFraction()
    {
        var t = NtpTimestamp.FromUnixNanoseconds(NsPerSecond / 2);
        Assert.Equal(0x8000_0000u, t.Fraction);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1_795_490_474_379_219_187L)] // 2026-11-24
    [InlineData(2_085_978_495_999_999_999L)] // just before the 2036 rollover
    [InlineData(2_085_978_496_000_000_000L)] // the rollover instant
    [InlineData(2_085_978_496_500_000_001L)] // just after it
    [InlineData(4_102_444_800_123_456_789L)] // 2100-01-01
    [InlineData(-1_000_000_000L)]            // before 1970
    public void RoundTripsThroughTheEraRuleWithinOneNanosecond(long unixNs)
    {
        var t = NtpTimestamp.FromUnixNanoseconds(unixNs);
        // A pivot up to 60 years away still resolves the right era.
        foreach (long pivotOffsetYears in new long[] { 0, 30, -30, 60, -60 })
        {
            long pivot = unixNs + pivotOffsetYears * 365L * 86_400 * NsPerSecond;
            long back = t.ToUnixNanoseconds(pivot);
            Assert.InRange(back - unixNs, -1, 1);
        }
    }

    [Fact]
    public void The2036RolloverWrapsTheSecondsFieldToZero()
    {
        var rollover = new DateTime(2036, 2, 7, 6, 28, 16, DateTimeKind.Utc);
        var t = NtpTimestamp.FromDateTime(rollover);
        Assert.Equal(0u, t.Seconds);
        Assert.Equal(rollover, t.ToDateTime(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc)));

        var before = NtpTimestamp.FromDateTime(rollover.AddSeconds(-1));
        Assert.Equal(uint.MaxValue, before.Seconds);
        // Differences stay right across the wrap.
        Assert.Equal(1.0, NtpTimestamp.DifferenceSeconds(t, before), 9);
        Assert.Equal(-1.0, NtpTimestamp.DifferenceSeconds(before, t), 9);
    }

    [Fact]
    public void ReadWriteIsBigEndian()
    {
        var t = new NtpTimestamp(0x0102030405060708);
        var bytes = new byte[8];
        t.Write(bytes);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, bytes);
        Assert.Equal(t, NtpTimestamp.Read(bytes));
    }

    [Theory]
    [InlineData(0.0, 0u)]
    [InlineData(1.0, 0x0001_0000u)]
    [InlineData(0.5, 0x0000_8000u)]
    [InlineData(1e-9, 1u)] // rounds up: a bound never shrinks
    [InlineData(-3.0, 0u)]
    [InlineData(1e9, uint.MaxValue)]
    public void NtpShortEncodesSixteenSixteen(double seconds, uint expected) =>
        Assert.Equal(expected, NtpShort.FromSeconds(seconds).Value);
}
