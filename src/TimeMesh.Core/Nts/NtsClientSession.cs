using System.Buffers.Binary;
using System.Security.Cryptography;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Nts;

/// <summary>What a reply to an NTS request turned out to be.</summary>
public enum NtsReplyCheck : byte
{
    /// <summary>Ours and authenticated; its cookies are in the jar.</summary>
    Authentic,
    /// <summary>An NTSN kiss-o'-death for our request: the server no longer knows our cookies; do a new key exchange.</summary>
    CookieNotRecognised,
    /// <summary>Not for our request, or not authentic: ignore it.</summary>
    Bogus,
}

/// <summary>
/// The client side of NTS for one server after a key exchange (RFC 8915 section 5): the two keys, a jar of
/// up to 8 cookies, the extension fields of each request and the check of each reply.
/// </summary>
public sealed class NtsClientSession : IDisposable
{
    private readonly AesSivCmac256 _c2s;
    private readonly AesSivCmac256 _s2c;
    private readonly byte[] _s2cKey;
    private readonly Queue<byte[]> _cookies = new();
    private readonly byte[] _uniqueId = new byte[NtsFields.UniqueIdentifierLength];
    private bool _pending;

    /// <summary>Starts a session from what one NTS-KE exchange gave the client.</summary>
    /// <param name="c2sKey">The client-to-server AEAD key exported from the TLS session (32 bytes for AES-SIV-CMAC-256); seals requests.</param>
    /// <param name="s2cKey">The server-to-client key; opens replies. It is copied.</param>
    /// <param name="cookies">The cookies from the server's New Cookie records; empty or over-long ones are skipped and only the first 8 kept.</param>
    /// <exception cref="ArgumentException">A key is not 32 bytes long.</exception>
    public NtsClientSession(ReadOnlySpan<byte> c2sKey, ReadOnlySpan<byte> s2cKey, IEnumerable<byte[]> cookies)
    {
        _c2s = new AesSivCmac256(c2sKey);
        _s2c = new AesSivCmac256(s2cKey);
        _s2cKey = s2cKey.ToArray();
        foreach (var cookie in cookies) AddCookie(cookie);
    }

    /// <summary>Cookies left in the jar, 0 to 8. Each request spends one; each authentic reply refills what it carries. At 0 a new key exchange is needed.</summary>
    public int CookieCount => _cookies.Count;
    /// <summary>Replies that <see cref="CheckReply"/> found authentic since the session began.</summary>
    public long AuthenticReplies { get; private set; }
    /// <summary>Replies <see cref="CheckReply"/> refused as <see cref="NtsReplyCheck.Bogus"/>, including any that came with no request outstanding. NTSN kisses count in neither total.</summary>
    public long RejectedReplies { get; private set; }

    /// <summary>Longest request this session writes: header, unique id, cookie, 7 placeholders, authenticator.</summary>
    public static int MaxRequestLength(int cookieLength) =>
        NtpHeader.Length + 4 + NtsFields.UniqueIdentifierLength + NtsIds.CookiesPerExchange * (4 + NtsFields.Padded(cookieLength)) + NtsFields.AuthenticatorLength(0);

    private void AddCookie(byte[] cookie)
    {
        if (cookie.Length is 0 or > NtsKeResponse.MaxCookieLength) return;
        if (_cookies.Count < NtsIds.CookiesPerExchange) _cookies.Enqueue(cookie);
    }

    /// <summary>
    /// Appends the NTS fields to a request whose 48-byte header is written in <paramref name="packet"/>: a fresh
    /// unique id, one cookie, placeholders asking for as many cookies as the jar lacks, the authenticator.
    /// False when the jar is empty (a new key exchange is due).
    /// </summary>
    public bool TryAppendRequestFields(Span<byte> packet, out int length)
    {
        length = 0;
        if (!_cookies.TryDequeue(out var cookie)) return false;
        int offset = NtpHeader.Length;
        RandomNumberGenerator.Fill(_uniqueId);
        offset += NtsFields.Write(packet[offset..], NtsFieldType.UniqueIdentifier, _uniqueId);
        offset += NtsFields.Write(packet[offset..], NtsFieldType.Cookie, cookie);
        // Each placeholder makes room for one more cookie in the reply without making the reply larger.
        int placeholders = NtsIds.CookiesPerExchange - 1 - _cookies.Count;
        for (int i = 0; i < placeholders; i++) offset += NtsFields.WriteZeros(packet[offset..], NtsFieldType.CookiePlaceholder, cookie.Length);
        length = NtsFields.WriteAuthenticator(packet, offset, _c2s, default);
        _pending = true;
        return true;
    }

    /// <summary>
    /// Checks a reply against the request last written by <see cref="TryAppendRequestFields"/>: it must echo that request's
    /// unique id and carry an authenticator that opens under the S2C key. An authentic reply's encrypted cookies go into the
    /// jar. The first authentic reply or NTSN kiss ends the request, so a copy that arrives later is bogus.
    /// </summary>
    /// <returns><see cref="NtsReplyCheck.CookieNotRecognised"/> for an NTSN kiss carrying our unique id; otherwise authentic or bogus.</returns>
    public NtsReplyCheck CheckReply(ReadOnlySpan<byte> reply)
    {
        if (!_pending) return Reject();
        Span<byte> plaintext = stackalloc byte[NtpPacket.MaxExtensionFieldsLength];
        var check = Inspect(reply, _uniqueId, _s2c, plaintext, out int plaintextLength);
        if (check == NtsReplyCheck.Bogus) return Reject();
        _pending = false;
        if (check == NtsReplyCheck.CookieNotRecognised) return check;
        AuthenticReplies++;
        var fields = plaintext[..plaintextLength];
        while (fields.Length >= 4)
        {
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(fields);
            int length = BinaryPrimitives.ReadUInt16BigEndian(fields[2..]);
            if (length < 4 || length > fields.Length) break;
            if (type == NtsFieldType.Cookie) AddCookie(fields[4..length].ToArray());
            fields = fields[length..];
        }
        return NtsReplyCheck.Authentic;
    }

    /// <summary>
    /// A check of replies to the request just written, to run on another thread (the socket's) while this session
    /// stays with its owner: it holds its own copy of the unique id and the S2C key, and changes nothing here.
    /// Null when no request is pending. The caller disposes it.
    /// </summary>
    public NtsReplyFilter? PendingReplyFilter() => _pending ? new NtsReplyFilter(_uniqueId, _s2cKey) : null;

    /// <summary>
    /// What a datagram is to a request with <paramref name="uniqueId"/>: authentic (its encrypted fields in
    /// <paramref name="plaintext"/>), an NTSN kiss for it, or bogus. Changes no state.
    /// </summary>
    internal static NtsReplyCheck Inspect(ReadOnlySpan<byte> reply, ReadOnlySpan<byte> uniqueId, AesSivCmac256 s2c, Span<byte> plaintext, out int plaintextLength)
    {
        plaintextLength = 0;
        if (!NtpPacket.TryParse(reply, out var packet, out _) || packet.Trailer.HasMac) return NtsReplyCheck.Bogus;
        int offset = NtpHeader.Length;
        int end = NtpHeader.Length + packet.Trailer.ExtensionFieldsLength;
        bool uidMatches = false;
        int authOffset = -1, authLength = 0;
        while (offset < end)
        {
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(reply[offset..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(reply[(offset + 2)..]);
            if (type == NtsFieldType.UniqueIdentifier)
            {
                var value = reply.Slice(offset + 4, length - 4);
                uidMatches = value.Length >= uniqueId.Length && CryptographicOperations.FixedTimeEquals(value[..uniqueId.Length], uniqueId)
                    && value[uniqueId.Length..].IndexOfAnyExcept((byte)0) < 0;
            }
            else if (type == NtsFieldType.Authenticator)
            {
                authOffset = offset;
                authLength = length;
                break;
            }
            offset += length;
        }
        if (!uidMatches) return NtsReplyCheck.Bogus;
        var header = packet.Header;
        if (authOffset < 0)
        {
            // RFC 8915 5.7: an NTSN kiss is unauthenticated, believed only because it carries our unique id.
            return header.Stratum == 0 && header.ReferenceId == ReferenceIds.KissNtsNak ? NtsReplyCheck.CookieNotRecognised : NtsReplyCheck.Bogus;
        }
        return NtsFields.TryOpenAuthenticator(reply, authOffset, authLength, s2c, plaintext, out plaintextLength)
            ? NtsReplyCheck.Authentic
            : NtsReplyCheck.Bogus;
    }

    private NtsReplyCheck Reject()
    {
        RejectedReplies++;
        return NtsReplyCheck.Bogus;
    }

    /// <summary>Releases both ciphers and wipes the session's copy of the S2C key.</summary>
    public void Dispose()
    {
        _c2s.Dispose();
        _s2c.Dispose();
        CryptographicOperations.ZeroMemory(_s2cKey);
    }
}

/// <summary>
/// Tells the reply to one NTS request from anything else that reaches its socket (a forged or replayed datagram
/// with a copied origin timestamp): only a datagram carrying the request's unique id and either a valid
/// authenticator or an NTSN kiss passes. The socket keeps waiting past the others, so an attacker who answers
/// first cannot make the client miss the genuine reply. Thread-safe for one reader; counts what it refused.
/// </summary>
public sealed class NtsReplyFilter : IDisposable
{
    private readonly byte[] _uniqueId;
    private readonly AesSivCmac256 _s2c;

    internal NtsReplyFilter(ReadOnlySpan<byte> uniqueId, ReadOnlySpan<byte> s2cKey)
    {
        _uniqueId = uniqueId.ToArray();
        _s2c = new AesSivCmac256(s2cKey);
    }

    /// <summary>Datagrams refused so far.</summary>
    public int Refused { get; private set; }

    /// <summary>Whether the datagram is the reply to the request: our unique id plus a valid authenticator, or an NTSN kiss with our unique id. Refused datagrams are counted in <see cref="Refused"/>; the session is not touched, so cookies are taken only when the owner calls <see cref="NtsClientSession.CheckReply"/>.</summary>
    public bool Accepts(ReadOnlySpan<byte> datagram)
    {
        Span<byte> plaintext = stackalloc byte[NtpPacket.MaxExtensionFieldsLength];
        if (NtsClientSession.Inspect(datagram, _uniqueId, _s2c, plaintext, out _) != NtsReplyCheck.Bogus) return true;
        Refused++;
        return false;
    }

    /// <summary>Releases the filter's own copy of the S2C cipher.</summary>
    public void Dispose() => _s2c.Dispose();
}
