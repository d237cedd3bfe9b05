namespace TimeMesh.Core.Protocol;

/// <summary>Why a datagram is not a well-formed NTP packet.</summary>
public enum NtpParseError : byte
{
    None = 0,
    TooShort,
    TooLong,
    UnsupportedVersion,
    LengthNotMultipleOfFour,
    BadExtensionField,
    BadTrailer,
}

/// <summary>The one exception the packet codec raises, whatever bytes it is given.</summary>
public sealed class NtpParseException(NtpParseError error, int length)
    : Exception($"not a valid NTP packet ({length} bytes): {Describe(error)}")
{
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
