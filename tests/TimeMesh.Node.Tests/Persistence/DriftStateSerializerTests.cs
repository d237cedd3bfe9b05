using System.Runtime.Serialization;
using Akka.Actor;
using TimeMesh.Core.Protocol;
using TimeMesh.Node.Persistence;

namespace TimeMesh.Node.Tests.Persistence;

public class DriftStateSerializerTests
{
    public static TheoryData<DriftState> States => new()
    {
        new DriftState(0, 0, 0, 0, 0, LeapIndicator.NoWarning),
        new DriftState(-12.345678901234, 0.387, -0.000000459, 2, 1_795_490_474_379_219_187, LeapIndicator.NoWarning),
        new DriftState(500.0, 2000, 1.5, 16, long.MaxValue, LeapIndicator.Unsynchronised),
        new DriftState(double.Epsilon, double.MaxValue, double.MinValue, 15, long.MinValue, LeapIndicator.InsertSecond),
        new DriftState(-0.0, double.NaN, double.PositiveInfinity, 1, -1, LeapIndicator.DeleteSecond),
    };

    [Theory]
    [MemberData(nameof(States))]
    public void Round_trips_every_field_bit_for_bit(DriftState state)
    {
        byte[] bytes = DriftStateSerializer.Write(state);
        Assert.Equal(DriftStateSerializer.Length, bytes.Length);
        Assert.Equal(DriftStateSerializer.Version1, bytes[0]);
        var back = DriftStateSerializer.Read(bytes);
        Assert.Equal(state, back);
        Assert.Equal(BitConverter.DoubleToInt64Bits(state.FrequencyPpm), BitConverter.DoubleToInt64Bits(back.FrequencyPpm));
    }

    [Fact]
    public void Layout_is_fixed_little_endian()
    {
        var state = new DriftState(1.0, 2.0, 3.0, 4, 0x0102030405060708, LeapIndicator.DeleteSecond);
        byte[] b = DriftStateSerializer.Write(state);
        Assert.Equal(new byte[] { 1, 2, 4, 0 }, b[..4]);
        Assert.Equal(BitConverter.GetBytes(1.0), b[4..12]);
        Assert.Equal(new byte[] { 8, 7, 6, 5, 4, 3, 2, 1 }, b[28..36]);
    }

    [Fact]
    public void Refuses_unknown_version_truncated_and_out_of_range_records()
    {
        byte[] good = DriftStateSerializer.Write(new DriftState(1, 1, 1, 3, 1, LeapIndicator.NoWarning));
        byte[] v2 = (byte[])good.Clone();
        v2[0] = 2;
        Assert.Contains("version 2", Assert.Throws<SerializationException>(() => DriftStateSerializer.Read(v2)).Message);
        Assert.Throws<SerializationException>(() => DriftStateSerializer.Read(good[..35]));
        Assert.Throws<SerializationException>(() => DriftStateSerializer.Read([]));
        byte[] leap = (byte[])good.Clone();
        leap[1] = 4;
        Assert.Throws<SerializationException>(() => DriftStateSerializer.Read(leap));
        byte[] stratum = (byte[])good.Clone();
        stratum[2] = 17;
        Assert.Throws<SerializationException>(() => DriftStateSerializer.Read(stratum));
        Assert.Throws<ArgumentOutOfRangeException>(() => DriftStateSerializer.Write(new DriftState(0, 0, 0, 17, 0, LeapIndicator.NoWarning)));
    }

    [Fact]
    public async Task Akka_picks_it_for_drift_state_through_the_rendered_hocon()
    {
        using var dir = new TempDir();
        var system = PersistenceSystems.Start(PersistenceSettings.SqliteIn(dir.Path));
        try
        {
            var state = new DriftState(-3.25, 0.5, 1e-6, 3, 42, LeapIndicator.NoWarning);
            var serializer = system.Serialization.FindSerializerFor(state);
            Assert.IsType<DriftStateSerializer>(serializer);
            Assert.Equal(DriftStateSerializer.SerializerId, serializer.Identifier);
            Assert.False(serializer.IncludeManifest);
            byte[] bytes = serializer.ToBinary(state);
            Assert.Equal(state, system.Serialization.Deserialize(bytes, DriftStateSerializer.SerializerId, typeof(DriftState)));
        }
        finally
        {
            await system.Terminate();
        }
    }
}
