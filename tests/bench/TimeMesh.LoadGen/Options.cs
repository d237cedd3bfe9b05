using System.Globalization;
using System.Net;

namespace TimeMesh.LoadGen;

/// <summary>Command line of the load generator.</summary>
internal sealed class Options
{
    public const long HardMaxRequests = 50_000_000;
    public const double MaxDurationSeconds = 3600;

    public IPEndPoint Target { get; private set; } = null!;
    public int Window { get; private set; } = 64;
    public double DurationSeconds { get; private set; } = 5;
    public int TimeoutMs { get; private set; } = 200;
    public int WarmupMs { get; private set; } = 300;
    public long MaxRequests { get; private set; } = HardMaxRequests;
    public int Sockets { get; private set; } = 1;
    public int Batch { get; private set; } = 64;
    public bool Spin { get; private set; }
    public bool Probe { get; private set; }
    public bool Respond { get; private set; }
    public int IntervalMs { get; private set; } = 10;
    public string? StartFile { get; private set; }
    public string? ReadyFile { get; private set; }
    public long? SinceUnixNs { get; private set; }
    public string? Label { get; private set; }
    public string? KeyFile { get; private set; }
    public uint KeyId { get; private set; }
    public bool VerifyMac { get; private set; }
    /// <summary>The key requests are signed with (--keyfile and --key-id), null for plain requests.</summary>
    public TimeMesh.Core.Auth.SymmetricKey? Key { get; private set; }
    /// <summary>--nts-ke HOST:PORT: one key exchange before the load, then every request is an NTS request.</summary>
    public string? NtsKe { get; private set; }
    public string? NtsCa { get; private set; }
    /// <summary>--nts-cert/--nts-key: a mesh client certificate (PEM) for a master's mesh NTS-KE.</summary>
    public string? NtsCert { get; private set; }
    public string? NtsKey { get; private set; }
    public string? NtsName { get; private set; }

    public const string Usage = """
        timemesh-loadgen --target IP:PORT [--window N] [--duration S] [--timeout-ms MS] [--warmup-ms MS]
                         [--max-requests N] [--sockets K] [--batch B] [--spin] [--label TEXT]
                         [--keyfile FILE --key-id N [--verify-mac]]
                         [--nts-ke HOST:PORT --nts-ca CA.pem [--nts-cert C.pem --nts-key K.pem] [--nts-name NAME]]
        timemesh-loadgen --probe --target IP:PORT [--timeout-ms MS] [--interval-ms MS]
                         [--start-file FILE | --since-unix-ns NS] [--ready-file FILE]
        timemesh-loadgen --respond --target IP:PORT [--duration S] [--batch B]

        Load: keeps N NTPv4 client requests in flight for S seconds (after a warm-up that is not counted),
        replacing a request unanswered after --timeout-ms (counted lost). Total requests are capped at
        --max-requests (at most 50 000 000). Prints one JSON line and one human line. Replies are received
        with blocking recvmmsg on one socket, or with non-blocking sweeps (busy polling, one core) when
        --spin is given or --sockets is above 1.
        --keyfile/--key-id: every request carries a MAC under key N of FILE (chrony's keyfile format); a reply
        counts as valid only with a MAC under the same key id and of the expected length, and with
        --verify-mac only if its digest verifies (that costs the load generator's CPU too).
        Probe: sends one request every --interval-ms until the first valid reply or --timeout-ms in total;
        prints the elapsed ms (from this process's start, or from the unix-ns time in --start-file /
        --since-unix-ns, read when the answer arrives) and exits 1 on timeout. --ready-file is created once
        the first request went out, so a script can start the server after the probe is running.
        Respond: a bare batched NTP responder on IP:PORT for S seconds, to calibrate the load generator.
        """;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        bool timeoutGiven = false;
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            switch (name)
            {
                case "--target":
                    string t = Value();
                    string address = t.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" + t[9..] : t;
                    if (!IPEndPoint.TryParse(address, out var ep) || ep.Port == 0)
                        throw new ArgumentException($"--target must be IP:PORT (e.g. 127.0.0.1:123, localhost:123 or [::1]:123), not '{t}'");
                    o.Target = ep;
                    break;
                case "--window": o.Window = Int(name, Value(), 1, 65535); break;
                case "--duration": o.DurationSeconds = Double(name, Value(), 0.01, MaxDurationSeconds); break;
                case "--timeout-ms": o.TimeoutMs = Int(name, Value(), 1, 600_000); timeoutGiven = true; break;
                case "--warmup-ms": o.WarmupMs = Int(name, Value(), 0, 60_000); break;
                case "--max-requests": o.MaxRequests = Math.Min(HardMaxRequests, Long(name, Value(), 1, long.MaxValue)); break;
                case "--sockets": o.Sockets = Int(name, Value(), 1, 64); break;
                case "--batch": o.Batch = Int(name, Value(), 1, 1024); break;
                case "--spin": o.Spin = true; break;
                case "--probe": o.Probe = true; break;
                case "--respond": o.Respond = true; break;
                case "--interval-ms": o.IntervalMs = Int(name, Value(), 1, 10_000); break;
                case "--start-file": o.StartFile = Value(); break;
                case "--ready-file": o.ReadyFile = Value(); break;
                case "--since-unix-ns": o.SinceUnixNs = Long(name, Value(), 0, long.MaxValue); break;
                case "--label": o.Label = Value(); break;
                case "--keyfile": o.KeyFile = Value(); break;
                case "--key-id": o.KeyId = (uint)Long(name, Value(), 1, uint.MaxValue); break;
                case "--verify-mac": o.VerifyMac = true; break;
                case "--nts-ke": o.NtsKe = Value(); break;
                case "--nts-ca": o.NtsCa = Value(); break;
                case "--nts-cert": o.NtsCert = Value(); break;
                case "--nts-key": o.NtsKey = Value(); break;
                case "--nts-name": o.NtsName = Value(); break;
                case "-h" or "--help": throw new HelpRequested();
                default: throw new ArgumentException($"unknown option '{name}'");
            }
        }
        if (o.Target is null)
            throw new ArgumentException("--target is required");
        if ((o.KeyFile is null) != (o.KeyId == 0))
            throw new ArgumentException("--keyfile and --key-id go together");
        if (o.KeyFile is not null)
        {
            TimeMesh.Core.Auth.KeyRing keys;
            try
            {
                keys = TimeMesh.Core.Auth.KeyFile.Parse(File.ReadAllBytes(o.KeyFile), o.KeyFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or TimeMesh.Core.Auth.KeyFileException)
            {
                throw new ArgumentException($"--keyfile: {e.Message}");
            }
            if (!keys.TryGet(o.KeyId, out var key))
                throw new ArgumentException($"--key-id {o.KeyId}: {o.KeyFile} has no such key");
            o.Key = key;
        }
        if (o.NtsKe is not null && (o.NtsCa is null || o.Key is not null || (o.NtsCert is null) != (o.NtsKey is null)))
            throw new ArgumentException("--nts-ke needs --nts-ca (and --nts-cert with --nts-key for a mesh NTS-KE); not with --keyfile");
        if (o.Probe && !timeoutGiven)
            o.TimeoutMs = 5000;
        return o;
    }

    private static int Int(string name, string text, int min, int max) => (int)Long(name, text, min, max);

    private static long Long(string name, string text, long min, long max)
    {
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) || v < min || v > max)
            throw new ArgumentException($"{name} must be an integer between {min} and {max}, not '{text}'");
        return v;
    }

    private static double Double(string name, string text, double min, double max)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < min || v > max)
            throw new ArgumentException($"{name} must be a number between {min} and {max}, not '{text}'");
        return v;
    }
}

internal sealed class HelpRequested : Exception;
