using System.Buffers.Binary;
using System.Text;

namespace TimeMesh.Core.Mesh;

/// <summary>A wire field that does not parse: the whole message is dropped.</summary>
public sealed class StatusFormatException(string message) : Exception(message);

/// <summary>
/// A status signed by its node (with cluster TLS): <see cref="Payload"/> is what was signed and the only place the
/// status is read from (<see cref="StatusWire.DecodeSigned"/>), <see cref="Certificate"/> the signer's certificate
/// (DER), <see cref="Signature"/> its key's signature over the payload.
/// </summary>
/// <param name="Payload">The signed bytes from <see cref="StatusWire.SigningPayload"/>, at most <see cref="StatusWire.MaxPayloadBytes"/> on the wire.</param>
/// <param name="Certificate">The signer's X.509 certificate, DER-encoded, at most <see cref="StatusWire.MaxCertificateBytes"/>.</param>
/// <param name="Signature">The signature by the certificate's key over <paramref name="Payload"/>, at most <see cref="StatusWire.MaxSignatureBytes"/>.</param>
public sealed record SignedStatus(byte[] Payload, byte[] Certificate, byte[] Signature);

/// <summary>
/// The byte forms of a <see cref="TimeStatus"/>, pure functions with no I/O.
/// <para>
/// Version 1, the status alone: a version byte, fixed fields big-endian, two length-prefixed UTF-8 strings. Loopback
/// and insecure meshes send it as it is.
/// </para>
/// <para>
/// The signed payload (canonical bytes): the 8-byte tag <c>TMSTAT2\0</c> (a signature over it cannot be taken for a
/// signature over any other TimeMesh message), the sender's incarnation (its cluster UID), its sequence number
/// (strictly increasing within the incarnation), then the version-1 bytes. Everything the receiver acts on is inside.
/// </para>
/// <para>
/// Version 2, a <see cref="SignedStatus"/> on the wire: a version byte 2, then payload, certificate and signature,
/// each prefixed with a 16-bit big-endian length.
/// </para>
/// </summary>
public static class StatusWire
{
    /// <summary>The first byte of a message: 1 for a bare status (<see cref="Encode"/>), 2 for a signed one (<see cref="EncodeSigned"/>).</summary>
    public const byte Version1 = 1, Version2 = 2;
    private const int FixedLength = 1 + 1 + 1 + 8 + 1 + 1 + 4 + 8 + 8;
    private static ReadOnlySpan<byte> PayloadTag => "TMSTAT2\0"u8;
    private const int PayloadHeaderLength = 8 + 8 + 8;

    /// <summary>Bounds of a version-2 message's parts: larger than any certificate or signature of ours, small enough to refuse junk early.</summary>
    public const int MaxPayloadBytes = 1024, MaxCertificateBytes = 8192, MaxSignatureBytes = 1024;

    /// <summary>The version-1 bytes of a status: what unsigned meshes send and what a signed payload wraps.</summary>
    /// <exception cref="ArgumentException">The node name or NTP endpoint is longer than 65535 bytes in UTF-8.</exception>
    public static byte[] Encode(TimeStatus s)
    {
        byte[] node = Encoding.UTF8.GetBytes(s.Node);
        byte[] endpoint = Encoding.UTF8.GetBytes(s.NtpEndpoint);
        if (node.Length > ushort.MaxValue || endpoint.Length > ushort.MaxValue) throw new ArgumentException("status strings longer than 65535 bytes", nameof(s));
        var bytes = new byte[FixedLength + 2 + node.Length + 2 + endpoint.Length];
        var span = bytes.AsSpan();
        span[0] = Version1;
        span[1] = (byte)s.Role;
        span[2] = s.Stratum;
        BinaryPrimitives.WriteDoubleBigEndian(span[3..], s.RootDistanceSeconds);
        span[11] = (byte)((s.UpstreamSynchronised ? 1 : 0) | (s.ClaimsLeadership ? 2 : 0));
        span[12] = (byte)(s.Serving ? 1 : 0);
        BinaryPrimitives.WriteUInt32BigEndian(span[13..], s.ReferenceId);
        BinaryPrimitives.WriteInt64BigEndian(span[17..], s.SynchronisedSinceUnixNs);
        BinaryPrimitives.WriteInt64BigEndian(span[25..], s.SentUnixNs);
        int o = WriteBlock(span, FixedLength, node);
        WriteBlock(span, o, endpoint);
        return bytes;
    }

    /// <summary>Reads a version-1 status, exactly as <see cref="Encode"/> writes one.</summary>
    /// <exception cref="StatusFormatException">
    /// The version byte is not 1, the message is shorter or longer than its fields say, or the role byte names no
    /// <see cref="MeshRole"/>: a message that is not exactly a status is refused, not read in part.
    /// </exception>
    public static TimeStatus Decode(ReadOnlySpan<byte> span)
    {
        if (span.Length < FixedLength + 4 || span[0] != Version1)
            throw new StatusFormatException($"not a version-{Version1} TimeStatus ({span.Length} bytes)");
        if (!Enum.IsDefined((MeshRole)span[1]))
            throw new StatusFormatException($"role byte {span[1]} names no mesh role");
        int o = FixedLength;
        string node = Encoding.UTF8.GetString(ReadBlock(span, ref o));
        string endpoint = Encoding.UTF8.GetString(ReadBlock(span, ref o));
        if (o != span.Length)
            throw new StatusFormatException($"{span.Length - o} bytes after the status's last field");
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

    /// <summary>The canonical bytes a node signs: tag, incarnation, sequence, the version-1 status.</summary>
    public static byte[] SigningPayload(TimeStatus status, long incarnation, long sequence)
    {
        byte[] body = Encode(status);
        var payload = new byte[PayloadHeaderLength + body.Length];
        PayloadTag.CopyTo(payload);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(8), incarnation);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(16), sequence);
        body.CopyTo(payload, PayloadHeaderLength);
        return payload;
    }

    /// <summary>The status, incarnation and sequence of a signed payload (the signature is checked elsewhere).</summary>
    public static (TimeStatus Status, long Incarnation, long Sequence) DecodeSigned(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < PayloadHeaderLength || !payload[..8].SequenceEqual(PayloadTag))
            throw new StatusFormatException("not a signed TimeStatus payload");
        return (Decode(payload[PayloadHeaderLength..]), BinaryPrimitives.ReadInt64BigEndian(payload[8..]), BinaryPrimitives.ReadInt64BigEndian(payload[16..]));
    }

    /// <summary>The version-2 message carrying a signed status: version byte, then payload, certificate and signature, each with a 16-bit length.</summary>
    /// <exception cref="ArgumentException">A part is larger than its bound (<see cref="MaxPayloadBytes"/>, <see cref="MaxCertificateBytes"/>, <see cref="MaxSignatureBytes"/>).</exception>
    public static byte[] EncodeSigned(SignedStatus s)
    {
        if (s.Payload.Length > MaxPayloadBytes || s.Certificate.Length > MaxCertificateBytes || s.Signature.Length > MaxSignatureBytes)
            throw new ArgumentException("signed status part over its bound", nameof(s));
        var bytes = new byte[1 + 6 + s.Payload.Length + s.Certificate.Length + s.Signature.Length];
        bytes[0] = Version2;
        int o = WriteBlock(bytes, 1, s.Payload);
        o = WriteBlock(bytes, o, s.Certificate);
        WriteBlock(bytes, o, s.Signature);
        return bytes;
    }

    /// <summary>Splits a version-2 message into its parts, copying them; neither the payload nor the signature is checked here.</summary>
    /// <exception cref="StatusFormatException">The version byte is not 2, the message is truncated or has trailing bytes, or a part is over its bound.</exception>
    public static SignedStatus DecodeSignedMessage(ReadOnlySpan<byte> span)
    {
        if (span.Length < 7 || span[0] != Version2) throw new StatusFormatException($"not a version-{Version2} signed TimeStatus ({span.Length} bytes)");
        int o = 1;
        var payload = ReadBlock(span, ref o);
        var certificate = ReadBlock(span, ref o);
        var signature = ReadBlock(span, ref o);
        if (o != span.Length) throw new StatusFormatException("signed TimeStatus has trailing bytes");
        if (payload.Length > MaxPayloadBytes || certificate.Length > MaxCertificateBytes || signature.Length > MaxSignatureBytes)
            throw new StatusFormatException("signed TimeStatus part over its bound");
        return new SignedStatus(payload.ToArray(), certificate.ToArray(), signature.ToArray());
    }

    private static int WriteBlock(Span<byte> span, int offset, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span[offset..], (ushort)value.Length);
        value.CopyTo(span[(offset + 2)..]);
        return offset + 2 + value.Length;
    }

    private static ReadOnlySpan<byte> ReadBlock(ReadOnlySpan<byte> span, ref int offset)
    {
        if (offset + 2 > span.Length) throw new StatusFormatException("TimeStatus truncated");
        int length = BinaryPrimitives.ReadUInt16BigEndian(span[offset..]);
        if (offset + 2 + length > span.Length) throw new StatusFormatException("TimeStatus truncated");
        var value = span.Slice(offset + 2, length);
        offset += 2 + length;
        return value;
    }
}
