using System.Buffers.Binary;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Sources;

/// <summary>What became of a reply.</summary>
public enum ReplyOutcome : byte
{
    /// <summary>A good sample.</summary>
    Sample,
    /// <summary>Not a packet, or not a server reply.</summary>
    Malformed,
    /// <summary>Its origin timestamp matches no request in flight: a duplicate, a late reply or a spoof.</summary>
    Bogus,
    /// <summary>A valid reply from a server that is not synchronised (leap 3 or stratum 16).</summary>
    Unsynchronised,
    /// <summary>
    /// RATE: the server asks us to poll less often. The poll interval grows by at least one step and to at least the
    /// server's own poll value, never past maxpoll; the shortest interval used from then on rises with it, and a burst
    /// in progress is cut off.
    /// </summary>
    KissRate,
    /// <summary>DENY or RSTR: the source is no longer polled.</summary>
    KissDeny,
    /// <summary>A kiss-o'-death (stratum 0) with any other code: counted, but no sample, and the source is not marked reached.</summary>
    KissOther,
    /// <summary>The source has a key and the reply carries no valid MAC under it: ignored, as if never received.</summary>
    AuthFailed,
    /// <summary>A valid reply whose round trip was too long to measure with (<see cref="SourceStatistics.PassesDelayTests"/>): the source counts as reached, the sample is not used.</summary>
    DelayRejected,
    /// <summary>
    /// An interleaved reply that completes an exchange already measured from its basic reply: the source counts as
    /// reached, and no second sample of the same exchange is made.
    /// </summary>
    AlreadySampled,
}

/// <summary>
/// The protocol half of one source (chrony's ntp_core as a client): when to poll, the request, the
/// anti-spoofing check of the reply, kiss-o'-death, the reachability register, and the sample.
/// All times are the raw clock's Unix nanoseconds, passed in by the driver.
/// </summary>
public sealed class NtpSourcePoller
{
    /// <summary>Spacing of iburst and burst requests (chrony: 2 s), shortened when the poll interval is shorter.</summary>
    public const long BurstSpacingNs = 2_000_000_000;
    /// <summary>Requests sent <see cref="BurstSpacingNs"/> apart at the start when <see cref="SourceSettings.IBurst"/> is set.</summary>
    public const int IBurstCount = 4;
    /// <summary>Requests sent <see cref="BurstSpacingNs"/> apart at each poll of a reachable source when <see cref="SourceSettings.Burst"/> is set.</summary>
    public const int BurstCount = 4;
    /// <summary>RFC 5905 PHI: how fast an unrefreshed measurement loses accuracy, s/s.</summary>
    public const double Phi = 15e-6;

    private readonly Func<ulong> _random;
    private ulong _cookie;
    // Interleaved mode: the value sent in the receive field, which an interleaved reply echoes as its origin (0: none).
    private ulong _interleavedCookie;
    // The last exchange that was answered: what an interleaved reply completes (its T1, T4 and the server's T2).
    private long _previousSentNs;
    private long _previousReceivedNs;
    private NtpTimestamp _previousServerReceive;
    private bool _previousValid;
    private bool _previousSampled;
    private long _sentNs;
    private bool _pending;
    private int _samplesSincePollChange;
    private int _burstRemaining;
    private int _minPollLog2;

    /// <param name="id">The number the engine gives the source, used in its reports.</param>
    /// <param name="settings">The source's configuration; the poll interval starts at its minpoll.</param>
    /// <param name="startNs">When the first request is due, raw Unix ns.</param>
    /// <param name="random">64-bit random numbers for the cookies that stand in the requests' timestamp fields.</param>
    public NtpSourcePoller(int id, SourceSettings settings, long startNs, Func<ulong> random)
    {
        Id = id;
        Settings = settings;
        _random = random;
        _minPollLog2 = settings.MinPollLog2;
        PollLog2 = settings.MinPollLog2;
        NextPollNs = startNs;
        _burstRemaining = settings.IBurst ? IBurstCount : 1;
    }

    /// <summary>The number the engine gave the source (chronyc's source index in reports).</summary>
    public int Id { get; }
    /// <summary>The source's configuration; only <see cref="SetPrefer"/> changes it after construction.</summary>
    public SourceSettings Settings { get; private set; }

    /// <summary>Marks the source preferred or not (the mesh prefers its leader).</summary>
    public void SetPrefer(bool prefer) => Settings = Settings with { Prefer = prefer };

    /// <summary>
    /// The current poll interval, log2 seconds, between minpoll and maxpoll. It starts at minpoll; <see cref="AdjustPoll"/>
    /// moves it with how many samples the fit holds, it shortens one step per poll from the second unanswered request
    /// in a row, and a RATE kiss lengthens it.
    /// </summary>
    public int PollLog2 { get; private set; }
    /// <summary>The last 8 polls, newest in bit 0: 1 = a valid reply came.</summary>
    public byte Reach { get; private set; }
    /// <summary>When the next request is due, raw Unix ns.</summary>
    public long NextPollNs { get; private set; }
    /// <summary>The server told us to go away (DENY, RSTR).</summary>
    public bool Demobilised { get; private set; }
    /// <summary>
    /// Requests in a row left unanswered, counted when the next poll comes due with the previous request still
    /// pending; a reply that makes or completes a sample resets it (kisses and unsynchronised replies do neither).
    /// At <see cref="SourceSettings.MaxUnreach"/> the source is no longer <see cref="IsReachable"/>.
    /// </summary>
    public int ConsecutiveMisses { get; private set; }
    /// <summary>Raw receive time (Unix ns) of the last reply that answered a request of ours, of any outcome; 0 = none yet.</summary>
    public long LastReplyNs { get; private set; }
    /// <summary>Requests written by <see cref="TryPoll"/> (chronyc ntpdata's "Total TX").</summary>
    public long RequestsSent { get; private set; }
    /// <summary>
    /// Replies that answered the request in flight, whatever became of them after that check (kisses and unsynchronised
    /// servers included); chronyc ntpdata's "Total valid RX".
    /// </summary>
    public long RepliesReceived { get; private set; }
    /// <summary>Replies dropped as <see cref="ReplyOutcome.Bogus"/>: no request in flight, or an origin timestamp that matches none.</summary>
    public long BogusReplies { get; private set; }
    /// <summary>Kiss-o'-death replies (stratum 0) of any code.</summary>
    public long KissesReceived { get; private set; }
    /// <summary>Replies dropped because they lacked a valid MAC under the source's key.</summary>
    public long AuthFailures { get; private set; }

    /// <summary>How many bytes <see cref="TryPoll"/> writes: the header, and a MAC when the source has a key.</summary>
    public int RequestLength => NtpHeader.Length + (Settings.Key is { } key ? NtpMac.TrailerLength(key, RequestVersion) : 0);

    private const int RequestVersion = 4;
    /// <summary>The newest sample this source gave, moved along with raw clock steps; null before the first.</summary>
    public NtpSample? LastSample { get; private set; }

    /// <summary>The header of the reply that made <see cref="LastSample"/> (chronyc ntpdata shows its fields).</summary>
    public NtpHeader? LastSampleHeader { get; private set; }

    /// <summary>How long the server held the request that made <see cref="LastSample"/> (its transmit − receive time), seconds.</summary>
    public double LastResponseTimeSeconds { get; private set; }

    /// <summary>Replies that made a sample (chronyc ntpdata's "Total good RX").</summary>
    public long GoodReplies { get; private set; }

    /// <summary>Samples taken in the interleaved mode (RFC 9769): from the server's true transmit time of its previous reply.</summary>
    public long InterleavedSamples { get; private set; }

    /// <summary>True when the last sample came from an interleaved reply (chronyc ntpdata's "Interleaved").</summary>
    public bool LastSampleInterleaved { get; private set; }

    /// <summary>Whether the source answered recently enough to be considered (maxunreach).</summary>
    public bool IsReachable => !Demobilised && Reach != 0 && ConsecutiveMisses < Settings.MaxUnreach;

    private long PollIntervalNs => PollLog2 >= 0 ? 1_000_000_000L << PollLog2 : 1_000_000_000L >> -PollLog2;

    /// <summary>
    /// If a poll is due at <paramref name="nowNs"/>, writes a client request into <paramref name="request"/>
    /// (<see cref="RequestLength"/> bytes) and returns true; the driver sends it from a fresh random port and calls
    /// <see cref="RequestSent"/> with the time it went out.
    /// </summary>
    public bool TryPoll(long nowNs, Span<byte> request)
    {
        if (Demobilised || nowNs < NextPollNs) return false;
        if (_pending)
        {
            // The previous request was never answered.
            ConsecutiveMisses++;
            if (ConsecutiveMisses >= 2) PollLog2 = Math.Max(_minPollLog2, PollLog2 - 1);
        }
        Reach = (byte)(Reach << 1);

        if (_burstRemaining <= 0 && Settings.Burst && IsReachable) _burstRemaining = BurstCount;
        long interval = PollIntervalNs;
        if (_burstRemaining > 1)
        {
            _burstRemaining--;
            interval = Math.Min(BurstSpacingNs, interval);
        }
        else
        {
            _burstRemaining = 0;
        }
        NextPollNs = nowNs + interval;

        // The transmit field carries a random cookie, not our time (as chrony does): the reply must echo
        // it, which an off-path attacker cannot guess, and it tells observers nothing about our clock.
        _cookie = _random() | 1;
        // RFC 9769: an interleaved request names the previous exchange by the server's receive timestamp of it (origin)
        // and carries a second cookie in the receive field, different from the transmit one; an interleaved reply echoes
        // that cookie. Without an answered exchange to name, the request is basic.
        _interleavedCookie = Settings.Xleave && !Settings.Nts && _previousValid ? (_random() | 1) : 0;
        if (_interleavedCookie == _cookie) _interleavedCookie ^= 2;
        new NtpHeader(LeapIndicator.Unsynchronised, RequestVersion, NtpMode.Client, 0, (sbyte)PollLog2, 0x20,
            NtpShort.Zero, NtpShort.Zero, 0, NtpTimestamp.Zero,
            _interleavedCookie != 0 ? _previousServerReceive : NtpTimestamp.Zero,
            new NtpTimestamp(_interleavedCookie),
            new NtpTimestamp(_cookie)).Write(request);
        if (Settings.Key is { } key) NtpMac.Append(request, NtpHeader.Length, key, RequestVersion);
        _pending = true;
        _sentNs = nowNs;
        RequestsSent++;
        return true;
    }

    /// <summary>The raw time the request left (read right before the send).</summary>
    public void RequestSent(long sentNs) => _sentNs = sentNs;

    /// <summary>
    /// A request has been out for longer than <paramref name="graceNs"/> without a reply: the source has stopped
    /// answering for now, although it still counts as reachable until <see cref="SourceSettings.MaxUnreach"/> polls
    /// have gone unanswered. What it answered last is no longer news about it.
    /// </summary>
    public bool IsOverdue(long nowNs, long graceNs) => _pending && nowNs - _sentNs > graceNs;

    /// <summary>The least time between two requests that <see cref="PollSoon"/> allows: a reply still on its way is not given up for a new request.</summary>
    public const long PollSoonSpacingNs = 1_000_000_000;

    /// <summary>
    /// News from outside the protocol says the source has changed (the mesh reports a master's new stratum): poll it
    /// at <paramref name="nowNs"/> instead of at the end of its interval, but never sooner than
    /// <see cref="PollSoonSpacingNs"/> after the last request, so a reply on its way is not counted as missed. The poll
    /// interval itself is left as it is.
    /// </summary>
    public void PollSoon(long nowNs)
    {
        if (Demobilised) return;
        long earliest = RequestsSent == 0 ? nowNs : Math.Max(nowNs, _sentNs + PollSoonSpacingNs);
        if (earliest < NextPollNs) NextPollNs = earliest;
    }

    /// <param name="reply">The datagram that arrived from the source.</param>
    /// <param name="receivedNs">Its receive time on the raw clock (kernel timestamp where there is one).</param>
    /// <param name="localPrecisionLog2">Our clock's precision, for the sample's dispersion.</param>
    /// <param name="sample">The measurement when the reply was accepted.</param>
    public ReplyOutcome HandleReply(ReadOnlySpan<byte> reply, long receivedNs, sbyte localPrecisionLog2, out NtpSample sample)
    {
        sample = default;
        if (!NtpPacket.TryParse(reply, out var packet, out _)) return ReplyOutcome.Malformed;
        var h = packet.Header;
        if (h.Mode != NtpMode.Server) return ReplyOutcome.Malformed;
        if (Settings.Key is { } key && NtpMac.Verify(reply, packet.Trailer, key) != MacCheck.Valid)
        {
            // chrony's test5: nothing of an unauthenticated reply is used, not even to mark the source
            // reached, and the request stays pending for the genuine reply.
            AuthFailures++;
            return ReplyOutcome.AuthFailed;
        }
        bool interleaved = _pending && _interleavedCookie != 0 && h.OriginTime.Value == _interleavedCookie;
        if (!_pending || (h.OriginTime.Value != _cookie && !interleaved))
        {
            BogusReplies++;
            return ReplyOutcome.Bogus;
        }
        _pending = false;
        RepliesReceived++;
        LastReplyNs = receivedNs;

        if (h.Stratum == 0)
        {
            KissesReceived++;
            if (h.ReferenceId == ReferenceIds.KissRate)
            {
                // Back off: poll less often from now on, never below what the server asked for.
                PollLog2 = Math.Min(Settings.MaxPollLog2, Math.Max(PollLog2 + 1, h.PollLog2));
                _minPollLog2 = Math.Max(_minPollLog2, Math.Min(PollLog2, Settings.MaxPollLog2));
                _burstRemaining = 0;
                NextPollNs = Math.Max(NextPollNs, receivedNs + PollIntervalNs);
                return ReplyOutcome.KissRate;
            }
            if (h.ReferenceId == ReferenceIds.KissDeny || h.ReferenceId == ReferenceIds.KissRestrict)
            {
                Demobilised = true;
                Reach = 0;
                return ReplyOutcome.KissDeny;
            }
            return ReplyOutcome.KissOther;
        }
        if (h.Leap == LeapIndicator.Unsynchronised || h.Stratum >= 16) return ReplyOutcome.Unsynchronised;
        if (h.ReceiveTime.IsZero || h.TransmitTime.IsZero) return ReplyOutcome.Malformed;
        // This exchange, for the next interleaved reply to complete (the request that named the previous one is answered).
        bool previousValid = _previousValid, previousSampled = _previousSampled;
        long previousSentNs = _previousSentNs, previousReceivedNs = _previousReceivedNs;
        var previousServerReceive = _previousServerReceive;
        _previousValid = true;
        _previousSentNs = _sentNs;
        _previousReceivedNs = receivedNs;
        _previousServerReceive = h.ReceiveTime;
        // A basic reply measures its own exchange; an interleaved one only the one before.
        _previousSampled = !interleaved;

        long t1, t2, t3, t4;
        if (interleaved)
        {
            // The reply completes the previous exchange: our T1 and T4 of it, the server's T2 of it, and its true T3.
            if (!previousValid) return ReplyOutcome.Malformed;
            t1 = previousSentNs;
            t2 = previousServerReceive.ToUnixNanoseconds(t1);
            t3 = h.TransmitTime.ToUnixNanoseconds(t1);
            t4 = previousReceivedNs;
            // A transmit time before that exchange's receive time, or long after it, is no transmit time of it.
            if (t3 < t2 || t3 - t2 > 1_000_000_000L) return ReplyOutcome.Malformed;
            if (previousSampled)
            {
                Reach |= 1;
                ConsecutiveMisses = 0;
                return ReplyOutcome.AlreadySampled;
            }
        }
        else
        {
            t1 = _sentNs;
            t2 = h.ReceiveTime.ToUnixNanoseconds(t1);
            t3 = h.TransmitTime.ToUnixNanoseconds(t1);
            t4 = receivedNs;
        }
        double offset = ((t2 - t1) + (t3 - t4)) * 0.5e-9;
        double precision = Math.Pow(2, h.PrecisionLog2) + Math.Pow(2, localPrecisionLog2);
        double delay = Math.Max((t4 - t1 - (t3 - t2)) * 1e-9, precision);
        double dispersion = precision + Phi * delay;
        sample = new NtpSample(t1 + (t4 - t1) / 2, offset, delay, dispersion, h.RootDelay.Seconds, h.RootDispersion.Seconds,
            h.Stratum, h.Leap, h.ReferenceId);
        LastSample = sample;
        LastSampleHeader = h;
        LastResponseTimeSeconds = (t3 - t2) * 1e-9;
        LastSampleInterleaved = interleaved;
        if (interleaved) InterleavedSamples++;
        GoodReplies++;
        Reach |= 1;
        ConsecutiveMisses = 0;
        return ReplyOutcome.Sample;
    }

    /// <summary>
    /// The raw clock was stepped: move the schedule with it, and forget the request in flight (its
    /// send time is on the old scale, so its reply would make a false sample).
    /// </summary>
    public void RawClockStepped(long deltaNs)
    {
        NextPollNs += deltaNs;
        if (LastReplyNs != 0) LastReplyNs += deltaNs;
        if (LastSample is { } s) LastSample = s with { LocalTimeNs = s.LocalTimeNs + deltaNs, OffsetSeconds = s.OffsetSeconds - deltaNs * 1e-9 };
        _pending = false;
        _previousValid = false;   // its T1 and T4 are on the old scale
    }

    /// <summary>Adapts the poll interval to how well the statistics fit (chrony's polltarget idea).</summary>
    public void AdjustPoll(int samplesInFit, int pollTarget)
    {
        if (_burstRemaining > 0) return;
        _samplesSincePollChange++;
        int before = PollLog2;
        // Lengthen only after a few samples at the current interval have confirmed the fit; shorten at once.
        if (samplesInFit >= pollTarget && _samplesSincePollChange >= pollTarget / 2) PollLog2 = Math.Min(Settings.MaxPollLog2, PollLog2 + 1);
        else if (samplesInFit < pollTarget / 2) PollLog2 = Math.Max(_minPollLog2, PollLog2 - 1);
        if (PollLog2 != before) _samplesSincePollChange = 0;
    }

    internal static ulong ReadCookie(ReadOnlySpan<byte> request) =>
        BinaryPrimitives.ReadUInt64BigEndian(request[NtpHeader.TransmitTimeOffset..]);
}
