namespace TimeMesh.Core.Protocol;

/// <summary>
/// The two-bit LI field of the NTP header (RFC 5905): a warning of a leap second at the end of the current
/// UTC day, or the statement that the sender's clock is not synchronised.
/// </summary>
public enum LeapIndicator : byte
{
    /// <summary>No leap second is pending.</summary>
    NoWarning = 0,
    /// <summary>The last minute of the current UTC day has 61 seconds.</summary>
    InsertSecond = 1,
    /// <summary>The last minute of the current UTC day has 59 seconds.</summary>
    DeleteSecond = 2,
    /// <summary>Clock not synchronised: clients must not select a server that says this.</summary>
    Unsynchronised = 3,
}

/// <summary>
/// The three-bit mode field of the NTP header (RFC 5905). The server answers only <see cref="Client"/>
/// requests, always with <see cref="Server"/>.
/// </summary>
public enum NtpMode : byte
{
    /// <summary>Mode 0, unused by the protocol; such packets are dropped.</summary>
    Reserved = 0,
    /// <summary>Mode 1, a peer offering to synchronise both ways; not served.</summary>
    SymmetricActive = 1,
    /// <summary>Mode 2, a peer's answer to a symmetric active packet; not served.</summary>
    SymmetricPassive = 2,
    /// <summary>Mode 3, a request from a client: the only mode the server answers.</summary>
    Client = 3,
    /// <summary>Mode 4, a server's reply to a client request.</summary>
    Server = 4,
    /// <summary>Mode 5, an unsolicited broadcast of the time; neither sent nor served.</summary>
    Broadcast = 5,
    /// <summary>ntpq control messages: never answered.</summary>
    Control = 6,
    /// <summary>ntpdc private messages (monlist, the CVE-2013-5211 amplifier): never answered.</summary>
    Private = 7,
}
