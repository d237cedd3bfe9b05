using System.Buffers.Binary;
using System.Security.Cryptography;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Nts;

/// <summary>What the NTS layer makes of a request.</summary>
public enum NtsCheck : byte
{
    /// <summary>Without NTS fields: an ordinary request.</summary>
    NotNts,
    /// <summary>Cookie opened and authenticator verified: answer with an authenticated reply.</summary>
    Authenticated,
    /// <summary>The cookie is not ours or no longer good: answer with an NTSN kiss-o'-death.</summary>
    CookieNotRecognised,
    /// <summary>NTS fields that are malformed, or an authenticator that does not verify: no answer.</summary>
    Drop,
}

/// <summary>What the check learnt about an NTS request, for writing its reply. Lives on the caller's stack.</summary>
public struct NtsRequestState
{
    /// <summary>Where the request's Unique Identifier field starts (its 4-byte header included), bytes from the start of the datagram; the reply echoes this field.</summary>
    public int UniqueIdOffset;
    /// <summary>The whole Unique Identifier field's length, header and padding included, as copied into the reply.</summary>
    public int UniqueIdFieldLength;
    /// <summary>Cookies the client asked for: its cookie plus its placeholders.</summary>
    public int CookiesWanted;
    /// <summary>The client-to-server key recovered from the cookie, which verifies the request; filled only when the cookie opens.</summary>
    public KeyBytes C2S;
    /// <summary>The server-to-client key recovered from the cookie, which seals the reply and goes into its fresh cookies; filled only when the cookie opens.</summary>
    public KeyBytes S2C;
}

/// <summary>
/// NTS on the NTP server (RFC 8915 section 5): checks a request's unique identifier, cookie, placeholders
/// and authenticator, and writes the authenticated reply with fresh cookies, never larger than the
/// request. Stateless per client: the keys come back in the cookie. The keys it seals with are swapped
/// by the driver on rotation.
/// </summary>
public sealed class NtsServerExtension(NtsServerKeys keys)
{
    private volatile NtsServerKeys _keys = keys;

    /// <summary>The master keys that open cookies and seal new ones. The driver replaces the whole set on rotation; the swap is atomic, so checks in flight use either the old or the new set.</summary>
    public NtsServerKeys Keys
    {
        get => _keys;
        set => _keys = value;
    }

    /// <summary>Longest plaintext of encrypted fields we open from a client (we understand none, but must verify them).</summary>
    private const int MaxRequestPlaintext = 512;

    /// <summary>
    /// Decides how to answer a request: exactly one unique identifier (at least 32 bytes), one cookie and one authenticator,
    /// placeholders as long as the cookie, and no MAC; the cookie must open under the current or previous master key and
    /// the authenticator must verify under the C2S key it holds. Fields after the authenticator are ignored.
    /// </summary>
    /// <param name="request">The received datagram.</param>
    /// <param name="trailer">What <see cref="NtpPacket"/> parsing found after the header (extension fields, MAC).</param>
    /// <param name="state">Filled with what <see cref="CompleteReply"/> or <see cref="CompleteNak"/> needs, unless the result is <see cref="NtsCheck.NotNts"/> or an early <see cref="NtsCheck.Drop"/>.</param>
    public NtsCheck Check(ReadOnlySpan<byte> request, NtpTrailer trailer, ref NtsRequestState state)
    {
        if (trailer.ExtensionFieldCount == 0) return NtsCheck.NotNts;
        int offset = NtpHeader.Length;
        int end = NtpHeader.Length + trailer.ExtensionFieldsLength;
        int cookieOffset = -1, cookieLength = 0, authOffset = -1, authLength = 0, placeholders = 0;
        int uidOffset = -1, uidLength = 0;
        bool badPlaceholder = false, twice = false;
        while (offset < end)
        {
            // Fields after the authenticator are not authenticated: ignored.
            if (authOffset >= 0) break;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(request[offset..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(request[(offset + 2)..]);
            switch (type)
            {
                case NtsFieldType.UniqueIdentifier:
                    twice |= uidOffset >= 0;
                    uidOffset = offset;
                    uidLength = length;
                    break;
                case NtsFieldType.Cookie:
                    twice |= cookieOffset >= 0;
                    cookieOffset = offset;
                    cookieLength = length;
                    break;
                case NtsFieldType.CookiePlaceholder:
                    placeholders++;
                    break;
                case NtsFieldType.Authenticator:
                    twice |= authOffset >= 0;
                    authOffset = offset;
                    authLength = length;
                    break;
            }
            offset += length;
        }
        if (uidOffset < 0 && cookieOffset < 0 && authOffset < 0) return NtsCheck.NotNts;
        if (twice || uidOffset < 0 || cookieOffset < 0 || authOffset < 0 || trailer.HasMac) return NtsCheck.Drop;
        if (uidLength - 4 < NtsFields.UniqueIdentifierLength) return NtsCheck.Drop;
        // A placeholder must be as long as the cookie, so that the reply's cookies fit where they stood.
        offset = NtpHeader.Length;
        while (offset < authOffset)
        {
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(request[offset..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(request[(offset + 2)..]);
            if (type == NtsFieldType.CookiePlaceholder && length != cookieLength) badPlaceholder = true;
            offset += length;
        }
        if (badPlaceholder) return NtsCheck.Drop;

        state.UniqueIdOffset = uidOffset;
        state.UniqueIdFieldLength = uidLength;
        state.CookiesWanted = Math.Min(1 + placeholders, NtsIds.CookiesPerExchange);
        var cookie = request.Slice(cookieOffset + 4, cookieLength - 4);
        if (cookie.Length > NtsCookie.Length && cookie[NtsCookie.Length..].IndexOfAnyExcept((byte)0) < 0) cookie = cookie[..NtsCookie.Length];
        if (!NtsCookie.TryOpen(_keys, cookie, state.C2S, state.S2C)) return NtsCheck.CookieNotRecognised;

        Span<byte> plaintext = stackalloc byte[MaxRequestPlaintext];
        var c2s = SivCache.Get(state.C2S);
        bool authentic = NtsFields.TryOpenAuthenticator(request, authOffset, authLength, c2s, plaintext, out int plaintextLength);
        CryptographicOperations.ZeroMemory(plaintext[..plaintextLength]);
        return authentic ? NtsCheck.Authenticated : NtsCheck.Drop;
    }

    /// <summary>
    /// Appends the unique identifier and the authenticator with fresh cookies to a reply whose 48-byte
    /// header (transmit time included: it is authenticated) is written. Returns the reply's length.
    /// </summary>
    public int CompleteReply(ReadOnlySpan<byte> request, ref NtsRequestState state, Span<byte> reply)
    {
        int offset = NtpHeader.Length;
        request.Slice(state.UniqueIdOffset, state.UniqueIdFieldLength).CopyTo(reply[offset..]);
        offset += state.UniqueIdFieldLength;

        const int cookieField = 4 + NtsCookie.Length;
        int cookies = state.CookiesWanted;
        // RFC 8915 5.7: never answer with more bytes than were asked with (no amplification).
        while (cookies > 1 && offset + NtsFields.AuthenticatorLength(cookies * cookieField) > request.Length) cookies--;
        Span<byte> plaintext = stackalloc byte[NtsIds.CookiesPerExchange * cookieField];
        var keys = _keys;
        for (int i = 0; i < cookies; i++)
        {
            var field = plaintext.Slice(i * cookieField, cookieField);
            BinaryPrimitives.WriteUInt16BigEndian(field, NtsFieldType.Cookie);
            BinaryPrimitives.WriteUInt16BigEndian(field[2..], cookieField);
            NtsCookie.Seal(keys, state.C2S, state.S2C, field[4..]);
        }
        var s2c = SivCache.Get(state.S2C);
        offset = NtsFields.WriteAuthenticator(reply, offset, s2c, plaintext[..(cookies * cookieField)]);
        CryptographicOperations.ZeroMemory(plaintext);
        return offset;
    }

    /// <summary>Appends the unique identifier to an NTSN kiss-o'-death (RFC 8915 5.7: it carries no authenticator).</summary>
    public static int CompleteNak(ReadOnlySpan<byte> request, ref NtsRequestState state, Span<byte> reply)
    {
        request.Slice(state.UniqueIdOffset, state.UniqueIdFieldLength).CopyTo(reply[NtpHeader.Length..]);
        return NtpHeader.Length + state.UniqueIdFieldLength;
    }
}
