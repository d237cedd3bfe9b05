using System.Buffers.Binary;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;
using static TimeMesh.Core.Cmdmon.CmdmonWire;

namespace TimeMesh.Core.Cmdmon;

/// <summary>What became of a datagram on the command port.</summary>
public enum CmdmonVerdict : byte
{
    /// <summary>Not a command request (or one an answer would make larger than it): no reply at all.</summary>
    Drop,
    /// <summary>The reply is written (an error status, a refusal, or a report that needs no data).</summary>
    Answered,
    /// <summary>A valid report request: fetch <see cref="CmdmonRequest.Need"/> and call <see cref="CmdmonServer.Answer"/>.</summary>
    NeedsData,
}

/// <summary>The fields of a request the server needs after <see cref="CmdmonServer.Inspect"/>.</summary>
/// <param name="Command">The request code (one of <see cref="CmdmonWire.Request"/>'s); the reply echoes it.</param>
/// <param name="Version">The protocol version in the request header.</param>
/// <param name="Sequence">The sequence number chronyc chose; the reply echoes it so chronyc can match the two.</param>
/// <param name="Length">The datagram's length in bytes: no reply to it may be longer.</param>
/// <param name="Need">Which of the node's reports to fetch when the verdict is <see cref="CmdmonVerdict.NeedsData"/>.</param>
/// <param name="Index">The source index (source data, select data, sourcestats) or the first client index (clients).</param>
/// <param name="Address">The source address an ntpdata or source-name request names; <see cref="CmdmonAddress.Unspecified"/> otherwise.</param>
/// <param name="MaxClients">How many client records to send at most, already capped at <see cref="CmdmonWire.ClientRecordsPerReply"/>.</param>
/// <param name="MinHits">Clients with fewer NTP and command hits together than this are left out.</param>
public readonly record struct CmdmonRequest(
    ushort Command,
    byte Version,
    uint Sequence,
    int Length,
    CmdmonNeed Need,
    uint Index,
    CmdmonAddress Address,
    uint MaxClients,
    uint MinHits);

/// <summary>
/// chrony's command and monitoring protocol, read-only: the checks chronyd makes on a datagram (in its order),
/// the refusal of every command that would change the node (chrony's "not authorised" status), and the
/// encoding of each report. A reply is never longer than its request, whatever the request: the no-amplification
/// rule chrony's padding exists for, enforced here on every path.
/// Reports chronyd gives only on its Unix socket (serverstats, ntpdata, clients) are given to requests from
/// the loopback address only, never to a remote host that cmdallow lets in.
/// </summary>
public static class CmdmonServer
{
    /// <summary>
    /// Judges a datagram that passed the access check. <paramref name="fromLocalhost"/>: it came from 127.0.0.1
    /// or ::1. Writes the reply and returns <see cref="CmdmonVerdict.Answered"/> when no data is needed.
    /// </summary>
    /// <param name="datagram">The datagram as received.</param>
    /// <param name="fromLocalhost">True for 127.0.0.1 or ::1: only then are serverstats, ntpdata, clients and select data given.</param>
    /// <param name="reply">Where the reply is written; it should hold the longest reply (a buffer of
    /// <see cref="CmdmonWire.MaxRequestLength"/> bytes does). A reply that would not fit is dropped.</param>
    /// <param name="replyLength">The bytes of <paramref name="reply"/> to send; 0 unless the verdict is <see cref="CmdmonVerdict.Answered"/>.</param>
    /// <param name="request">The request's fields, to pass to <see cref="Answer"/> on <see cref="CmdmonVerdict.NeedsData"/>;
    /// default when the datagram was dropped before its header was read.</param>
    /// <returns>What to do with the datagram: drop it, send the reply, or fetch data and call <see cref="Answer"/>.</returns>
    public static CmdmonVerdict Inspect(ReadOnlySpan<byte> datagram, bool fromLocalhost, Span<byte> reply, out int replyLength, out CmdmonRequest request)
    {
        replyLength = 0;
        request = default;
        // chronyd: shorter than either header (an error reply would be longer than the request) or longer
        // than any request is not for us, nor is anything that is not a request with zero reserved bytes.
        if (datagram.Length < RequestHeaderLength || datagram.Length < ReplyHeaderLength || datagram.Length > MaxRequestLength) return CmdmonVerdict.Drop;
        if (datagram[1] != PacketTypeRequest || datagram[2] != 0 || datagram[3] != 0) return CmdmonVerdict.Drop;

        byte version = datagram[0];
        ushort command = BinaryPrimitives.ReadUInt16BigEndian(datagram[4..]);
        uint sequence = BinaryPrimitives.ReadUInt32BigEndian(datagram[8..]);
        request = new CmdmonRequest(command, version, sequence, datagram.Length, default, 0, CmdmonAddress.Unspecified, 0, 0);

        if (version != ProtocolVersion)
        {
            // A chronyc that speaks version 5 learns of the mismatch; older ones get nothing.
            if (version < OldestVersionAnswered) return CmdmonVerdict.Drop;
            return Status(request, CmdmonWire.Status.BadPacketVersion, reply, out replyLength);
        }
        int expected = RequestLength(command, version);
        if (expected == 0) return Status(request, CmdmonWire.Status.Invalid, reply, out replyLength);
        if (datagram.Length < expected) return Status(request, CmdmonWire.Status.BadPacketLength, reply, out replyLength);

        ReadOnlySpan<byte> body = datagram[RequestHeaderLength..];
        switch (command)
        {
            case Request.Null:
                return Status(request, CmdmonWire.Status.Success, reply, out replyLength);
            case Request.Logon:
                // Authentication is gone from chrony's protocol; a logon always fails.
                return Status(request, CmdmonWire.Status.Failed, reply, out replyLength);
            case Request.NSources:
            case Request.Activity:
                request = request with { Need = CmdmonNeed.Sources };
                return CmdmonVerdict.NeedsData;
            case Request.SourceData:
            case Request.SelectData when fromLocalhost:
                request = request with { Need = CmdmonNeed.Sources, Index = BinaryPrimitives.ReadUInt32BigEndian(body) };
                return CmdmonVerdict.NeedsData;
            case Request.NtpSourceName:
                request = request with { Need = CmdmonNeed.Sources, Address = ReadAddress(body) };
                return CmdmonVerdict.NeedsData;
            case Request.SourceStats:
                request = request with { Need = CmdmonNeed.SourceStats, Index = BinaryPrimitives.ReadUInt32BigEndian(body) };
                return CmdmonVerdict.NeedsData;
            case Request.Tracking:
                request = request with { Need = CmdmonNeed.Tracking };
                return CmdmonVerdict.NeedsData;
            case Request.RtcReport:
                // The node keeps no real-time-clock model: chronyd's answer when its RTC driver is off.
                return Status(request, CmdmonWire.Status.NoRtc, reply, out replyLength);
            case Request.Smoothing:
                // No time smoothing (chrony's smoothtime directive) in TimeMesh.
                return Status(request, CmdmonWire.Status.NotEnabled, reply, out replyLength);
            case Request.ManualList:
                // Manual input is a changing command chrony keeps for its socket; the list is empty here.
                BinaryPrimitives.WriteUInt32BigEndian(reply[ReplyHeaderLength..], 0);
                return Finish(request, Reply.ManualList2, CmdmonWire.Status.Success, reply, out replyLength);
            case Request.ServerStats when fromLocalhost:
                request = request with { Need = CmdmonNeed.ServerStats };
                return CmdmonVerdict.NeedsData;
            case Request.NtpData when fromLocalhost:
                request = request with { Need = CmdmonNeed.NtpData, Address = ReadAddress(body) };
                return CmdmonVerdict.NeedsData;
            case Request.ClientAccessesByIndex3 when fromLocalhost:
                // reset (the fourth word) clears the counters: a change, refused below.
                if (BinaryPrimitives.ReadUInt32BigEndian(body[12..]) != 0) break;
                request = request with
                {
                    Need = CmdmonNeed.Clients,
                    Index = BinaryPrimitives.ReadUInt32BigEndian(body),
                    MaxClients = Math.Min(BinaryPrimitives.ReadUInt32BigEndian(body[4..]), ClientRecordsPerReply),
                    MinHits = BinaryPrimitives.ReadUInt32BigEndian(body[8..]),
                };
                return CmdmonVerdict.NeedsData;
        }
        // Everything else changes the node (or is a report chronyd keeps for its socket, asked from afar).
        return Status(request, CmdmonWire.Status.Unauthorised, reply, out replyLength);
    }

    /// <summary>Writes the report <paramref name="request"/> asked for from <paramref name="data"/>; returns the reply's length (0: none).</summary>
    public static int Answer(in CmdmonRequest request, CmdmonData data, Span<byte> reply)
    {
        Span<byte> body = reply[ReplyHeaderLength..];
        int length;
        switch (request.Command)
        {
            case Request.NSources:
                BinaryPrimitives.WriteUInt32BigEndian(body, (uint)data.Sources.Count);
                Finish(request, Reply.NSources, CmdmonWire.Status.Success, reply, out length);
                return length;
            case Request.Activity:
                WriteActivity(body, data.Sources);
                Finish(request, Reply.Activity, CmdmonWire.Status.Success, reply, out length);
                return length;
            case Request.SourceData:
                if (request.Index >= data.Sources.Count) break;
                WriteSourceData(body, data.Sources[(int)request.Index]);
                Finish(request, Reply.SourceData, CmdmonWire.Status.Success, reply, out length);
                return length;
            case Request.SelectData:
                if (request.Index >= data.Sources.Count) break;
                WriteSelectData(body, data.Sources[(int)request.Index]);
                Finish(request, Reply.SelectData, CmdmonWire.Status.Success, reply, out length);
                return length;
            case Request.NtpSourceName:
                foreach (var source in data.Sources)
                {
                    if (source.Address != request.Address) continue;
                    body[..256].Clear();
                    // chronyc needs the name to end within the field and to be printable. The longest prefix of whole
                    // characters that fits in 255 bytes: a name of non-ASCII characters takes more bytes than characters.
                    System.Text.Unicode.Utf8.FromUtf16(source.Name, body[..255], out _, out int written);
                    body[written..256].Clear();
                    Finish(request, Reply.NtpSourceName, CmdmonWire.Status.Success, reply, out length);
                    return length;
                }
                break;
            case Request.SourceStats:
                if (request.Index >= data.SourceStats.Count) break;
                WriteSourceStats(body, data.SourceStats[(int)request.Index]);
                Finish(request, Reply.SourceStats, CmdmonWire.Status.Success, reply, out length);
                return length;
            case Request.Tracking:
                if (data.Tracking is not { } tracking) return 0;
                WriteTracking(body, tracking);
                Finish(request, Reply.Tracking, CmdmonWire.Status.Success, reply, out length);
                return length;
            case Request.ServerStats:
                if (data.ServerStats is not { } stats) return 0;
                WriteServerStats(body, stats);
                Finish(request, Reply.ServerStats3, CmdmonWire.Status.Success, reply, out length);
                return length;
            case Request.NtpData:
                foreach (var ntp in data.NtpData)
                {
                    if (ntp.Remote != request.Address) continue;
                    WriteNtpData(body, ntp);
                    Finish(request, Reply.NtpData, CmdmonWire.Status.Success, reply, out length);
                    return length;
                }
                break;
            case Request.ClientAccessesByIndex3:
                WriteClients(body, data.Clients, request.Index, request.MaxClients, request.MinHits);
                Finish(request, Reply.ClientAccessesByIndex3, CmdmonWire.Status.Success, reply, out length);
                return length;
            default:
                return 0;
        }
        Status(request, CmdmonWire.Status.NoSuchSource, reply, out length);
        return length;
    }

    private static CmdmonVerdict Status(in CmdmonRequest request, ushort status, Span<byte> reply, out int replyLength) =>
        Finish(request, Reply.Null, status, reply, out replyLength);

    private static CmdmonVerdict Finish(in CmdmonRequest request, ushort replyCode, ushort status, Span<byte> reply, out int replyLength)
    {
        replyLength = ReplyLength(replyCode);
        // chronyd's last check before it sends: never more bytes out than came in.
        if (replyLength == 0 || replyLength > request.Length || replyLength > reply.Length)
        {
            replyLength = 0;
            return CmdmonVerdict.Drop;
        }
        reply[..ReplyHeaderLength].Clear();
        reply[0] = ProtocolVersion;
        reply[1] = PacketTypeReply;
        BinaryPrimitives.WriteUInt16BigEndian(reply[4..], request.Command);
        BinaryPrimitives.WriteUInt16BigEndian(reply[6..], replyCode);
        BinaryPrimitives.WriteUInt16BigEndian(reply[8..], status);
        BinaryPrimitives.WriteUInt32BigEndian(reply[16..], request.Sequence);
        return CmdmonVerdict.Answered;
    }

    private static void WriteActivity(Span<byte> body, IReadOnlyList<CmdmonSource> sources)
    {
        // TimeMesh has no offline sources and no bursts on command; a source without an address yet is unresolved.
        int unresolved = sources.Count(s => !s.Address.IsIp);
        BinaryPrimitives.WriteInt32BigEndian(body, sources.Count - unresolved);
        BinaryPrimitives.WriteInt32BigEndian(body[4..], 0);
        BinaryPrimitives.WriteInt32BigEndian(body[8..], 0);
        BinaryPrimitives.WriteInt32BigEndian(body[12..], 0);
        BinaryPrimitives.WriteInt32BigEndian(body[16..], unresolved);
    }

    /// <summary>chrony's source states on the wire (RPY_SD_ST_*).</summary>
    public static ushort StateCode(SourceState state) => state switch
    {
        SourceState.Selected => 0,
        SourceState.Falseticker => 2,
        SourceState.TooVariable => 3,
        SourceState.Combined => 4,
        SourceState.NotCombined => 5,
        _ => 1,
    };

    private static void WriteSourceData(Span<byte> body, CmdmonSource s)
    {
        WriteAddress(body, s.Address);
        BinaryPrimitives.WriteInt16BigEndian(body[20..], (short)s.PollLog2);
        BinaryPrimitives.WriteUInt16BigEndian(body[22..], (ushort)s.Stratum);
        BinaryPrimitives.WriteUInt16BigEndian(body[24..], StateCode(s.State));
        BinaryPrimitives.WriteUInt16BigEndian(body[26..], 0); // mode: client of a server (TimeMesh has no peers or reference clocks)
        BinaryPrimitives.WriteUInt16BigEndian(body[28..], 0); // flags
        BinaryPrimitives.WriteUInt16BigEndian(body[30..], s.Reach);
        BinaryPrimitives.WriteUInt32BigEndian(body[32..], s.SinceSampleSeconds ?? uint.MaxValue);
        WriteFloat(body[36..], s.MeasuredOffsetSeconds);
        WriteFloat(body[40..], s.AdjustedOffsetSeconds);
        WriteFloat(body[44..], s.ErrorSeconds);
    }

    private static void WriteSelectData(Span<byte> body, CmdmonSource s)
    {
        body[..48].Clear();
        WriteAddress(body[4..], s.Address);
        body[24] = (byte)(s.State switch
        {
            SourceState.Selected => '*',
            SourceState.Combined => '+',
            SourceState.NotCombined => '-',
            SourceState.Falseticker => 'x',
            SourceState.TooVariable => '~',
            _ => '?',
        });
        BinaryPrimitives.WriteUInt32BigEndian(body[32..], s.SinceSampleSeconds ?? uint.MaxValue);
        // The source's interval as selection saw it: its offset from the served clock ± its error.
        WriteFloat(body[40..], s.AdjustedOffsetSeconds - s.ErrorSeconds);
        WriteFloat(body[44..], s.AdjustedOffsetSeconds + s.ErrorSeconds);
    }

    private static void WriteSourceStats(Span<byte> body, CmdmonSourceStats s)
    {
        BinaryPrimitives.WriteUInt32BigEndian(body, s.ReferenceId);
        WriteAddress(body[4..], s.Address);
        BinaryPrimitives.WriteUInt32BigEndian(body[24..], (uint)s.Samples);
        BinaryPrimitives.WriteUInt32BigEndian(body[28..], (uint)s.Runs);
        BinaryPrimitives.WriteUInt32BigEndian(body[32..], s.SpanSeconds);
        WriteFloat(body[36..], s.StdDevSeconds);
        WriteFloat(body[40..], s.FrequencyPpm);
        WriteFloat(body[44..], s.SkewPpm);
        WriteFloat(body[48..], s.OffsetSeconds);
        WriteFloat(body[52..], s.OffsetErrorSeconds);
    }

    /// <summary>chrony's leap status codes: normal, insert, delete, unsynchronised.</summary>
    private static ushort LeapCode(LeapIndicator leap) => leap switch
    {
        LeapIndicator.NoWarning => 0,
        LeapIndicator.InsertSecond => 1,
        LeapIndicator.DeleteSecond => 2,
        _ => 3,
    };

    private static void WriteTracking(Span<byte> body, CmdmonTracking t)
    {
        BinaryPrimitives.WriteUInt32BigEndian(body, t.ReferenceId);
        WriteAddress(body[4..], t.Address);
        BinaryPrimitives.WriteUInt16BigEndian(body[24..], (ushort)t.Stratum);
        BinaryPrimitives.WriteUInt16BigEndian(body[26..], LeapCode(t.Leap));
        WriteTimespec(body[28..], t.RefTimeUnixNs);
        // chrony's signs: the correction still to apply (positive = the clock is slow, the opposite of the
        // node's report) and the frequency (positive = fast, as the node reports it).
        WriteFloat(body[40..], -t.SystemTimeOffsetSeconds);
        WriteFloat(body[44..], t.LastOffsetSeconds);
        WriteFloat(body[48..], t.RmsOffsetSeconds);
        WriteFloat(body[52..], t.FrequencyPpm);
        WriteFloat(body[56..], t.ResidualFrequencyPpm);
        WriteFloat(body[60..], t.SkewPpm);
        WriteFloat(body[64..], t.RootDelaySeconds);
        WriteFloat(body[68..], t.RootDispersionSeconds);
        WriteFloat(body[72..], t.UpdateIntervalSeconds);
    }

    private static void WriteServerStats(Span<byte> body, CmdmonServerStats s)
    {
        body[..44].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(body, (uint)s.NtpHits);
        BinaryPrimitives.WriteUInt32BigEndian(body[4..], (uint)s.NtsKeHits);
        BinaryPrimitives.WriteUInt32BigEndian(body[8..], (uint)s.CommandHits);
        BinaryPrimitives.WriteUInt32BigEndian(body[12..], (uint)s.NtpDrops);
        BinaryPrimitives.WriteUInt32BigEndian(body[16..], (uint)s.NtsKeDrops);
        BinaryPrimitives.WriteUInt32BigEndian(body[20..], (uint)s.CommandDrops);
        BinaryPrimitives.WriteUInt32BigEndian(body[24..], (uint)s.ClientLogDrops);
        BinaryPrimitives.WriteUInt32BigEndian(body[28..], (uint)s.NtpAuthenticatedHits);
        BinaryPrimitives.WriteUInt32BigEndian(body[32..], (uint)s.NtpInterleavedHits);
        BinaryPrimitives.WriteUInt32BigEndian(body[36..], (uint)s.NtpTimestamps);
        BinaryPrimitives.WriteUInt32BigEndian(body[40..], (uint)s.NtpSpanSeconds);
    }

    private static void WriteNtpData(Span<byte> body, CmdmonNtpData n)
    {
        body[..124].Clear();
        WriteAddress(body, n.Remote);
        WriteAddress(body[20..], n.Local);
        BinaryPrimitives.WriteUInt16BigEndian(body[40..], (ushort)n.RemotePort);
        body[42] = (byte)n.Leap;
        body[43] = (byte)n.Version;
        body[44] = (byte)n.Mode;
        body[45] = (byte)n.Stratum;
        body[46] = (byte)(sbyte)n.PollLog2;
        body[47] = (byte)(sbyte)n.PrecisionLog2;
        WriteFloat(body[48..], n.RootDelaySeconds);
        WriteFloat(body[52..], n.RootDispersionSeconds);
        BinaryPrimitives.WriteUInt32BigEndian(body[56..], n.ReferenceId);
        WriteTimespec(body[60..], n.RefTimeUnixNs);
        WriteFloat(body[72..], n.OffsetSeconds);
        WriteFloat(body[76..], n.DelaySeconds);
        WriteFloat(body[80..], n.DispersionSeconds);
        WriteFloat(body[84..], n.ResponseTimeSeconds);
        WriteFloat(body[88..], 0); // jitter asymmetry: TimeMesh does not estimate it
        // The ten NTP tests chrony reports (all passed for the packet that made the last sample), and authentication.
        BinaryPrimitives.WriteUInt16BigEndian(body[92..], (ushort)(0x3ff | (n.Interleaved ? 0x4000 : 0) | (n.Authenticated ? 0x8000 : 0)));
        body[94] = (byte)'D'; // transmit and receive timestamps taken by the daemon (no kernel or hardware stamps)
        body[95] = (byte)'D';
        BinaryPrimitives.WriteUInt32BigEndian(body[96..], (uint)n.TxCount);
        BinaryPrimitives.WriteUInt32BigEndian(body[100..], (uint)n.RxCount);
        BinaryPrimitives.WriteUInt32BigEndian(body[104..], (uint)n.ValidCount);
        BinaryPrimitives.WriteUInt32BigEndian(body[108..], (uint)n.GoodCount);
        body[112..124].Fill(0xff); // reserved, as chronyd fills it
    }

    private static void WriteClients(Span<byte> body, IReadOnlyList<CmdmonClient> clients, uint first, uint max, uint minHits)
    {
        body[..(12 + ClientRecordsPerReply * ClientRecordLength)].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(body, (uint)clients.Count);
        uint index = first, written = 0;
        for (; index < (uint)clients.Count && written < max; index++)
        {
            var c = clients[(int)index];
            if (c.NtpHits + c.CommandHits < minHits) continue;
            Span<byte> record = body.Slice(12 + (int)written * ClientRecordLength, ClientRecordLength);
            WriteAddress(record, c.Address);
            BinaryPrimitives.WriteUInt32BigEndian(record[20..], (uint)c.NtpHits);
            BinaryPrimitives.WriteUInt32BigEndian(record[24..], 0); // NTS-KE hits: the key-exchange server keeps no per-client log
            BinaryPrimitives.WriteUInt32BigEndian(record[28..], (uint)c.CommandHits);
            BinaryPrimitives.WriteUInt32BigEndian(record[32..], (uint)c.NtpDrops);
            BinaryPrimitives.WriteUInt32BigEndian(record[36..], 0);
            BinaryPrimitives.WriteUInt32BigEndian(record[40..], (uint)c.CommandDrops);
            record[44] = Interval(c.NtpIntervalLog2);
            record[45] = Interval(null);
            record[46] = Interval(c.CommandIntervalLog2);
            record[47] = Interval(null); // no KoD timeouts kept
            BinaryPrimitives.WriteUInt32BigEndian(record[48..], c.LastNtpAgoSeconds ?? uint.MaxValue);
            BinaryPrimitives.WriteUInt32BigEndian(record[52..], uint.MaxValue);
            BinaryPrimitives.WriteUInt32BigEndian(record[56..], c.LastCommandAgoSeconds ?? uint.MaxValue);
            written++;
        }
        BinaryPrimitives.WriteUInt32BigEndian(body[4..], index);
        BinaryPrimitives.WriteUInt32BigEndian(body[8..], written);
    }

    /// <summary>A log2 interval as chrony's int8; 127 prints as "-".</summary>
    private static byte Interval(int? log2) => (byte)(sbyte)(log2 is { } v ? Math.Clamp(v, -127, 126) : 127);
}
