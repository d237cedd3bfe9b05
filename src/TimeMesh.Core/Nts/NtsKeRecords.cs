using System.Buffers.Binary;
using System.Text;

namespace TimeMesh.Core.Nts;

/// <summary>NTS-KE record types (RFC 8915 section 4).</summary>
public static class NtsKeRecordType
{
    public const ushort EndOfMessage = 0;
    public const ushort NextProtocol = 1;
    public const ushort Error = 2;
    public const ushort Warning = 3;
    public const ushort AeadAlgorithm = 4;
    public const ushort NewCookie = 5;
    public const ushort Server = 6;
    public const ushort Port = 7;
}

/// <summary>NTS-KE error codes (RFC 8915 section 4.1.3).</summary>
public static class NtsKeErrorCode
{
    public const ushort UnrecognisedCriticalRecord = 0;
    public const ushort BadRequest = 1;
    public const ushort InternalServerError = 2;
}

/// <summary>Identifiers negotiated over NTS-KE.</summary>
public static class NtsIds
{
    /// <summary>Next protocol id of NTPv4.</summary>
    public const ushort ProtocolNtpV4 = 0;
    /// <summary>AEAD_AES_SIV_CMAC_256 in the IANA AEAD registry.</summary>
    public const ushort AeadAesSivCmac256 = 15;
    public const string Alpn = "ntske/1";
    public const string ExporterLabel = "EXPORTER-network-time-security";
    public const int DefaultKePort = 4460;
    /// <summary>Cookies a server hands out per key exchange and a client keeps at most (RFC 8915 recommends 8).</summary>
    public const int CookiesPerExchange = 8;

    /// <summary>The TLS exporter context for a direction: protocol id, AEAD id, then 0 (client to server) or 1.</summary>
    public static byte[] ExporterContext(bool serverToClient) =>
        [0, (byte)ProtocolNtpV4, 0, (byte)AeadAesSivCmac256, serverToClient ? (byte)1 : (byte)0];
}

/// <summary>One record: the critical bit, the type and the body.</summary>
public readonly ref struct NtsKeRecord(bool critical, ushort type, ReadOnlySpan<byte> body)
{
    public bool Critical { get; } = critical;
    public ushort Type { get; } = type;
    public ReadOnlySpan<byte> Body { get; } = body;
}

public enum NtsKeReadResult : byte
{
    Record,
    /// <summary>The buffer ends inside a record: read more from the stream.</summary>
    NeedMore,
}

/// <summary>The record wire format: 1 critical bit and 15 type bits, a 16-bit body length, the body.</summary>
public static class NtsKeCodec
{
    public const int HeaderLength = 4;

    public static NtsKeReadResult TryRead(ReadOnlySpan<byte> buffer, out NtsKeRecord record, out int consumed)
    {
        record = default;
        consumed = 0;
        if (buffer.Length < HeaderLength) return NtsKeReadResult.NeedMore;
        ushort first = BinaryPrimitives.ReadUInt16BigEndian(buffer);
        int length = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        if (buffer.Length < HeaderLength + length) return NtsKeReadResult.NeedMore;
        record = new NtsKeRecord((first & 0x8000) != 0, (ushort)(first & 0x7FFF), buffer.Slice(HeaderLength, length));
        consumed = HeaderLength + length;
        return NtsKeReadResult.Record;
    }

    /// <summary>Writes one record; returns its length.</summary>
    public static int Write(Span<byte> destination, bool critical, ushort type, ReadOnlySpan<byte> body)
    {
        if (body.Length > ushort.MaxValue) throw new ArgumentException("a record body is at most 65535 bytes", nameof(body));
        if (type > 0x7FFF) throw new ArgumentOutOfRangeException(nameof(type));
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(type | (critical ? 0x8000 : 0)));
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)body.Length);
        body.CopyTo(destination[HeaderLength..]);
        return HeaderLength + body.Length;
    }

    public static int WriteU16(Span<byte> destination, bool critical, ushort type, ushort value)
    {
        Span<byte> body = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(body, value);
        return Write(destination, critical, type, body);
    }

    /// <summary>
    /// Whether <paramref name="buffer"/> holds a whole message (records up to and including End of Message):
    /// its length in <paramref name="messageLength"/>. False while more is needed. Throws
    /// <see cref="NtsKeProtocolException"/> when the message would exceed <paramref name="maxBytes"/>.
    /// </summary>
    public static bool TryFindMessage(ReadOnlySpan<byte> buffer, int maxBytes, out int messageLength)
    {
        messageLength = 0;
        int offset = 0;
        while (true)
        {
            if (offset > maxBytes) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, $"message longer than {maxBytes} bytes");
            if (TryRead(buffer[offset..], out var record, out int consumed) == NtsKeReadResult.NeedMore)
            {
                if (buffer.Length > maxBytes) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, $"message longer than {maxBytes} bytes");
                return false;
            }
            offset += consumed;
            if (record.Type == NtsKeRecordType.EndOfMessage)
            {
                if (offset > maxBytes) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, $"message longer than {maxBytes} bytes");
                if (record.Body.Length != 0) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "End of Message with a body");
                messageLength = offset;
                return true;
            }
        }
    }
}

/// <summary>A violation of the NTS-KE protocol, with the error code to send back (servers) or report (clients).</summary>
public sealed class NtsKeProtocolException(ushort errorCode, string message) : Exception(message)
{
    public ushort ErrorCode { get; } = errorCode;
}

/// <summary>What a server makes of a client's request (RFC 8915 section 4.1).</summary>
public sealed record NtsKeRequest(bool NtpV4Offered, bool AesSivOffered)
{
    /// <summary>Requests are small; a longer one is refused before it is buffered further.</summary>
    public const int MaxLength = 4096;

    public static NtsKeRequest Parse(ReadOnlySpan<byte> message)
    {
        bool sawNextProtocol = false, sawAead = false, ntp = false, siv = false, sawEnd = false;
        while (!message.IsEmpty)
        {
            if (sawEnd) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "records after End of Message");
            if (NtsKeCodec.TryRead(message, out var record, out int consumed) == NtsKeReadResult.NeedMore)
                throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "truncated record");
            message = message[consumed..];
            switch (record.Type)
            {
                case NtsKeRecordType.EndOfMessage:
                    if (!record.Body.IsEmpty) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "End of Message with a body");
                    sawEnd = true;
                    break;
                case NtsKeRecordType.NextProtocol:
                    if (sawNextProtocol) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "two Next Protocol records");
                    sawNextProtocol = true;
                    ntp = ContainsU16(record.Body, NtsIds.ProtocolNtpV4);
                    break;
                case NtsKeRecordType.AeadAlgorithm:
                    if (sawAead) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "two AEAD Algorithm records");
                    sawAead = true;
                    siv = ContainsU16(record.Body, NtsIds.AeadAesSivCmac256);
                    break;
                case NtsKeRecordType.Error:
                case NtsKeRecordType.Warning:
                case NtsKeRecordType.NewCookie:
                    // A client sends none of these.
                    throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, $"record type {record.Type} in a request");
                case NtsKeRecordType.Server:
                case NtsKeRecordType.Port:
                    // A client may ask for a server or port; we always answer with our own.
                    break;
                default:
                    if (record.Critical) throw new NtsKeProtocolException(NtsKeErrorCode.UnrecognisedCriticalRecord, $"unrecognised critical record type {record.Type}");
                    break;
            }
        }
        if (!sawEnd) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "no End of Message");
        if (!sawNextProtocol) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "no Next Protocol record");
        if (ntp && !sawAead) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "no AEAD Algorithm record");
        return new NtsKeRequest(ntp, siv);
    }

    /// <summary>The request a client sends: NTPv4 and AES-SIV-CMAC-256.</summary>
    public static byte[] Build()
    {
        var buffer = new byte[64];
        int n = NtsKeCodec.WriteU16(buffer, true, NtsKeRecordType.NextProtocol, NtsIds.ProtocolNtpV4);
        n += NtsKeCodec.WriteU16(buffer.AsSpan(n), true, NtsKeRecordType.AeadAlgorithm, NtsIds.AeadAesSivCmac256);
        n += NtsKeCodec.Write(buffer.AsSpan(n), true, NtsKeRecordType.EndOfMessage, default);
        return buffer[..n];
    }

    private static bool ContainsU16(ReadOnlySpan<byte> body, ushort value)
    {
        if (body.Length % 2 != 0) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "odd-length list of 16-bit ids");
        for (int i = 0; i < body.Length; i += 2)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(body[i..]) == value) return true;
        }
        return false;
    }
}

/// <summary>A server's answer as a client reads it.</summary>
public sealed record NtsKeResponse(IReadOnlyList<byte[]> Cookies, string? Server, int? Port)
{
    public const int MaxLength = 65536;
    /// <summary>Longest cookie we keep (chrony's limit is 256 bytes).</summary>
    public const int MaxCookieLength = 256;

    public static NtsKeResponse Parse(ReadOnlySpan<byte> message)
    {
        bool sawEnd = false, ntp = false, siv = false, sawNext = false, sawAead = false;
        string? server = null;
        int? port = null;
        var cookies = new List<byte[]>();
        while (!message.IsEmpty)
        {
            if (sawEnd) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "records after End of Message");
            if (NtsKeCodec.TryRead(message, out var record, out int consumed) == NtsKeReadResult.NeedMore)
                throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "truncated record");
            message = message[consumed..];
            switch (record.Type)
            {
                case NtsKeRecordType.EndOfMessage: sawEnd = true; break;
                case NtsKeRecordType.NextProtocol:
                    if (sawNext) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "two Next Protocol records");
                    sawNext = true;
                    ntp = record.Body.Length == 2 && BinaryPrimitives.ReadUInt16BigEndian(record.Body) == NtsIds.ProtocolNtpV4;
                    break;
                case NtsKeRecordType.AeadAlgorithm:
                    if (sawAead) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "two AEAD Algorithm records");
                    sawAead = true;
                    siv = record.Body.Length == 2 && BinaryPrimitives.ReadUInt16BigEndian(record.Body) == NtsIds.AeadAesSivCmac256;
                    break;
                case NtsKeRecordType.Error:
                    throw new NtsKeProtocolException(record.Body.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(record.Body) : NtsKeErrorCode.BadRequest,
                        $"the server sent error {(record.Body.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(record.Body) : -1)}");
                case NtsKeRecordType.Warning:
                    throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "the server sent a warning we do not understand");
                case NtsKeRecordType.NewCookie:
                    if (record.Body.Length is 0 or > MaxCookieLength) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, $"cookie of {record.Body.Length} bytes");
                    if (cookies.Count < NtsIds.CookiesPerExchange) cookies.Add(record.Body.ToArray());
                    break;
                case NtsKeRecordType.Server:
                    if (record.Body.Length is 0 or > 255) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "bad server name");
                    server = Encoding.ASCII.GetString(record.Body);
                    break;
                case NtsKeRecordType.Port:
                    if (record.Body.Length != 2) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "bad port record");
                    port = BinaryPrimitives.ReadUInt16BigEndian(record.Body);
                    break;
                default:
                    if (record.Critical) throw new NtsKeProtocolException(NtsKeErrorCode.UnrecognisedCriticalRecord, $"unrecognised critical record type {record.Type}");
                    break;
            }
        }
        if (!sawEnd) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "no End of Message");
        if (!ntp) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "the server did not accept NTPv4");
        if (!siv) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "the server did not accept AES-SIV-CMAC-256");
        if (cookies.Count == 0) throw new NtsKeProtocolException(NtsKeErrorCode.BadRequest, "no cookies");
        return new NtsKeResponse(cookies, server, port);
    }

    /// <summary>
    /// A server's response: for a good request NTPv4, AES-SIV-CMAC-256, the cookies and where to send NTP
    /// (server and port records only when they differ from the KE connection's host and port 123).
    /// </summary>
    public static byte[] Build(NtsKeRequest request, IReadOnlyList<byte[]> cookies, string? server, int? port)
    {
        var buffer = new byte[64 + cookies.Sum(c => c.Length + 4) + (server?.Length ?? 0)];
        int n = 0;
        if (!request.NtpV4Offered)
        {
            // RFC 8915 4.1.2: nothing in common is an empty Next Protocol record.
            n += NtsKeCodec.Write(buffer, true, NtsKeRecordType.NextProtocol, default);
            n += NtsKeCodec.Write(buffer.AsSpan(n), true, NtsKeRecordType.EndOfMessage, default);
            return buffer[..n];
        }
        n += NtsKeCodec.WriteU16(buffer, true, NtsKeRecordType.NextProtocol, NtsIds.ProtocolNtpV4);
        if (!request.AesSivOffered)
        {
            n += NtsKeCodec.Write(buffer.AsSpan(n), true, NtsKeRecordType.AeadAlgorithm, default);
            n += NtsKeCodec.Write(buffer.AsSpan(n), true, NtsKeRecordType.EndOfMessage, default);
            return buffer[..n];
        }
        n += NtsKeCodec.WriteU16(buffer.AsSpan(n), true, NtsKeRecordType.AeadAlgorithm, NtsIds.AeadAesSivCmac256);
        if (!string.IsNullOrEmpty(server)) n += NtsKeCodec.Write(buffer.AsSpan(n), true, NtsKeRecordType.Server, Encoding.ASCII.GetBytes(server));
        if (port is { } p) n += NtsKeCodec.WriteU16(buffer.AsSpan(n), true, NtsKeRecordType.Port, (ushort)p);
        foreach (var cookie in cookies) n += NtsKeCodec.Write(buffer.AsSpan(n), false, NtsKeRecordType.NewCookie, cookie);
        n += NtsKeCodec.Write(buffer.AsSpan(n), true, NtsKeRecordType.EndOfMessage, default);
        return buffer[..n];
    }

    /// <summary>An error response (RFC 8915 4.1.3): the error record and End of Message.</summary>
    public static byte[] BuildError(ushort code)
    {
        var buffer = new byte[12];
        int n = NtsKeCodec.WriteU16(buffer, true, NtsKeRecordType.Error, code);
        n += NtsKeCodec.Write(buffer.AsSpan(n), true, NtsKeRecordType.EndOfMessage, default);
        return buffer[..n];
    }
}
