namespace TimeMesh.Core.Protocol;

public enum LeapIndicator : byte
{
    NoWarning = 0,
    InsertSecond = 1,
    DeleteSecond = 2,
    /// <summary>Clock not synchronised: clients must not select a server that says this.</summary>
    Unsynchronised = 3,
}

public enum NtpMode : byte
{
    Reserved = 0,
    SymmetricActive = 1,
    SymmetricPassive = 2,
    Client = 3,
    Server = 4,
    Broadcast = 5,
    /// <summary>ntpq control messages: never answered.</summary>
    Control = 6,
    /// <summary>ntpdc private messages (monlist, the CVE-2013-5211 amplifier): never answered.</summary>
    Private = 7,
}
