using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>Where the bytes after the header sit: extension fields (RFC 7822) and a MAC trailer, if any.</summary>
/// <param name="ExtensionFieldCount">How many extension fields follow the header (always 0 before NTPv4).</param>
/// <param name="ExtensionFieldsLength">Their total size in bytes, field headers included; they start at byte 48.</param>
/// <param name="MacOffset">Where the MAC (key id, then digest) starts in the datagram; 0 when there is none.</param>
/// <param name="MacLength">The MAC's size in bytes, 20-68 when present; 0 when there is none.</param>
public readonly record struct NtpTrailer(int ExtensionFieldCount, int ExtensionFieldsLength, int MacOffset, int MacLength)
{
    /// <summary>Nothing after the header: a plain 48-byte packet.</summary>
    public static readonly NtpTrailer None = new(0, 0, 0, 0);
    /// <summary>True when the packet ends with a symmetric-key MAC (RFC 5905's key id and digest).</summary>
    public bool HasMac => MacLength > 0;
}

/// <summary>One extension field: its type and its value (the bytes after the 4-byte field header).</summary>
/// <param name="type">The field type from the field header.</param>
/// <param name="value">The field's body, a slice of the datagram.</param>
public readonly ref struct ExtensionField(ushort type, ReadOnlySpan<byte> value)
{
    /// <summary>The 16-bit field type (IANA's registry; NTS uses 0x0104, 0x0204, 0x0304 and 0x0404).</summary>
    public ushort Type { get; } = type;
    /// <summary>
    /// The body, up to the length the field header gives, padding included; it points into the datagram and is
    /// valid only as long as that buffer is.
    /// </summary>
    public ReadOnlySpan<byte> Value { get; } = value;
}

/// <summary>
/// A parsed NTP packet: the header, and the layout of what follows it. Extension fields and a MAC are
/// recognised and bounded here, never trusted: authentication is a separate step.
/// </summary>
/// <param name="Header">The decoded 48-byte header.</param>
/// <param name="Trailer">Where the extension fields and the MAC sit in the datagram.</param>
public readonly record struct NtpPacket(NtpHeader Header, NtpTrailer Trailer)
{
    /// <summary>Lowest version number accepted; a packet outside 1-4 is <see cref="NtpParseError.UnsupportedVersion"/>.</summary>
    public const int MinVersion = 1;
    /// <summary>Highest version number accepted (NTPv4, RFC 5905); only version 4 may carry extension fields.</summary>
    public const int MaxVersion = 4;
    /// <summary>Shortest legal MAC: a 4-byte key id and a 16-byte digest (MD5, AES-CMAC).</summary>
    public const int MinMacLength = 4 + 16;
    /// <summary>Longest MAC we recognise: a 4-byte key id and a 64-byte digest (SHA-512).</summary>
    public const int MaxMacLength = 4 + 64;
    /// <summary>RFC 7822's shortest extension field, its 4-byte header included.</summary>
    public const int MinExtensionFieldLength = 16;
    /// <summary>RFC 7822: the last field of a packet without a MAC is at least 28 bytes, so that it is never taken for one.</summary>
    public const int MinLastExtensionFieldLength = 28;
    /// <summary>
    /// This codec's limit on the extension fields of one packet, in bytes (not an RFC limit): enough for NTS
    /// cookies and an authenticator, and a bound on the work one datagram can cause.
    /// </summary>
    public const int MaxExtensionFieldsLength = 1024;
    /// <summary>Longest datagram accepted: header, 1024 bytes of fields and the longest MAC, 1140 bytes in all.</summary>
    public const int MaxLength = NtpHeader.Length + MaxExtensionFieldsLength + MaxMacLength;

    /// <summary>The packet's size in bytes: header, extension fields and MAC, which is the whole datagram it was parsed from.</summary>
    public int Length => NtpHeader.Length + Trailer.ExtensionFieldsLength + Trailer.MacLength;

    /// <summary>Validates a datagram and decodes its header.</summary>
    /// <exception cref="NtpParseException">The datagram is not a well-formed NTP packet; the exception says why.</exception>
    public static NtpPacket Parse(ReadOnlySpan<byte> datagram)
    {
        if (!TryParse(datagram, out NtpPacket packet, out NtpParseError error))
            throw new NtpParseException(error, datagram.Length);
        return packet;
    }

    /// <summary>Validates a datagram and decodes its header, without throwing.</summary>
    /// <param name="datagram">The bytes as received.</param>
    /// <param name="packet">The parsed packet; default when the datagram is rejected.</param>
    /// <param name="error">Why it was rejected, or <see cref="NtpParseError.None"/>.</param>
    /// <returns>True when the datagram is a well-formed NTP packet.</returns>
    public static bool TryParse(ReadOnlySpan<byte> datagram, out NtpPacket packet, out NtpParseError error)
    {
        packet = default;
        error = Validate(datagram, out NtpTrailer trailer);
        if (error != NtpParseError.None) return false;
        packet = new NtpPacket(NtpHeader.Read(datagram), trailer);
        return true;
    }

    /// <summary>
    /// Checks length, version and the trailer's structure without decoding the header fields: what the
    /// server needs on its hot path. Allocates nothing.
    /// </summary>
    public static NtpParseError Validate(ReadOnlySpan<byte> datagram, out NtpTrailer trailer)
    {
        trailer = NtpTrailer.None;
        if (datagram.Length < NtpHeader.Length) return NtpParseError.TooShort;
        if (datagram.Length > MaxLength) return NtpParseError.TooLong;
        int version = NtpHeader.VersionOf(datagram[0]);
        if (version is < MinVersion or > MaxVersion) return NtpParseError.UnsupportedVersion;
        int remaining = datagram.Length - NtpHeader.Length;
        if (remaining == 0) return NtpParseError.None;
        if (remaining % 4 != 0) return NtpParseError.LengthNotMultipleOfFour;

        if (version < 4)
        {
            // Before NTPv4 only a MAC may follow the header.
            if (remaining is < MinMacLength or > MaxMacLength) return NtpParseError.BadTrailer;
            trailer = new NtpTrailer(0, 0, NtpHeader.Length, remaining);
            return NtpParseError.None;
        }

        int offset = NtpHeader.Length;
        int fields = 0;
        while (remaining > 0)
        {
            ushort fieldLength = BinaryPrimitives.ReadUInt16BigEndian(datagram.Slice(offset + 2));
            bool headerFits = remaining >= 4
                && fieldLength >= MinExtensionFieldLength
                && fieldLength % 4 == 0
                && fieldLength <= remaining;
            bool isField = headerFits && (fieldLength < remaining || fieldLength >= MinLastExtensionFieldLength);
            if (isField && offset - NtpHeader.Length + fieldLength <= MaxExtensionFieldsLength)
            {
                fields++;
                offset += fieldLength;
                remaining -= fieldLength;
                continue;
            }
            if (remaining is >= MinMacLength and <= MaxMacLength)
            {
                trailer = new NtpTrailer(fields, offset - NtpHeader.Length, offset, remaining);
                return NtpParseError.None;
            }
            return headerFits ? NtpParseError.BadTrailer : NtpParseError.BadExtensionField;
        }
        trailer = new NtpTrailer(fields, offset - NtpHeader.Length, 0, 0);
        return NtpParseError.None;
    }

    /// <summary>The extension fields of a packet this type parsed, in order.</summary>
    public ExtensionFieldEnumerator ExtensionFields(ReadOnlySpan<byte> datagram) =>
        new(datagram.Slice(NtpHeader.Length, Trailer.ExtensionFieldsLength));

    /// <summary>The MAC's key id (its first four bytes, big-endian), or 0 when the packet has no MAC.</summary>
    /// <param name="datagram">The same bytes this packet was parsed from.</param>
    public uint MacKeyId(ReadOnlySpan<byte> datagram) =>
        Trailer.HasMac ? BinaryPrimitives.ReadUInt32BigEndian(datagram.Slice(Trailer.MacOffset)) : 0;

    /// <summary>
    /// Walks extension fields for <c>foreach</c> without allocating. It trusts the length in each field header, so it
    /// is only for bytes <see cref="Validate"/> accepted; malformed lengths make it throw.
    /// </summary>
    /// <param name="fields">The extension-field bytes alone: from byte 48 for <see cref="NtpTrailer.ExtensionFieldsLength"/> bytes.</param>
    public ref struct ExtensionFieldEnumerator(ReadOnlySpan<byte> fields)
    {
        private ReadOnlySpan<byte> _rest = fields;
        private ExtensionField _current;

        /// <summary>The field the last successful <see cref="MoveNext"/> reached; empty (type 0) before the first.</summary>
        public readonly ExtensionField Current => _current;
        /// <summary>A copy of this enumerator, positioned where it is, so that it can be used in <c>foreach</c>.</summary>
        public readonly ExtensionFieldEnumerator GetEnumerator() => this;

        /// <summary>Steps to the next field.</summary>
        /// <returns>False when fewer than 4 bytes (a field header) are left.</returns>
        public bool MoveNext()
        {
            if (_rest.Length < 4) return false;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(_rest);
            int length = BinaryPrimitives.ReadUInt16BigEndian(_rest[2..]);
            _current = new ExtensionField(type, _rest[4..length]);
            _rest = _rest[length..];
            return true;
        }
    }
}
