using System.Buffers.Binary;
using TimeMesh.Core.Access;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;

namespace TimeMesh.Core.Server;

/// <summary>What the server does with one datagram; the drop reasons are what the counters count.</summary>
public enum ServerVerdict : byte
{
    /// <summary>A basic-mode reply; <see cref="NtpServerHandler.FinishReply"/> stamps its transmit time just before it is sent.</summary>
    Respond,
    /// <summary>
    /// A kiss-o'-death (RATE, or NTSN for an NTS cookie the server cannot use), complete as written: it carries no
    /// time and is not restamped.
    /// </summary>
    RespondKissOfDeath,
    /// <summary>The access list refuses the client (chrony's <c>deny</c>, or no <c>allow</c> covers it): no reply.</summary>
    DroppedAccess,
    /// <summary>The client is over its rate limit and this request was neither leaked nor kissed: no reply.</summary>
    DroppedRateLimit,
    /// <summary>Not a well-formed NTP packet (see <see cref="NtpParseError"/>): no reply.</summary>
    DroppedMalformed,
    /// <summary>
    /// Well formed but not a client (mode 3) request: symmetric, server, broadcast, control and private packets get
    /// no reply.
    /// </summary>
    DroppedUnsupportedMode,
    /// <summary>An authenticated reply (NTS): its transmit time is sealed in, so it is never restamped.</summary>
    RespondAuthenticated,
    /// <summary>Authentication fields that are malformed or do not verify.</summary>
    DroppedAuthentication,
    /// <summary>A reply with a MAC under the request's key; complete only after <see cref="NtpServerHandler.FinishReply"/>.</summary>
    RespondWithMac,
    /// <summary>The request's MAC names an unknown key or does not verify (chrony answers neither).</summary>
    DroppedMac,
    /// <summary>
    /// An interleaved reply (RFC 9769): its transmit field already holds the true transmit time of the client's
    /// previous reply, so it is never restamped.
    /// </summary>
    RespondInterleaved,
    /// <summary>An interleaved reply with a MAC; complete only after <see cref="NtpServerHandler.FinishReply"/>, which signs it.</summary>
    RespondInterleavedWithMac,
}

/// <summary>
/// The NTP server's decision logic: access, validation, mode, rate limit, then a mode 4 reply written
/// into a buffer the caller owns. No I/O, no clock reads, no allocation: the caller passes the receive
/// time and stamps the transmit time with <see cref="StampTransmitTime"/> right before sending.
/// </summary>
/// <param name="clientLog">The client log to count and rate limit requests in; see <see cref="ClientLog"/>.</param>
public sealed class NtpServerHandler(ClientLog clientLog)
{
    /// <summary>
    /// The per-client table every allowed, well-formed client request is counted in and rate limited by; its
    /// <see cref="ClientLog.Limit"/> also sets the poll value that replies tell limited clients.
    /// </summary>
    public ClientLog ClientLog { get; } = clientLog;

    /// <summary>The symmetric keys (the keyfile); requests with a MAC are answered only under one of these.</summary>
    public KeyRing Keys { get; init; } = KeyRing.Empty;

    /// <summary>NTS (RFC 8915) on this server; null when NTS is off.</summary>
    public NtsServerExtension? Nts { get; init; }

    /// <summary>
    /// The interleaved mode's table of recent exchanges; null when the server answers in basic mode only. Fill in
    /// the true transmit times with <see cref="InterleavedTimestamps.SetTransmit"/> under the exchange numbers
    /// <see cref="Handle(ReadOnlySpan{byte}, IpAddress128, long, ServerSnapshot, Span{byte}, out int, out long)"/> gives.
    /// </summary>
    public InterleavedTimestamps? Interleaving { get; init; }

    /// <summary>Handles a request without recording its exchange for the interleaved mode's transmit times.</summary>
    public ServerVerdict Handle(
        ReadOnlySpan<byte> request,
        IpAddress128 client,
        long receiveUnixNs,
        ServerSnapshot snapshot,
        Span<byte> reply,
        out int replyLength) => Handle(request, client, receiveUnixNs, snapshot, reply, out replyLength, out _);

    /// <param name="request">The datagram as received.</param>
    /// <param name="client">Its source address.</param>
    /// <param name="receiveUnixNs">Disciplined time it was received at, Unix ns.</param>
    /// <param name="snapshot">The server state to answer from.</param>
    /// <param name="reply">Where the reply goes; at least 48 bytes, and as long as the request when NTS is on.</param>
    /// <param name="replyLength">The reply's length when the verdict is a response, else 0.</param>
    /// <param name="exchange">
    /// With <see cref="Interleaving"/> on, the number under which this reply's true transmit time is to be recorded
    /// once the kernel reports it; -1 when there is nothing to record (no table, no reply, a kiss-o'-death or NTS).
    /// </param>
    public ServerVerdict Handle(
        ReadOnlySpan<byte> request,
        IpAddress128 client,
        long receiveUnixNs,
        ServerSnapshot snapshot,
        Span<byte> reply,
        out int replyLength,
        out long exchange)
    {
        replyLength = 0;
        exchange = -1;
        if (!snapshot.Access.IsAllowed(client)) return ServerVerdict.DroppedAccess;
        if (NtpPacket.Validate(request, out NtpTrailer trailer) != NtpParseError.None) return ServerVerdict.DroppedMalformed;

        byte first = request[0];
        // Only client requests are answered. Symmetric modes are not served, control (6) and private (7)
        // are the classic amplifiers, and 0, 2, 4, 5 are never requests.
        if (NtpHeader.ModeOf(first) != NtpMode.Client) return ServerVerdict.DroppedUnsupportedMode;

        RateDecision rate = ClientLog.Hit(client, receiveUnixNs);
        if (rate == RateDecision.Drop) return ServerVerdict.DroppedRateLimit;
        // Verified after the rate limit, as chrony does, so a flood of forged MACs costs at most the allowed rate.
        SymmetricKey? macKey = null;
        if (trailer.HasMac && NtpMac.Verify(request, trailer, Keys, out macKey) != MacCheck.Valid) return ServerVerdict.DroppedMac;

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
            replyLength = ntsCheck == NtsCheck.CookieNotRecognised ? NtsServerExtension.CompleteNak(request, ref nts, reply)
                : macKey is null ? NtpHeader.Length : NtpMac.Append(reply, NtpHeader.Length, macKey, version);
            return ServerVerdict.RespondKissOfDeath;
        }

        ReferenceState reference = snapshot.Reference;
        var receiveTime = NtpTimestamp.FromUnixNanoseconds(receiveUnixNs);
        var origin = requestTransmit;
        var transmitTime = receiveTime;   // basic mode: a placeholder until FinishReply stamps the reply
        bool interleaved = false;
        if (Interleaving is { } table && ntsCheck == NtsCheck.NotNts)
        {
            // RFC 9769: a client asks for the interleaved mode by sending the server's receive timestamp of its previous
            // exchange as origin and its own receive timestamp (which differs from its transmit timestamp) as receive.
            var requestOrigin = NtpTimestamp.Read(request[NtpHeader.OriginTimeOffset..]);
            var requestReceive = NtpTimestamp.Read(request[NtpHeader.ReceiveTimeOffset..]);
            bool asks = AsksForInterleaved(request);
            // The receive timestamp is the exchange's key: Record keeps it unique, so the reply carries the recorded value.
            receiveTime = new NtpTimestamp(table.Record(receiveTime.Value, asks ? requestOrigin.Value : 0, out exchange, out ulong previousTransmit));
            if (previousTransmit != 0)
            {
                // The reply names the client's previous exchange by its own receive timestamp and carries that exchange's
                // true transmit time; this exchange's receive time goes out now, its transmit time with the next reply.
                interleaved = true;
                origin = requestReceive;
                transmitTime = new NtpTimestamp(previousTransmit);
            }
            else
            {
                transmitTime = receiveTime;
            }
        }
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
            origin,
            receiveTime,
            transmitTime).Write(reply);
        if (ntsCheck == NtsCheck.Authenticated)
        {
            // The transmit time is the receive time here: the authenticator covers it, so it cannot be stamped later.
            replyLength = Nts!.CompleteReply(request, ref nts, reply);
            return ServerVerdict.RespondAuthenticated;
        }
        // The reply is the bare header: never larger than a request, which is at least 48 bytes. An
        // authenticated reply adds a MAC no longer than the request's (same key, same version).
        replyLength = NtpHeader.Length;
        if (macKey is null) return interleaved ? ServerVerdict.RespondInterleaved : ServerVerdict.Respond;
        // The digest must cover the transmit time, which the caller stamps last: FinishReply signs.
        BinaryPrimitives.WriteUInt32BigEndian(reply[NtpHeader.Length..], macKey.Id);
        replyLength += NtpMac.TrailerLength(macKey, version);
        return interleaved ? ServerVerdict.RespondInterleavedWithMac : ServerVerdict.RespondWithMac;
    }

    /// <summary>
    /// Completes a reply right before it is sent: stamps the transmit time where the verdict needs it and
    /// signs an authenticated reply over its final bytes. Allocates nothing.
    /// </summary>
    public void FinishReply(ServerVerdict verdict, Span<byte> reply, int replyLength, long transmitUnixNs)
    {
        if (NeedsTransmitStamp(verdict)) StampTransmitTime(reply, transmitUnixNs);
        if (verdict is not (ServerVerdict.RespondWithMac or ServerVerdict.RespondInterleavedWithMac)) return;
        uint keyId = BinaryPrimitives.ReadUInt32BigEndian(reply[NtpHeader.Length..]);
        if (!Keys.TryGet(keyId, out var key)) throw new InvalidOperationException($"reply names key {keyId}, which this handler does not hold");
        NtpMac.Append(reply, NtpHeader.Length, key, NtpHeader.VersionOf(reply[0]));
    }

    /// <summary>
    /// True for a client request that asks for the interleaved mode (RFC 9769): a non-zero origin and a receive timestamp
    /// that differs from the transmit timestamp. Drivers use it to start taking transmit timestamps only when needed.
    /// </summary>
    public static bool AsksForInterleaved(ReadOnlySpan<byte> request) =>
        request.Length >= NtpHeader.Length
        && BinaryPrimitives.ReadUInt64BigEndian(request[NtpHeader.OriginTimeOffset..]) != 0
        && BinaryPrimitives.ReadUInt64BigEndian(request[NtpHeader.ReceiveTimeOffset..]) != BinaryPrimitives.ReadUInt64BigEndian(request[NtpHeader.TransmitTimeOffset..]);

    /// <summary>Writes the transmit timestamp into a reply; call as late as possible before sending.</summary>
    public static void StampTransmitTime(Span<byte> reply, long transmitUnixNs) =>
        BinaryPrimitives.WriteUInt64BigEndian(reply[NtpHeader.TransmitTimeOffset..], NtpTimestamp.FromUnixNanoseconds(transmitUnixNs).Value);

    /// <summary>True for the verdicts whose reply carries time and so needs its transmit stamp (a kiss-o'-death carries none).</summary>
    public static bool NeedsTransmitStamp(ServerVerdict verdict) => verdict is ServerVerdict.Respond or ServerVerdict.RespondWithMac;
}
