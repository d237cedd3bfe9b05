using System.Buffers.Binary;

namespace TimeMesh.Core.Protocol;

/// <summary>Where the bytes after the header sit: extension fields (RFC 7822) and a MAC trailer, if any.</summary>
public readonly record struct NtpTrailer(int ExtensionFieldCount, int ExtensionFieldsLength, int MacOffset, int MacLength)
{
    public static readonly NtpTrailer None = new(0, 0, 0, 0);
    public bool HasMac => MacLength > 0;
}

/// <summary>One extension field: its type and its value (the bytes after the 4-byte field header).</summary>
public readonly ref struct ExtensionField(ushort type, ReadOnlySpan<byte> value)
{
    public ushort Type { get; } = type;
    public ReadOnlySpan<byte> Value { get; } = value;
}

/// <summary>
/// A parsed NTP packet: the header, and the layout of what follows it. Extension fields and a MAC are
/// recognised and bounded here, never trusted: authentication is a separate step.
/// </summary>
public readonly record struct NtpPacket(NtpHeader Header, NtpTrailer Trailer)
{
    public const int MinVersion = 1;
    public const int MaxVersion = 4;
    /// <summary>Shortest legal MAC: a 4-byte key id and a 16-byte digest (MD5, AES-CMAC).</summary>
    public const int MinMacLength = 4 + 16;
    /// <summary>Longest MAC we recognise: a 4-byte key id and a 64-byte digest (SHA-512).</summary>
    public const int MaxMacLength = 4 + 64;
    public const int MinExtensionFieldLength = 16;
    /// <summary>RFC 7822: the last field of a packet without a MAC is at least 28 bytes, so that it is never taken for one.</summary>
    public const int MinLastExtensionFieldLength = 28;
    public const int MaxExtensionFieldsLength = 1024;
    public const int MaxLength = NtpHeader.Length + MaxExtensionFieldsLength + MaxMacLength;

    public int Length => NtpHeader.Length + Trailer.ExtensionFieldsLength + Trailer.MacLength;

    public static NtpPacket Parse(ReadOnlySpan<byte> datagram)
    {
        if (!TryParse(datagram, out NtpPacket packet, out NtpParseError error))
            throw new NtpParseException(error, datagram.Length);
        return packet;
    }

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

    public uint MacKeyId(ReadOnlySpan<byte> datagram) =>
        Trailer.HasMac ? BinaryPrimitives.ReadUInt32BigEndian(datagram.Slice(Trailer.MacOffset)) : 0;

    public ref struct ExtensionFieldEnumerator(ReadOnlySpan<byte> fields)
    {
        private ReadOnlySpan<byte> _rest = fields;
        private ExtensionField _current;

        public readonly ExtensionField Current => _current;
        public readonly ExtensionFieldEnumerator GetEnumerator() => this;

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
