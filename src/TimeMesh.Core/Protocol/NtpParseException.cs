namespace TimeMesh.Core.Protocol;

/// <summary>Why a datagram is not a well-formed NTP packet.</summary>
public enum NtpParseError : byte
{
    /// <summary>The packet is well formed.</summary>
    None = 0,
    /// <summary>Fewer than the 48 bytes of the header.</summary>
    TooShort,
    /// <summary>More than <see cref="NtpPacket.MaxLength"/> bytes.</summary>
    TooLong,
    /// <summary>The version field is outside 1-4.</summary>
    UnsupportedVersion,
    /// <summary>The bytes after the header do not come in whole 32-bit words.</summary>
    LengthNotMultipleOfFour,
    /// <summary>
    /// An NTPv4 extension field's length is under 16, not a multiple of 4 or past the end of the datagram, and
    /// what is left is not MAC-sized either.
    /// </summary>
    BadExtensionField,
    /// <summary>
    /// What follows the header (or the last accepted extension field) is not a MAC of 20-68 bytes and cannot be a
    /// field: before NTPv4 anything but a MAC, in NTPv4 for example a final field shorter than 28 bytes or fields
    /// beyond the 1024-byte limit.
    /// </summary>
    BadTrailer,
}

/// <summary>The one exception the packet codec raises, whatever bytes it is given.</summary>
/// <param name="error">What is wrong with the datagram.</param>
/// <param name="length">The datagram's length in bytes, quoted in the message.</param>
public sealed class NtpParseException(NtpParseError error, int length)
    : Exception($"not a valid NTP packet ({length} bytes): {Describe(error)}")
{
    /// <summary>The reason the datagram was rejected; never <see cref="NtpParseError.None"/> in practice.</summary>
    public NtpParseError Error { get; } = error;

    private static string Describe(NtpParseError error) => error switch
    {
        NtpParseError.TooShort => "shorter than the 48-byte header",
        NtpParseError.TooLong => $"longer than {NtpPacket.MaxLength} bytes",
        NtpParseError.UnsupportedVersion => "version outside 1-4",
        NtpParseError.LengthNotMultipleOfFour => "length after the header is not a multiple of 4",
        NtpParseError.BadExtensionField => "malformed extension field",
        NtpParseError.BadTrailer => "bytes after the header are neither extension fields nor a MAC",
        _ => error.ToString(),
    };
}
