using System.Buffers.Binary;
using System.Text;
using Akka.Configuration;
using TimeMesh.Core.Access;
using TimeMesh.Core.Cmdmon;
using TimeMesh.Core.Nts;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Node.Config;

namespace TimeMesh.Fuzz;

/// <summary>A fuzz target: returns normally or throws <see cref="InvariantBroken"/> (or anything unexpected) on a bug.</summary>
public delegate void Target(ReadOnlySpan<byte> input);

public sealed class InvariantBroken(string message) : Exception(message);

public static class Targets
{
    /// <summary>libfuzzer-dotnet's code for "this input cannot finish for a known outside reason; restart me".</summary>
    public const int SkipExitCode = 77;

    public static readonly IReadOnlyDictionary<string, Target> All = new Dictionary<string, Target>
    {
        ["packet"] = Packet,
        ["server"] = Server,
        ["config"] = Config,
        ["configcheck"] = ConfigCheck,
        ["ntske"] = NtsKeRecords,
        ["cmdmon"] = Cmdmon,
    };

    private static void Check(bool condition, string what)
    {
        if (!condition) throw new InvariantBroken(what);
    }

    /// <summary>The codec: TryParse and Parse agree, a parsed layout covers the datagram exactly, its fields enumerate as counted.</summary>
    public static void Packet(ReadOnlySpan<byte> datagram)
    {
        bool ok = NtpPacket.TryParse(datagram, out NtpPacket packet, out NtpParseError error);
        NtpParseError validated = NtpPacket.Validate(datagram, out NtpTrailer trailer);
        Check(validated == error, "Validate and TryParse disagree");
        try
        {
            NtpPacket.Parse(datagram);
            Check(ok, "Parse accepted what TryParse refused");
        }
        catch (NtpParseException e)
        {
            Check(!ok, "Parse refused what TryParse accepted");
            Check(e.Error == error, "Parse and TryParse name different errors");
        }
        if (!ok)
        {
            Check(error != NtpParseError.None, "refused without a reason");
            return;
        }
        Check(packet.Trailer == trailer, "two layouts for one datagram");
        Check(packet.Length == datagram.Length, $"layout covers {packet.Length} of {datagram.Length} bytes");
        Check(datagram.Length <= NtpPacket.MaxLength, "accepted an oversized datagram");
        Check(trailer.ExtensionFieldsLength <= NtpPacket.MaxExtensionFieldsLength, "extension fields beyond their bound");
        Check(!trailer.HasMac || trailer.MacLength is >= NtpPacket.MinMacLength and <= NtpPacket.MaxMacLength, "MAC length out of bounds");
        int fields = 0, fieldBytes = 0;
        foreach (ExtensionField field in packet.ExtensionFields(datagram))
        {
            fields++;
            fieldBytes += 4 + field.Value.Length;
            Check(4 + field.Value.Length >= NtpPacket.MinExtensionFieldLength, "a field shorter than 16 bytes");
        }
        Check(fields == trailer.ExtensionFieldCount, $"enumerated {fields} fields, counted {trailer.ExtensionFieldCount}");
        Check(fieldBytes == trailer.ExtensionFieldsLength, "fields do not add up to their length");
        _ = packet.MacKeyId(datagram);
        Span<byte> rewritten = stackalloc byte[NtpHeader.Length];
        packet.Header.Write(rewritten);
        Check(rewritten.SequenceEqual(datagram[..NtpHeader.Length]), "the header does not survive a read and write");
    }

    // Built on first use, not in a static initialiser: instrumented code must not run before
    // Fuzzer.LibFuzzer.Run has mapped the coverage memory.
    private static AccessList? _loopbackAndLan;

    /// <summary>
    /// The server handler on a table with rate limiting and kiss-o'-death on. The first 4 input bytes pick the
    /// client (address family, address) and the receive time step; the rest is a burst of datagrams, each
    /// prefixed with a 2-byte length.
    /// </summary>
    public static void Server(ReadOnlySpan<byte> input)
    {
        if (input.Length < 4) return;
        byte selector = input[0];
        IpAddress128 client = (selector & 3) switch
        {
            0 => IpAddress128.FromIPv4(0x7F00_0000u | input[1]),
            1 => IpAddress128.FromIPv4(0xC0A8_4200u | input[1]), // denied subnet
            2 => new IpAddress128(0xFD00_0000_0000_0000ul, input[1]),
            _ => IpAddress128.FromIPv4(0x0A00_0000u | input[1]), // not allowed at all
        };
        long stepNs = (long)input[2] << (input[3] & 31);
        var log = new ClientLog(4 * ClientLog.RecordBytes * ClientLog.SlotsPerBucket, new RateLimitSettings(0, 2, 1, KissOfDeath: (selector & 4) != 0), seed: 7);
        var handler = new NtpServerHandler(log);
        var snapshot = new ServerSnapshot
        {
            Reference = (selector & 8) != 0 ? ReferenceState.Local(10) : ReferenceState.Unsynchronised,
            Access = _loopbackAndLan ??= AccessList.FromSpecs(["127.0.0.0/8", "192.168.0.0/16", "fd00::/8"], ["192.168.66.0/24"]),
            PrecisionLog2 = -20,
        };
        Span<byte> reply = stackalloc byte[NtpPacket.MaxLength];
        long now = 1_795_000_000_000_000_000;
        var rest = input[4..];
        while (rest.Length >= 2)
        {
            int length = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(rest), rest.Length - 2);
            var request = rest.Slice(2, length);
            rest = rest[(2 + length)..];
            now += stepNs;
            reply.Fill(0xA5);
            ServerVerdict verdict = handler.Handle(request, client, now, snapshot, reply, out int replyLength);
            bool answered = verdict is ServerVerdict.Respond or ServerVerdict.RespondKissOfDeath;
            Check(answered == (replyLength > 0), "a reply length without an answer, or the reverse");
            if (!answered) continue;
            Check(replyLength <= request.Length, $"a {replyLength}-byte reply to a {request.Length}-byte request");
            Check(snapshot.Access.IsAllowed(client), "answered a client the access list refuses");
            NtpMode mode = NtpHeader.ModeOf(request[0]);
            Check(mode == NtpMode.Client, $"answered mode {mode}");
            var header = NtpHeader.Read(reply);
            Check(header.Mode == NtpMode.Server, "the reply is not mode 4");
            Check(header.Version == NtpHeader.VersionOf(request[0]), "the reply changed the version");
            Check(header.OriginTime == NtpTimestamp.Read(request[NtpHeader.TransmitTimeOffset..]), "the origin does not echo the request");
            if (verdict == ServerVerdict.RespondKissOfDeath)
                Check(header.Stratum == 0 && header.ReferenceId == ReferenceIds.KissRate, "a kiss-o'-death without RATE");
        }
    }

    private static CmdmonData? _cmdmonData;

    /// <summary>
    /// chrony's command protocol, read-only: the first byte says whether the datagram came from localhost, the rest
    /// is the datagram. No reply is longer than its request; a reply echoes the command and sequence with version 6;
    /// reports chronyd keeps for its socket go to localhost only; no changing command ever reaches the node's data.
    /// </summary>
    public static void Cmdmon(ReadOnlySpan<byte> input)
    {
        if (input.Length < 1) return;
        bool localhost = (input[0] & 1) != 0;
        var datagram = input[1..];
        var data = _cmdmonData ??= new CmdmonData
        {
            Sources = [new CmdmonSource(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), "127.0.0.1:123", Core.Sources.SourceState.Selected, 1, 6, 255, 3, 1e-6, 2e-6, 3e-5),
                       new CmdmonSource(CmdmonAddress.FromId(2), "time.example", Core.Sources.SourceState.Unusable, 0, 6, 0, null, 0, 0, 0)],
            SourceStats = [new CmdmonSourceStats(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), 0x7F000001, 8, 4, 500, 0.1, 0.2, 1e-6, 1e-6, 1e-6)],
            Tracking = new CmdmonTracking(0x7F000001, CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), 2, LeapIndicator.NoWarning, 1_795_000_000_000_000_000, 1e-6, 1e-6, 1e-6, 1, 0, 0.1, 1e-5, 1e-5, 64),
            ServerStats = new CmdmonServerStats(10, 0, 5, 1, 0, 0, 0, 0),
            Clients = Enumerable.Range(1, 12).Select(i => new CmdmonClient(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x0A000000u + (uint)i)), i, 0, 4, 10, 0, 0, null, null)).ToList(),
            NtpData = [new CmdmonNtpData(CmdmonAddress.FromIp(IpAddress128.FromIPv4(0x7F000001)), CmdmonAddress.Unspecified, 123, LeapIndicator.NoWarning, 4, 4, 1, 6, -20,
                0, 0, 0x4C4F434C, 1_795_000_000_000_000_000, 1e-6, 1e-5, 1e-6, 1e-5, false, 10, 10, 10, 10)],
        };
        Span<byte> reply = stackalloc byte[CmdmonWire.MaxRequestLength];
        reply.Fill(0xA5);
        var verdict = CmdmonServer.Inspect(datagram, localhost, reply, out int length, out var request);
        if (verdict == CmdmonVerdict.Drop)
        {
            Check(length == 0, "a dropped datagram with a reply length");
            return;
        }
        if (verdict == CmdmonVerdict.NeedsData)
        {
            Check(length == 0, "a reply written before the data came");
            Check(localhost || request.Need is not (CmdmonNeed.ServerStats or CmdmonNeed.NtpData or CmdmonNeed.Clients),
                $"a socket-only report ({request.Need}) for a remote host");
            Check(request.Command is CmdmonWire.Request.NSources or CmdmonWire.Request.SourceData or CmdmonWire.Request.SelectData
                or CmdmonWire.Request.NtpSourceName or CmdmonWire.Request.SourceStats or CmdmonWire.Request.Tracking or CmdmonWire.Request.Activity
                or CmdmonWire.Request.ServerStats or CmdmonWire.Request.NtpData or CmdmonWire.Request.ClientAccessesByIndex3,
                $"command {request.Command} reached the node's data");
            length = CmdmonServer.Answer(request, data, reply);
        }
        Check(length <= datagram.Length, $"a {length}-byte reply to a {datagram.Length}-byte request");
        if (length == 0) return;
        ushort replyCode = BinaryPrimitives.ReadUInt16BigEndian(reply[6..]);
        Check(length == CmdmonWire.ReplyLength(replyCode), $"reply code {replyCode} with {length} bytes");
        Check(reply[0] == CmdmonWire.ProtocolVersion && reply[1] == CmdmonWire.PacketTypeReply && reply[2] == 0 && reply[3] == 0, "a bad reply header");
        Check(BinaryPrimitives.ReadUInt16BigEndian(reply[4..]) == BinaryPrimitives.ReadUInt16BigEndian(datagram[4..]), "the command is not echoed");
        Check(BinaryPrimitives.ReadUInt32BigEndian(reply[16..]) == BinaryPrimitives.ReadUInt32BigEndian(datagram[8..]), "the sequence is not echoed");
    }

    /// <summary>
    /// HOCON text through the settings parsers (the node's and the persistence settings). A syntax error is
    /// the HOCON parser's to report (the node wraps it, naming the file); anything the parser accepts must
    /// yield settings or a TimeMeshConfigException. Texts that send Akka's parser into its endless
    /// array loop (see HoconText) are skipped: the cheap check below catches the usual shapes, and a parse
    /// that still does not finish within 0.5 s restarts the target (it cannot be cancelled in this process).
    /// </summary>
    public static void Config(ReadOnlySpan<byte> input)
    {
        string text = Encoding.UTF8.GetString(input);
        if (MayLoopAkkasParser(text)) return;
        if (!HoconText.TryParseWithin(text, TimeSpan.FromMilliseconds(500), out var parsed, out var syntaxError))
        {
            // Akka's parser loops on this text (HoconText says why) and the loop cannot be stopped in this
            // process: ask libfuzzer-dotnet to count the input as passed and start the target again.
            Console.Error.WriteLine("config: Akka's HOCON parser did not finish; restarting the target");
            Environment.Exit(SkipExitCode);
        }
        if (syntaxError is not null) return;
        var user = parsed!;
        // As TimeMeshNode.Start reads them: the node's settings, then the persistence settings, from one config.
        var full = TimeMeshSettings.WithReference(user);
        try
        {
            TimeMeshSettings.FromConfig(full);
        }
        catch (TimeMeshConfigException e)
        {
            Check(e.Message.Length > 0, "a configuration error without a message");
        }
        try
        {
            TimeMesh.Node.Persistence.PersistenceSettings.FromConfig(full);
        }
        catch (TimeMeshConfigException e)
        {
            Check(e.Message.Length > 0, "a configuration error without a message");
        }
    }

    /// <summary>
    /// HOCON text through the strict file check (<c>timemesh check-config</c>, <c>timemesh run</c>'s loader):
    /// it never throws; every problem has a message and a place inside the text; a file it passes yields
    /// settings (the check read every value as the node does) and an effective configuration. Texts the cheap
    /// check calls likely to send Akka's parser into its loop go through the lint alone.
    /// </summary>
    public static void ConfigCheck(ReadOnlySpan<byte> input)
    {
        string text = Encoding.UTF8.GetString(input);
        int lines = text.Count(c => c == '\n') + 1;
        if (MayLoopAkkasParser(text))
        {
            var lint = HoconLint.Read(text);
            Check(lint.NormalisedText.Length == text.Length, "normalising changed the text's length");
            foreach (var p in lint.Problems) Check(p.Message.Length > 0 && p.Line >= 1 && p.Line <= lines, "a lint problem without a message or outside the text");
            return;
        }
        var result = ConfigFileCheck.CheckText(text, "fuzz.hocon", values: true);
        foreach (var p in result.Problems)
            Check(p.Message.Length > 0 && p.Line >= 0 && p.Line <= lines && p.Format("f").Length > 0, "a problem without a message or outside the text");
        if (!result.Ok) return;
        Check(result.Full is not null, "a valid file without a configuration");
        var settings = TimeMeshSettings.FromConfig(result.Full!);
        Check(settings.Listen.Count > 0, "a valid file without a listen address");
        Check(ConfigFileCheck.RenderEffective(result).Contains("timemesh.listen = "), "the effective configuration lacks listen");
    }

    /// <summary>
    /// True when a character that starts no value stands where a list expects one: outside quotes and
    /// comments, directly inside '[' (objects inside a list are fine), or a list still open at the end. Conservative; measured by trying
    /// every ASCII character in <c>x = [c]</c> against Akka 1.5.73.
    /// </summary>
    private static bool MayLoopAkkasParser(string text)
    {
        const string startsNoValue = "!$&*:=?@\\^`}";
        var nesting = new Stack<char>();
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '"')
            {
                // Skip a quoted string (triple quotes included: they end at the next quote run).
                for (i++; i < text.Length && text[i] != '"'; i++)
                {
                    if (text[i] == '\\') i++;
                }
                continue;
            }
            if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i < text.Length && text[i] != '\n') i++;
                continue;
            }
            if (c == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                while (i < text.Length && text[i] != '}') i++;
                continue;
            }
            bool inList = nesting.Count > 0 && nesting.Peek() == '[';
            if (inList && startsNoValue.Contains(c)) return true;
            if (c is '[' or '{') nesting.Push(c);
            else if (c is ']' or '}' && nesting.Count > 0) nesting.Pop();
        }
        // A list left open at the end loops too when a comment runs to the end ("x = [#").
        return nesting.Count > 0 && nesting.Peek() == '[';
    }

    /// <summary>
    /// The NTS-KE record parser (RFC 8915 section 4): the first input byte picks the side — a server reading a
    /// client's request, or a client reading a server's response — the rest is what arrived on the TLS
    /// stream. Framing (TryFindMessage) and parsing may refuse only with NtsKeProtocolException, and a found
    /// message lies within the buffer and the side's bound.
    /// </summary>
    public static void NtsKeRecords(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty) return;
        bool serverSide = (input[0] & 1) == 0;
        var stream = input[1..];
        int maxBytes = serverSide ? NtsKeRequest.MaxLength : NtsKeResponse.MaxLength;

        // Record by record, as the codec reads them: every record consumed lies inside the buffer.
        var rest = stream;
        while (NtsKeCodec.TryRead(rest, out NtsKeRecord record, out int consumed) == NtsKeReadResult.Record)
        {
            Check(consumed == NtsKeCodec.HeaderLength + record.Body.Length && consumed <= rest.Length, "a record beyond its buffer");
            Check(record.Type <= 0x7FFF, "a type with the critical bit in it");
            rest = rest[consumed..];
        }

        int length;
        try
        {
            if (!NtsKeCodec.TryFindMessage(stream, maxBytes, out length)) return;
        }
        catch (NtsKeProtocolException e)
        {
            Check(e.ErrorCode == NtsKeErrorCode.BadRequest, "framing refused with an unexpected error code");
            return;
        }
        Check(length > 0 && length <= stream.Length && length <= maxBytes, $"a {length}-byte message in {stream.Length} bytes (bound {maxBytes})");
        var message = stream[..length];
        try
        {
            if (serverSide)
            {
                NtsKeRequest.Parse(message);
            }
            else
            {
                var response = NtsKeResponse.Parse(message);
                Check(response.Cookies.Count is > 0 and <= NtsIds.CookiesPerExchange, $"{response.Cookies.Count} cookies kept");
                Check(response.Cookies.All(c => c.Length is > 0 and <= NtsKeResponse.MaxCookieLength), "a cookie outside its bounds");
            }
        }
        catch (NtsKeProtocolException)
        {
        }
    }
}
