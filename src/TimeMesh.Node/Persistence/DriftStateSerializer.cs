using System.Buffers.Binary;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Node.Persistence;

/// <summary>
/// The binary form of <see cref="DriftState"/>, for the journal and the snapshot store alike: 36 bytes,
/// little-endian, led by a format version so that a later layout can still read this one.
/// <code>
/// 0      version (1)
/// 1      leap indicator (0–3)
/// 2      stratum (0–16)
/// 3      reserved (0)
/// 4..11  frequency, ppm (IEEE 754 double)
/// 12..19 skew, ppm (double)
/// 20..27 last offset, s (double)
/// 28..35 last sync time, Unix ns (int64)
/// </code>
/// Bound in HOCON by <see cref="PersistenceSettings.ToAkkaHocon"/> (akka.actor.serializers / serialization-bindings).
/// </summary>
public sealed class DriftStateSerializer(ExtendedActorSystem system) : Serializer(system)
{
    /// <summary>Akka serializer id; 0–40 are Akka's own.</summary>
    public const int SerializerId = 7_301;
    public const byte Version1 = 1;
    public const int Length = 36;

    public override int Identifier => SerializerId;

    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        if (obj is not DriftState state)
            throw new ArgumentException($"{nameof(DriftStateSerializer)} writes only {nameof(DriftState)}, not {obj?.GetType().FullName ?? "null"}", nameof(obj));
        return Write(state);
    }

    public override object FromBinary(byte[] bytes, Type type) => Read(bytes);

    /// <summary>The binary form of one state.</summary>
    public static byte[] Write(DriftState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Stratum > 16) throw new ArgumentOutOfRangeException(nameof(state), state.Stratum, "stratum must be 0 to 16");
        if ((byte)state.Leap > 3) throw new ArgumentOutOfRangeException(nameof(state), state.Leap, "leap indicator must be 0 to 3");
        var bytes = new byte[Length];
        var span = bytes.AsSpan();
        span[0] = Version1;
        span[1] = (byte)state.Leap;
        span[2] = state.Stratum;
        span[3] = 0;
        BinaryPrimitives.WriteDoubleLittleEndian(span[4..], state.FrequencyPpm);
        BinaryPrimitives.WriteDoubleLittleEndian(span[12..], state.SkewPpm);
        BinaryPrimitives.WriteDoubleLittleEndian(span[20..], state.LastOffsetSeconds);
        BinaryPrimitives.WriteInt64LittleEndian(span[28..], state.LastSyncUnixNs);
        return bytes;
    }

    /// <summary>Reads one state; anything but a well-formed version 1 record is a <see cref="SerializationException"/>.</summary>
    public static DriftState Read(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) throw new SerializationException("drift state: empty record");
        if (bytes[0] != Version1)
            throw new SerializationException($"drift state: format version {bytes[0]} is not known (this build reads version {Version1})");
        if (bytes.Length != Length)
            throw new SerializationException($"drift state: version 1 record is {bytes.Length} bytes, expected {Length}");
        byte leap = bytes[1], stratum = bytes[2];
        if (leap > 3) throw new SerializationException($"drift state: leap indicator {leap} out of range 0-3");
        if (stratum > 16) throw new SerializationException($"drift state: stratum {stratum} out of range 0-16");
        return new DriftState(
            FrequencyPpm: BinaryPrimitives.ReadDoubleLittleEndian(bytes[4..]),
            SkewPpm: BinaryPrimitives.ReadDoubleLittleEndian(bytes[12..]),
            LastOffsetSeconds: BinaryPrimitives.ReadDoubleLittleEndian(bytes[20..]),
            Stratum: stratum,
            LastSyncUnixNs: BinaryPrimitives.ReadInt64LittleEndian(bytes[28..]),
            Leap: (LeapIndicator)leap);
    }
}
