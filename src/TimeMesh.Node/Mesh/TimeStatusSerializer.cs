using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// The wire form of <see cref="TimeStatus"/> (version 1) and of <see cref="SignedStatus"/> (version 2) between nodes,
/// told apart by their first byte (<see cref="StatusWire"/>). Compact, explicit and never reflection-driven.
/// </summary>
public sealed class TimeStatusSerializer(ExtendedActorSystem system) : Serializer(system)
{
    public const int Id = 1_605_201;

    public override int Identifier => Id;
    public override bool IncludeManifest => false;

    public override byte[] ToBinary(object obj) => obj switch
    {
        TimeStatus s => StatusWire.Encode(s),
        SignedStatus s => StatusWire.EncodeSigned(s),
        _ => throw new ArgumentException($"cannot serialize {obj.GetType()}", nameof(obj)),
    };

    public override object FromBinary(byte[] bytes, Type? type)
    {
        try
        {
            return bytes.Length > 0 && bytes[0] == StatusWire.Version2 ? StatusWire.DecodeSignedMessage(bytes) : StatusWire.Decode(bytes);
        }
        catch (StatusFormatException e)
        {
            throw new SerializationException(e.Message);
        }
    }
}
