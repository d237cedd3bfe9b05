using TimeMesh.Core.Clock;

namespace TimeMesh.Core.Tests;

/// <summary>
/// The PHC-to-system conversion of hwtimestamp on synthetic PTP_SYS_OFFSET samples: the narrowest bracket is taken,
/// offset and rate are fitted, and a step starts the model over.
/// </summary>
public class HardwareClockTests
{
    private const long Second = 1_000_000_000L;

    [Fact]
    public void The_narrowest_bracket_is_the_reading_and_its_middle_the_system_time()
    {
        PhcSample[] samples =
        [
            new(1_000, 50_000, 1_900),     // 900 ns wide
            new(2_000, 51_000, 2_300),     // 300 ns wide: the one
            new(3_000, 52_000, 4_000),     // 1000 ns wide
        ];
        Assert.True(PhcReading.TryPick(samples, out var r));
        Assert.Equal(51_000, r.PhcNs);
        Assert.Equal(2_150, r.SystemNs);
        Assert.Equal(150, r.UncertaintyNs);
        Assert.Equal(2_150 - 51_000, r.OffsetNs);
    }

    [Fact]
    public void Samples_whose_system_time_ran_backwards_are_not_used_and_none_left_is_no_reading()
    {
        PhcSample[] samples = [new(5_000, 10, 4_000), new(6_000, 20, 6_800)];
        Assert.True(PhcReading.TryPick(samples, out var r));
        Assert.Equal(20, r.PhcNs);
        Assert.False(PhcReading.TryPick([new PhcSample(5_000, 10, 4_999)], out _));
        Assert.False(PhcReading.TryPick([], out _));
    }

    [Fact]
    public void A_zero_width_bracket_still_has_an_uncertainty_of_at_least_a_nanosecond()
    {
        Assert.True(PhcReading.TryPick([new PhcSample(100, 7, 100)], out var r));
        Assert.Equal(100, r.SystemNs);
        Assert.Equal(1, r.UncertaintyNs);
    }

    /// <summary>A PHC running <paramref name="ratePpm"/> slow against the system clock, <paramref name="offsetNs"/> behind it at phc = 0 (TAI-like).</summary>
    private static PhcReading Reading(long phcNs, long offsetNs, double ratePpm, long noiseNs = 0, long uncertaintyNs = 100) =>
        new(phcNs, phcNs + offsetNs + (long)Math.Round(phcNs * ratePpm * 1e-6) + noiseNs, uncertaintyNs);

    [Fact]
    public void One_reading_converts_with_its_offset_and_no_rate()
    {
        var model = new HardwareClockModel();
        Assert.Null(model.Conversion);
        model.Add(new PhcReading(1_000 * Second, 1_000 * Second - 37 * Second, 50));
        var c = model.Conversion!;
        Assert.Equal(0, c.RateNsPerNs);
        Assert.Equal(963 * Second + 500, c.ToSystemNs(1_000 * Second + 500));
        Assert.Equal(50, c.UncertaintyNs);
    }

    [Fact]
    public void Offset_and_rate_are_fitted_so_stamps_between_and_after_readings_convert_within_nanoseconds()
    {
        const long offset = -37 * Second;   // a PHC on TAI, the system on UTC
        const double ratePpm = 12.5;
        var model = new HardwareClockModel();
        var noise = new Random(7);
        long start = 1_700_000_000 * Second;
        for (int i = 0; i < 16; i++)
            model.Add(Reading(start + i * Second, offset, ratePpm, noise.Next(-20, 21)));
        var c = model.Conversion!;
        Assert.Equal(16, c.Readings);
        Assert.InRange(c.RatePpm, ratePpm - 0.05, ratePpm + 0.05);
        // Between readings and one poll past the last: truth within tens of ns (noise ±20 ns).
        foreach (long phc in new[] { start + 7 * Second + 400_000_000, start + 16 * Second })
        {
            long truth = phc + offset + (long)Math.Round(phc * ratePpm * 1e-6);
            Assert.InRange(c.ToSystemNs(phc) - truth, -40, 40);
        }
        Assert.InRange(c.UncertaintyNs, 1, 100);
    }

    [Fact]
    public void Only_the_latest_readings_are_kept_so_a_changed_rate_is_followed()
    {
        var model = new HardwareClockModel(maxReadings: 8);
        long phc = 0;
        long system = 0;
        // 8 s at +10 ppm, then 8 s at -10 ppm (a temperature change): the fit ends on the new rate alone.
        for (int i = 0; i < 16; i++)
        {
            double ppm = i < 8 ? 10 : -10;
            phc += Second;
            system += Second + (long)(Second * ppm * 1e-6);
            model.Add(new PhcReading(phc, system, 10));
        }
        Assert.InRange(model.Conversion!.RatePpm, -10.01, -9.99);
        Assert.Equal(8, model.Conversion.Readings);
    }

    [Fact]
    public void A_reading_far_from_the_fit_means_a_clock_was_stepped_and_the_model_starts_over()
    {
        var model = new HardwareClockModel(stepThresholdNs: 1_000_000);
        for (int i = 1; i <= 5; i++) model.Add(Reading(i * Second, 0, 3));
        Assert.Equal(5, model.Conversion!.Readings);
        // The PHC was stepped by 0.5 s (ptp4l, phc_ctl): the old fit would be off by that much.
        bool kept = model.Add(Reading(6 * Second + Second / 2, -Second / 2, 3));
        Assert.False(kept);
        Assert.Equal(1, model.Resets);
        Assert.Equal(1, model.Conversion!.Readings);
        long phc = 7 * Second;
        Assert.InRange(model.Conversion.ToSystemNs(phc) - (phc - Second / 2 + 21_000), -5_000, 5_000);
        // A reading within the threshold is kept.
        Assert.True(model.Add(Reading(7 * Second + Second / 2, -Second / 2, 3, noiseNs: 200)));
        Assert.Equal(2, model.Conversion!.Readings);
    }

    [Fact]
    public void A_reading_that_goes_back_in_PHC_time_starts_over_too()
    {
        var model = new HardwareClockModel();
        model.Add(Reading(10 * Second, 0, 0));
        model.Add(Reading(11 * Second, 0, 0));
        Assert.False(model.Add(Reading(5 * Second, 0, 0)));
        Assert.Equal(1, model.Conversion!.Readings);
        Assert.Equal(5 * Second, model.Conversion.LastReadingPhcNs);
    }

    [Fact]
    public void Noisy_readings_weigh_less_than_precise_ones()
    {
        var model = new HardwareClockModel();
        // Precise readings on the line offset 1000 ns; one wide bracket 3 µs off it (within the step threshold).
        model.Add(new PhcReading(1 * Second, 1 * Second + 1_000, 20));
        model.Add(new PhcReading(2 * Second, 2 * Second + 1_000 + 3_000, 5_000));
        model.Add(new PhcReading(3 * Second, 3 * Second + 1_000, 20));
        model.Add(new PhcReading(4 * Second, 4 * Second + 1_000, 20));
        Assert.InRange(model.Conversion!.ToSystemNs(5 * Second) - (5 * Second + 1_000), -30, 30);
    }

    [Fact]
    public void A_stamp_too_far_from_the_readings_is_not_covered()
    {
        var model = new HardwareClockModel();
        model.Add(Reading(100 * Second, 0, 0));
        var c = model.Conversion!;
        Assert.True(c.Covers(100 * Second + 10 * Second, 16 * Second));
        Assert.False(c.Covers(100 * Second + 17 * Second, 16 * Second));
        Assert.False(c.Covers(100 * Second - 17 * Second, 16 * Second));
    }

    [Fact]
    public void The_model_refuses_settings_that_cannot_fit()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HardwareClockModel(maxReadings: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HardwareClockModel(stepThresholdNs: 0));
    }
}
