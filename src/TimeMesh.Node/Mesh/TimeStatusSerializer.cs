using System.Buffers.Binary;
using System.Text;
using Akka.Actor;
using System.Runtime.Serialization;
using Akka.Serialization;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// The wire form of <see cref="TimeStatus"/> between nodes: a version byte, fixed fields big-endian, two
/// length-prefixed UTF-8 strings. Compact, explicit and never reflection-driven.
/// </summary>
public sealed class TimeStatusSerializer(ExtendedActorSystem system) : Serializer(system)
{
    public const int Id = 1_605_201;
    private const byte Version = 1;
    private const int FixedLength = 1 + 1 + 1 + 8 + 1 + 1 + 4 + 8 + 8;

    public override int Identifier => Id;
    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj)
    {
        if (obj is not TimeStatus s) throw new ArgumentException($"cannot serialize {obj.GetType()}", nameof(obj));
        byte[] node = Encoding.UTF8.GetBytes(s.Node);
        byte[] endpoint = Encoding.UTF8.GetBytes(s.NtpEndpoint);
        var bytes = new byte[FixedLength + 2 + node.Length + 2 + endpoint.Length];
        var span = bytes.AsSpan();
        span[0] = Version;
        span[1] = (byte)s.Role;
        span[2] = s.Stratum;
        BinaryPrimitives.WriteDoubleBigEndian(span[3..], s.RootDistanceSeconds);
        span[11] = (byte)((s.UpstreamSynchronised ? 1 : 0) | (s.ClaimsLeadership ? 2 : 0));
        span[12] = (byte)(s.Serving ? 1 : 0);
        BinaryPrimitives.WriteUInt32BigEndian(span[13..], s.ReferenceId);
        BinaryPrimitives.WriteInt64BigEndian(span[17..], s.SynchronisedSinceUnixNs);
        BinaryPrimitives.WriteInt64BigEndian(span[25..], s.SentUnixNs);
        int o = FixedLength;
        o = WriteString(span, o, node);
        WriteString(span, o, endpoint);
        return bytes;
    }

    public override object FromBinary(byte[] bytes, Type? type)
    {
        var span = bytes.AsSpan();
        if (span.Length < FixedLength + 4 || span[0] != Version)
            throw new SerializationException($"not a version-{Version} TimeStatus ({bytes.Length} bytes)");
        int o = FixedLength;
        string node = ReadString(span, ref o);
        string endpoint = ReadString(span, ref o);
        return new TimeStatus
        {
            Role = (MeshRole)span[1],
            Stratum = span[2],
            RootDistanceSeconds = BinaryPrimitives.ReadDoubleBigEndian(span[3..]),
            UpstreamSynchronised = (span[11] & 1) != 0,
            ClaimsLeadership = (span[11] & 2) != 0,
            Serving = span[12] != 0,
            ReferenceId = BinaryPrimitives.ReadUInt32BigEndian(span[13..]),
            SynchronisedSinceUnixNs = BinaryPrimitives.ReadInt64BigEndian(span[17..]),
            SentUnixNs = BinaryPrimitives.ReadInt64BigEndian(span[25..]),
            Node = node,
            NtpEndpoint = endpoint,
        };
    }

    private static int WriteString(Span<byte> span, int offset, byte[] value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span[offset..], (ushort)value.Length);
        value.CopyTo(span[(offset + 2)..]);
        return offset + 2 + value.Length;
    }

    private static string ReadString(ReadOnlySpan<byte> span, ref int offset)
    {
        if (offset + 2 > span.Length) throw new SerializationException("TimeStatus truncated");
        int length = BinaryPrimitives.ReadUInt16BigEndian(span[offset..]);
        if (offset + 2 + length > span.Length) throw new SerializationException("TimeStatus truncated");
        string value = Encoding.UTF8.GetString(span.Slice(offset + 2, length));
        offset += 2 + length;
        return value;
    }
}
