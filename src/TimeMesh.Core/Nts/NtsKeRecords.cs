using System.Buffers.Binary;
using System.Text;

namespace TimeMesh.Core.Nts;

/// <summary>NTS-KE record types (RFC 8915 section 4).</summary>
public static class NtsKeRecordType
{
    /// <summary>End of Message: closes every request and response; critical, empty body.</summary>
    public const ushort EndOfMessage = 0;
    /// <summary>NTS Next Protocol Negotiation: a list of 16-bit protocol ids; only NTPv4 (<see cref="NtsIds.ProtocolNtpV4"/>) is spoken here. Empty in a response means none was acceptable.</summary>
    public const ushort NextProtocol = 1;
    /// <summary>Error: a 16-bit <see cref="NtsKeErrorCode"/>; the exchange has failed.</summary>
    public const ushort Error = 2;
    /// <summary>Warning: a 16-bit code; RFC 8915 defines none, so a client here treats any as a failure.</summary>
    public const ushort Warning = 3;
    /// <summary>AEAD Algorithm Negotiation: a list of 16-bit IANA AEAD ids; only <see cref="NtsIds.AeadAesSivCmac256"/> is supported.</summary>
    public const ushort AeadAlgorithm = 4;
    /// <summary>New Cookie for NTPv4: one opaque cookie per record, sent by the server only.</summary>
    public const ushort NewCookie = 5;
    /// <summary>NTPv4 Server Negotiation: the host name or address (ASCII) to send NTP to, when not the KE server's own host.</summary>
    public const ushort Server = 6;
    /// <summary>NTPv4 Port Negotiation: the 16-bit UDP port to send NTP to, when not 123.</summary>
    public const ushort Port = 7;
}

/// <summary>NTS-KE error codes (RFC 8915 section 4.1.3).</summary>
public static class NtsKeErrorCode
{
    /// <summary>The request held a record with the critical bit set whose type the server does not know.</summary>
    public const ushort UnrecognisedCriticalRecord = 0;
    /// <summary>The request was malformed or broke the protocol (duplicate or missing records, truncation, records a client must not send).</summary>
    public const ushort BadRequest = 1;
    /// <summary>The server failed for reasons of its own; the request itself may be fine.</summary>
    public const ushort InternalServerError = 2;
}

/// <summary>Identifiers negotiated over NTS-KE.</summary>
public static class NtsIds
{
    /// <summary>Next protocol id of NTPv4.</summary>
    public const ushort ProtocolNtpV4 = 0;
    /// <summary>AEAD_AES_SIV_CMAC_256 in the IANA AEAD registry.</summary>
    public const ushort AeadAesSivCmac256 = 15;
    /// <summary>The TLS ALPN protocol id both sides must agree on for NTS-KE (RFC 8915 section 4).</summary>
    public const string Alpn = "ntske/1";
    /// <summary>The TLS exporter label from which the C2S and S2C keys are derived (RFC 8915 section 5.1), with <see cref="ExporterContext"/> choosing the direction.</summary>
    public const string ExporterLabel = "EXPORTER-network-time-security";
    /// <summary>The IANA TCP port for NTS-KE; the mesh's own NTS-KE listener defaults to the port after it.</summary>
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
    /// <summary>The record's critical bit: a receiver that does not know the type must reject the message rather than skip the record.</summary>
    public bool Critical { get; } = critical;
    /// <summary>The record type, the low 15 bits of the first word (see <see cref="NtsKeRecordType"/>).</summary>
    public ushort Type { get; } = type;
    /// <summary>The record's body, a slice of the buffer it was read from (no copy), 0 to 65535 bytes.</summary>
    public ReadOnlySpan<byte> Body { get; } = body;
}

/// <summary>What <see cref="NtsKeCodec.TryRead"/> found at the start of a buffer.</summary>
public enum NtsKeReadResult : byte
{
    /// <summary>A whole record was read; the record and the bytes it took are in the out parameters.</summary>
    Record,
    /// <summary>The buffer ends inside a record: read more from the stream.</summary>
    NeedMore,
}

/// <summary>The record wire format: 1 critical bit and 15 type bits, a 16-bit body length, the body.</summary>
public static class NtsKeCodec
{
    /// <summary>Bytes before each record body: critical bit and type (16 bits), then the body length (16 bits).</summary>
    public const int HeaderLength = 4;

    /// <summary>Reads the record at the start of <paramref name="buffer"/> without copying its body. Types are not checked here.</summary>
    /// <param name="buffer">Bytes received so far, starting at a record boundary.</param>
    /// <param name="record">The record read; default when more bytes are needed.</param>
    /// <param name="consumed">Header plus body length of the record read; 0 when more bytes are needed.</param>
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

    /// <summary>Writes a record whose body is one big-endian 16-bit value (a protocol id, an AEAD id, a port, an error code); returns its length, 6.</summary>
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
    /// <summary>The <see cref="NtsKeErrorCode"/> a server sends back in its Error record, or the code a client received or assigned.</summary>
    public ushort ErrorCode { get; } = errorCode;
}

/// <summary>What a server makes of a client's request (RFC 8915 section 4.1).</summary>
/// <param name="NtpV4Offered">The client's Next Protocol record lists NTPv4; when false the server answers with an empty Next Protocol record.</param>
/// <param name="AesSivOffered">The client's AEAD Algorithm record lists AEAD_AES_SIV_CMAC_256; when false the server answers with an empty AEAD record.</param>
public sealed record NtsKeRequest(bool NtpV4Offered, bool AesSivOffered)
{
    /// <summary>Requests are small; a longer one is refused before it is buffered further.</summary>
    public const int MaxLength = 4096;

    /// <summary>Reads a client's whole request (up to and including End of Message) and notes which of our protocol and algorithm it offers. Server and Port records are accepted and ignored.</summary>
    /// <exception cref="NtsKeProtocolException">With <see cref="NtsKeErrorCode.BadRequest"/> for a truncated or malformed request, a duplicate or missing Next Protocol or AEAD record, or a record a client must not send; with <see cref="NtsKeErrorCode.UnrecognisedCriticalRecord"/> for an unknown critical record.</exception>
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
/// <param name="Cookies">The cookies from the New Cookie records, at least one and at most <see cref="NtsIds.CookiesPerExchange"/> (more are dropped).</param>
/// <param name="Server">Where to send NTP instead of the KE server's host; null when the response named none.</param>
/// <param name="Port">Which UDP port to send NTP to; null when the response named none (then 123).</param>
public sealed record NtsKeResponse(IReadOnlyList<byte[]> Cookies, string? Server, int? Port)
{
    /// <summary>Longest response a client reads before giving up, bytes: room for 8 cookies of the largest size and more.</summary>
    public const int MaxLength = 65536;
    /// <summary>Longest cookie we keep (chrony's limit is 256 bytes).</summary>
    public const int MaxCookieLength = 256;

    /// <summary>Reads a server's whole response as a client, requiring NTPv4, AES-SIV-CMAC-256 and at least one cookie.</summary>
    /// <exception cref="NtsKeProtocolException">The server sent an Error (its code is kept) or a Warning, the response is malformed, a cookie is empty or longer than <see cref="MaxCookieLength"/>, the protocol or algorithm was refused, or no cookie came; an unknown critical record gives <see cref="NtsKeErrorCode.UnrecognisedCriticalRecord"/>.</exception>
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
