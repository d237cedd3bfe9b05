using System.Buffers.Binary;
using TimeMesh.Core.Access;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;

namespace TimeMesh.Core.Server;

/// <summary>What the server does with one datagram; the drop reasons are what the counters count.</summary>
public enum ServerVerdict : byte
{
    Respond,
    RespondKissOfDeath,
    DroppedAccess,
    DroppedRateLimit,
    DroppedMalformed,
    DroppedUnsupportedMode,
    /// <summary>An authenticated reply (NTS): its transmit time is sealed in, so it is never restamped.</summary>
    RespondAuthenticated,
    /// <summary>Authentication fields that are malformed or do not verify.</summary>
    DroppedAuthentication,
}

/// <summary>
/// The NTP server's decision logic: access, validation, mode, rate limit, then a mode 4 reply written
/// into a buffer the caller owns. No I/O, no clock reads, no allocation: the caller passes the receive
/// time and stamps the transmit time with <see cref="StampTransmitTime"/> right before sending.
/// </summary>
public sealed class NtpServerHandler(ClientLog clientLog)
{
    public ClientLog ClientLog { get; } = clientLog;

    /// <summary>NTS (RFC 8915) on this server; null when NTS is off.</summary>
    public NtsServerExtension? Nts { get; init; }

    /// <param name="request">The datagram as received.</param>
    /// <param name="client">Its source address.</param>
    /// <param name="receiveUnixNs">Disciplined time it was received at, Unix ns.</param>
    /// <param name="snapshot">The server state to answer from.</param>
    /// <param name="reply">Where the reply goes; at least 48 bytes, and as long as the request when NTS is on.</param>
    /// <param name="replyLength">The reply's length when the verdict is a response, else 0.</param>
    public ServerVerdict Handle(
        ReadOnlySpan<byte> request,
        IpAddress128 client,
        long receiveUnixNs,
        ServerSnapshot snapshot,
        Span<byte> reply,
        out int replyLength)
    {
        replyLength = 0;
        if (!snapshot.Access.IsAllowed(client)) return ServerVerdict.DroppedAccess;
        if (NtpPacket.Validate(request, out NtpTrailer trailer) != NtpParseError.None) return ServerVerdict.DroppedMalformed;

        byte first = request[0];
        // Only client requests are answered. Symmetric modes are not served, control (6) and private (7)
        // are the classic amplifiers, and 0, 2, 4, 5 are never requests.
        if (NtpHeader.ModeOf(first) != NtpMode.Client) return ServerVerdict.DroppedUnsupportedMode;

        RateDecision rate = ClientLog.Hit(client, receiveUnixNs);
        if (rate == RateDecision.Drop) return ServerVerdict.DroppedRateLimit;

        var nts = default(NtsRequestState);
        NtsCheck ntsCheck = trailer.ExtensionFieldCount > 0 && Nts is { } ntsServer ? ntsServer.Check(request, trailer, ref nts) : NtsCheck.NotNts;
        // An unauthenticated RATE kiss would not be believed by an NTS client: it is simply not answered.
        if (ntsCheck == NtsCheck.Drop || (ntsCheck != NtsCheck.NotNts && rate == RateDecision.KissOfDeath)) return ServerVerdict.DroppedAuthentication;

        int version = NtpHeader.VersionOf(first);
        var requestTransmit = NtpTimestamp.Read(request[NtpHeader.TransmitTimeOffset..]);
        sbyte poll = (sbyte)request[NtpHeader.PollOffset];
        if (ClientLog.Limit is { } limit && poll < limit.IntervalLog2)
        {
            // Tell a client that is rate limited how often it may ask, as chrony does.
            poll = (sbyte)limit.IntervalLog2;
        }

        if (rate == RateDecision.KissOfDeath || ntsCheck == NtsCheck.CookieNotRecognised)
        {
            // RFC 5905 kiss-o'-death: stratum 0 and a code in the reference id. It carries no time: every
            // timestamp but the origin repeats the request's own, so it tells a spoofer nothing.
            new NtpHeader(
                LeapIndicator.Unsynchronised, (byte)version, NtpMode.Server, 0, poll, snapshot.PrecisionLog2,
                NtpShort.Zero, NtpShort.Zero, ntsCheck == NtsCheck.CookieNotRecognised ? ReferenceIds.KissNtsNak : ReferenceIds.KissRate,
                requestTransmit, requestTransmit, requestTransmit, requestTransmit).Write(reply);
            replyLength = ntsCheck == NtsCheck.CookieNotRecognised ? NtsServerExtension.CompleteNak(request, ref nts, reply) : NtpHeader.Length;
            return ServerVerdict.RespondKissOfDeath;
        }

        ReferenceState reference = snapshot.Reference;
        var receiveTime = NtpTimestamp.FromUnixNanoseconds(receiveUnixNs);
        NtpTimestamp referenceTime = reference.Kind switch
        {
            ReferenceKind.Local => receiveTime,
            _ when reference.ReferenceTimeUnixNs != 0 => NtpTimestamp.FromUnixNanoseconds(reference.ReferenceTimeUnixNs),
            _ => NtpTimestamp.Zero,
        };
        new NtpHeader(
            reference.Leap,
            (byte)version,
            NtpMode.Server,
            reference.Stratum,
            poll,
            snapshot.PrecisionLog2,
            NtpShort.FromSeconds(reference.RootDelaySeconds),
            NtpShort.FromSeconds(reference.RootDispersionAt(receiveUnixNs)),
            reference.ReferenceId,
            referenceTime,
            requestTransmit,
            receiveTime,
            receiveTime).Write(reply);
        if (ntsCheck == NtsCheck.Authenticated)
        {
            // The transmit time is the receive time here: the authenticator covers it, so it cannot be stamped later.
            replyLength = Nts!.CompleteReply(request, ref nts, reply);
            return ServerVerdict.RespondAuthenticated;
        }
        // The reply is the bare header: never larger than a request, which is at least 48 bytes.
        replyLength = NtpHeader.Length;
        return ServerVerdict.Respond;
    }

    /// <summary>Writes the transmit timestamp into a reply; call as late as possible before sending.</summary>
    public static void StampTransmitTime(Span<byte> reply, long transmitUnixNs) =>
        BinaryPrimitives.WriteUInt64BigEndian(reply[NtpHeader.TransmitTimeOffset..], NtpTimestamp.FromUnixNanoseconds(transmitUnixNs).Value);

    /// <summary>True for verdicts whose reply must not be restamped (a kiss-o'-death carries no time).</summary>
    public static bool NeedsTransmitStamp(ServerVerdict verdict) => verdict == ServerVerdict.Respond;
}
