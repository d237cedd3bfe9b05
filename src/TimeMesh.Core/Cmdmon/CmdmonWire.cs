using System.Buffers.Binary;
using TimeMesh.Core.Access;

namespace TimeMesh.Core.Cmdmon;

/// <summary>
/// The facts of chrony's command and monitoring protocol (chrony 4.x, protocol version 6) that a server
/// needs: codes, header layouts, the length of every request and reply, and the address and time encodings.
/// All numbers are big-endian on the wire.
/// </summary>
public static class CmdmonWire
{
    /// <summary>chronyd's UDP command port, the one chronyc asks unless told otherwise.</summary>
    public const int DefaultPort = 323;
    /// <summary>The only protocol version answered with data; a request of any other version is refused or dropped.</summary>
    public const byte ProtocolVersion = 6;
    /// <summary>Versions from this one on get a "version mismatch" answer; older ones get nothing.</summary>
    public const byte OldestVersionAnswered = 5;
    /// <summary>The header's packet-type byte for a request (chronyc to daemon); datagrams with any other type are dropped.</summary>
    public const byte PacketTypeRequest = 1;
    /// <summary>The header's packet-type byte for a reply (daemon to chronyc).</summary>
    public const byte PacketTypeReply = 2;

    /// <summary>Request header: version, type, 2 reserved, command (16), attempt (16), sequence (32), 2 × 32 pad.</summary>
    public const int RequestHeaderLength = 20;
    /// <summary>Reply header: version, type, 2 reserved, command, reply, status, 3 × 16 pad, sequence, 2 × 32 pad.</summary>
    public const int ReplyHeaderLength = 28;
    /// <summary>The largest request chrony defines: header, its largest request body (add source, 356 bytes) and 484 bytes of padding.</summary>
    public const int MaxRequestLength = RequestHeaderLength + 356 + 484;

    /// <summary>chrony's IPAddr: 16 address bytes, family (16), pad (16).</summary>
    public const int AddressLength = 20;
    /// <summary>chrony's Timespec: seconds high (32), seconds low (32), nanoseconds (32).</summary>
    public const int TimespecLength = 12;

    /// <summary>
    /// The family codes of chrony's IPAddr (IPADDR_*): <c>FamilyUnspecified</c> (0) no address, the 20 bytes all
    /// zero; <c>FamilyIPv4</c> (1) four address bytes; <c>FamilyIPv6</c> (2) sixteen; <c>FamilyId</c> (3) a 32-bit
    /// id in place of an address, for a source that has none yet.
    /// </summary>
    public const ushort FamilyUnspecified = 0, FamilyIPv4 = 1, FamilyIPv6 = 2, FamilyId = 3;

    /// <summary>Request codes (REQ_*).</summary>
    public static class Request
    {
        /// <summary>
        /// The read-only requests this server knows by name, with the chronyc command each serves:
        /// <c>Null</c> a ping (answered success); <c>Logon</c> chrony's retired authentication (always answered failed);
        /// <c>NSources</c> the number of sources; <c>SourceData</c> one line of <c>sources</c>, by index;
        /// <c>Tracking</c> <c>tracking</c>; <c>SourceStats</c> one line of <c>sourcestats</c>, by index;
        /// <c>RtcReport</c> <c>rtcdata</c> (answered "no RTC"); <c>ManualList</c> <c>manual list</c> (always empty);
        /// <c>Activity</c> <c>activity</c>; <c>Smoothing</c> <c>smoothing</c> (answered "not enabled");
        /// <c>ServerStats</c> <c>serverstats</c>; <c>NtpData</c> <c>ntpdata</c>, by address;
        /// <c>NtpSourceName</c> the name <c>chronyc -N</c> shows, by address; <c>AuthData</c> <c>authdata</c> (refused);
        /// <c>ClientAccessesByIndex3</c> <c>clients</c>, a page at a time; <c>SelectData</c> one line of <c>selectdata</c>, by index.
        /// ServerStats, NtpData, ClientAccessesByIndex3 and SelectData are answered to the loopback address only.
        /// </summary>
        public const ushort Null = 0, Logon = 10, NSources = 14, SourceData = 15, Tracking = 33, SourceStats = 34,
            RtcReport = 35, ManualList = 41, Activity = 44, Smoothing = 51, ServerStats = 54, NtpData = 57,
            NtpSourceName = 65, AuthData = 67, ClientAccessesByIndex3 = 68, SelectData = 69;
        /// <summary>One past the highest request code chrony defines; any code from here on is answered "invalid command".</summary>
        public const int Count = 72;
    }

    /// <summary>Reply codes (RPY_*).</summary>
    public static class Reply
    {
        /// <summary>
        /// Which body a reply carries. <c>Null</c>: none, only the header's status. <c>NSources</c>, <c>SourceData</c>,
        /// <c>Tracking</c>, <c>SourceStats</c>, <c>Activity</c>, <c>Smoothing</c>, <c>NtpData</c>, <c>NtpSourceName</c>,
        /// <c>AuthData</c>, <c>ClientAccessesByIndex3</c> and <c>SelectData</c>: the answer to the request of the same
        /// name; <c>Rtc</c> answers RtcReport, <c>ServerStats3</c> ServerStats, <c>ManualList2</c> ManualList and
        /// <c>ManualTimestamp2</c> settime. <c>ManualTimestamp</c> is the retired form of ManualTimestamp2, which
        /// chrony 4.x no longer sends (<see cref="ReplyLength"/> gives 0 for it).
        /// </summary>
        public const ushort Null = 1, NSources = 2, SourceData = 3, ManualTimestamp = 4, Tracking = 5, SourceStats = 6, Rtc = 7,
            Activity = 12, Smoothing = 13, NtpData = 16, ManualTimestamp2 = 17, ManualList2 = 18, NtpSourceName = 19,
            AuthData = 20, ClientAccessesByIndex3 = 21, SelectData = 23, ServerStats3 = 24;
        /// <summary>One past the highest reply code known here; <see cref="ReplyLength"/> gives 0 from here on.</summary>
        public const int Count = 25;
    }

    /// <summary>Status codes (STT_*).</summary>
    public static class Status
    {
        /// <summary>
        /// The status in a reply header, with what chronyc prints for it: <c>Success</c> "OK"; <c>Failed</c> a failed
        /// command (every logon); <c>Unauthorised</c> "not authorised", the answer to every command that would change the
        /// node and to a loopback-only report asked from another host; <c>Invalid</c> an unknown or retired command;
        /// <c>NoSuchSource</c> no source at that index or address; <c>NotEnabled</c> a facility that is not enabled
        /// (smoothing); <c>NoRtc</c> no real-time-clock driver; <c>Inactive</c> client logging is off;
        /// <c>BadPacketVersion</c> a protocol version mismatch (versions 5 and up); <c>BadPacketLength</c> a request
        /// shorter than its command needs.
        /// </summary>
        public const ushort Success = 0, Failed = 1, Unauthorised = 2, Invalid = 3, NoSuchSource = 4, NotEnabled = 6,
            NoRtc = 13, Inactive = 15, BadPacketVersion = 18, BadPacketLength = 19;
    }

    // Body lengths in bytes (up to chrony's EOR marker) of each reply format, by reply code.
    private static readonly ushort[] ReplyBodyLengths = BuildReplyBodyLengths();

    private static ushort[] BuildReplyBodyLengths()
    {
        var r = new ushort[Reply.Count];
        r[Reply.Null] = 0;
        r[Reply.NSources] = 4;
        r[Reply.SourceData] = 48;
        r[Reply.Tracking] = 76;
        r[Reply.SourceStats] = 56;
        r[Reply.Rtc] = 28;
        r[Reply.Activity] = 20;
        r[Reply.Smoothing] = 24;
        r[Reply.NtpData] = 124;
        r[Reply.ManualTimestamp2] = 12;
        r[Reply.ManualList2] = 4 + 16 * 24;
        r[Reply.NtpSourceName] = 256;
        r[Reply.AuthData] = 24;
        r[Reply.ClientAccessesByIndex3] = 12 + ClientRecordsPerReply * ClientRecordLength;
        r[Reply.SelectData] = 48;
        r[Reply.ServerStats3] = 44;
        return r;
    }

    /// <summary>The most client records one clients reply holds; a request asking for more is given this many.</summary>
    public const int ClientRecordsPerReply = 8;
    /// <summary>
    /// The bytes of one client record: its address (20), NTP, NTS-KE and command hits then drops (6 × 32 bits), four
    /// log2 intervals (8 bits each) and the seconds since the last NTP, NTS-KE and command request (3 × 32 bits).
    /// </summary>
    public const int ClientRecordLength = 60;

    /// <summary>The full length of a reply with this reply code; 0 for codes chrony 4.3 does not send.</summary>
    public static int ReplyLength(ushort reply) =>
        reply is >= 1 and < Reply.Count && (reply == Reply.Null || ReplyBodyLengths[reply] != 0)
            ? ReplyHeaderLength + ReplyBodyLengths[reply]
            : 0;

    // Per request code: the body length (up to EOR) and the reply it is answered with on success, which
    // fixes the padding a version-6 request carries so that no reply is longer than its request.
    // A body length of -1 marks codes chrony no longer accepts (answered "invalid command").
    private static readonly (short Body, ushort Reply)[] Requests = BuildRequests();

    private static (short, ushort)[] BuildRequests()
    {
        var q = new (short, ushort)[Request.Count];
        for (int i = 0; i < q.Length; i++) q[i] = (-1, Reply.Null);
        void Set(int code, int body, ushort reply = Reply.Null) => q[code] = ((short)body, reply);
        Set(0, 0);                          // null
        Set(1, 40); Set(2, 40);             // online, offline: mask + address
        Set(3, 48);                         // burst
        Set(4, 24); Set(5, 24);             // modify minpoll / maxpoll
        Set(6, 4);                          // dump
        Set(7, 24); Set(8, 24);             // modify maxdelay / maxdelayratio
        Set(9, 4);                          // modify maxupdateskew
        Set(10, TimespecLength);            // logon
        Set(11, TimespecLength, Reply.ManualTimestamp2); // settime
        Set(13, 4);                         // manual
        Set(14, 0, Reply.NSources);
        Set(15, 4, Reply.SourceData);
        Set(16, 0);                         // rekey
        for (int c = 17; c <= 24; c++) Set(c, 24);   // allow/deny/cmdallow/cmddeny (+all)
        Set(25, 20); Set(26, 20);           // accheck, cmdaccheck
        Set(29, 20);                        // del source
        Set(30, 0);                         // writertc
        Set(31, 4);                         // dfreq
        Set(33, 0, Reply.Tracking);
        Set(34, 4, Reply.SourceStats);
        Set(35, 0, Reply.Rtc);
        Set(36, 0); Set(37, 0);             // trimrtc, cyclelogs
        Set(41, 0, Reply.ManualList2);
        Set(42, 4);                         // manual delete
        Set(43, 0);                         // makestep
        Set(44, 0, Reply.Activity);
        Set(45, 24); Set(46, 24); Set(47, 24); // modify minstratum / polltarget / maxdelaydevratio
        Set(48, 0);                         // reselect
        Set(49, 4);                         // reselectdistance
        Set(50, 8);                         // modify makestep
        Set(51, 0, Reply.Smoothing);
        Set(52, 4);                         // smoothtime
        Set(53, 0);                         // refresh
        Set(54, 0, Reply.ServerStats3);
        Set(56, 16);                        // local2
        Set(57, AddressLength, Reply.NtpData);
        Set(62, 0); Set(63, 0);             // shutdown, onoffline
        Set(64, 352);                       // add source
        Set(65, AddressLength, Reply.NtpSourceName);
        Set(66, 0);                         // reset sources
        Set(67, AddressLength, Reply.AuthData);
        Set(68, 16, Reply.ClientAccessesByIndex3);
        Set(69, 4, Reply.SelectData);
        Set(70, 0);                         // reload sources
        Set(71, 4);                         // doffset2
        return q;
    }

    /// <summary>
    /// The length a request with this code must have (header, body and, from version 6 on, the padding that
    /// makes it as long as its reply); 0 for an unknown or retired code.
    /// </summary>
    public static int RequestLength(ushort command, byte version)
    {
        if (command >= Request.Count || Requests[command].Body < 0) return 0;
        int length = RequestHeaderLength + Requests[command].Body;
        return version >= ProtocolVersion ? length + RequestPadding(command) : length;
    }

    /// <summary>How many zero bytes chronyc appends to a version-6 request of this code.</summary>
    public static int RequestPadding(ushort command)
    {
        if (command >= Request.Count || Requests[command].Body < 0) return 0;
        var (body, reply) = Requests[command];
        int request = RequestHeaderLength + body;
        int replyLength = ReplyHeaderLength + ReplyBodyLengths[reply];
        return Math.Max(0, replyLength - request);
    }

    /// <summary>
    /// Writes <paramref name="address"/> as chrony's 20-byte IPAddr at the start of <paramref name="destination"/>:
    /// the address (or id) first, the family code at byte 16. An unspecified address, or any family not known here,
    /// leaves all 20 bytes zero. Throws <see cref="ArgumentOutOfRangeException"/> when <paramref name="destination"/>
    /// is shorter than <see cref="AddressLength"/>.
    /// </summary>
    public static void WriteAddress(Span<byte> destination, CmdmonAddress address)
    {
        destination[..AddressLength].Clear();
        switch (address.Family)
        {
            case FamilyIPv4:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)address.Address.Low);
                break;
            case FamilyIPv6:
                BinaryPrimitives.WriteUInt64BigEndian(destination, address.Address.High);
                BinaryPrimitives.WriteUInt64BigEndian(destination[8..], address.Address.Low);
                break;
            case FamilyId:
                BinaryPrimitives.WriteUInt32BigEndian(destination, address.Id);
                break;
            default:
                return;
        }
        BinaryPrimitives.WriteUInt16BigEndian(destination[16..], address.Family);
    }

    /// <summary>
    /// Reads chrony's 20-byte IPAddr from the start of <paramref name="source"/>. An IPv4 address comes back
    /// IPv4-mapped in <see cref="CmdmonAddress.Address"/>; a family code not known here reads as
    /// <see cref="CmdmonAddress.Unspecified"/>.
    /// </summary>
    public static CmdmonAddress ReadAddress(ReadOnlySpan<byte> source)
    {
        ushort family = BinaryPrimitives.ReadUInt16BigEndian(source[16..]);
        return family switch
        {
            FamilyIPv4 => CmdmonAddress.FromIp(IpAddress128.FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(source))),
            FamilyIPv6 => CmdmonAddress.FromIp(new IpAddress128(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]))),
            FamilyId => CmdmonAddress.FromId(BinaryPrimitives.ReadUInt32BigEndian(source)),
            _ => CmdmonAddress.Unspecified,
        };
    }

    /// <summary>Unix time in ns as chrony's Timespec (64-bit seconds split high/low, then nanoseconds).</summary>
    public static void WriteTimespec(Span<byte> destination, long unixNs)
    {
        long seconds = Math.DivRem(unixNs, 1_000_000_000L, out long nanoseconds);
        if (nanoseconds < 0)
        {
            seconds--;
            nanoseconds += 1_000_000_000L;
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)((ulong)seconds >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)seconds);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)nanoseconds);
    }

    /// <summary>Reads a Timespec as chrony does: a high word of 0x7fffffff means "no high bits"; nanoseconds cap at 999 999 999.</summary>
    public static long ReadTimespec(ReadOnlySpan<byte> source)
    {
        uint high = BinaryPrimitives.ReadUInt32BigEndian(source);
        if (high == 0x7fffffff) high = 0;
        long seconds = (long)((ulong)high << 32 | BinaryPrimitives.ReadUInt32BigEndian(source[4..]));
        uint ns = Math.Min(BinaryPrimitives.ReadUInt32BigEndian(source[8..]), 999_999_999u);
        return seconds * 1_000_000_000L + ns;
    }

    /// <summary>Writes <paramref name="value"/> in chrony's 32-bit number format (<see cref="ChronyFloat"/>), big-endian, 4 bytes.</summary>
    public static void WriteFloat(Span<byte> destination, double value) =>
        BinaryPrimitives.WriteUInt32BigEndian(destination, ChronyFloat.Encode(value));

    /// <summary>Reads 4 big-endian bytes in chrony's 32-bit number format (<see cref="ChronyFloat"/>) as a double.</summary>
    public static double ReadFloat(ReadOnlySpan<byte> source) => ChronyFloat.Decode(BinaryPrimitives.ReadUInt32BigEndian(source));
}

/// <summary>An address as chrony's protocol carries it: IPv4, IPv6, an id for a source without an address yet, or none.</summary>
/// <param name="Family">One of the <c>CmdmonWire.Family*</c> codes; it says which of the other two fields counts.</param>
/// <param name="Address">The IP address for the IPv4 and IPv6 families (IPv4 as an IPv4-mapped address); default otherwise.</param>
/// <param name="Id">The id for <see cref="CmdmonWire.FamilyId"/>; 0 otherwise.</param>
public readonly record struct CmdmonAddress(ushort Family, IpAddress128 Address, uint Id)
{
    /// <summary>No address (family 0): what a report carries when it has none to give.</summary>
    public static readonly CmdmonAddress Unspecified = new(CmdmonWire.FamilyUnspecified, default, 0);

    /// <summary>
    /// The address in the family it belongs to: IPv4 for an IPv4-mapped <paramref name="address"/>, IPv6 for any other.
    /// </summary>
    public static CmdmonAddress FromIp(IpAddress128 address) =>
        new(address.IsIPv4Mapped ? CmdmonWire.FamilyIPv4 : CmdmonWire.FamilyIPv6, address, 0);

    /// <summary>An id in place of an address, as chrony sends a source whose name is not resolved yet.</summary>
    public static CmdmonAddress FromId(uint id) => new(CmdmonWire.FamilyId, default, id);

    /// <summary>True for the IPv4 and IPv6 families; false for an id or no address.</summary>
    public bool IsIp => Family is CmdmonWire.FamilyIPv4 or CmdmonWire.FamilyIPv6;
}
