using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Net;

namespace TimeMesh.LoadGen;

/// <summary>Times "server start → first valid answer": one request every interval until a valid reply.</summary>
internal static class Prober
{
    public static int Run(Options o)
    {
        if (!IPAddress.IsLoopback(o.Target.Address))
            throw new ArgumentException($"the probe only targets loopback addresses, not {o.Target.Address}");
        var local = new IPEndPoint(o.Target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0);
        using var socket = BatchedUdpSocket.Bind(local, new UdpSocketOptions
        {
            KernelTimestamps = false,
            ReceiveTimeout = TimeSpan.FromMilliseconds(10),
        });
        using var tx = new DatagramBatch(1, Ntp.PacketBytes);
        using var rx = new DatagramBatch(8, 512);
        tx.SetDestination(0, PeerAddress.FromEndPoint(o.Target));

        var sinceProcessStart = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        long started = Stopwatch.GetTimestamp();
        long deadline = started + o.TimeoutMs * Stopwatch.Frequency / 1000;
        long interval = o.IntervalMs * Stopwatch.Frequency / 1000;
        long nextSend = started;
        ulong firstTag = 1, nextTag = 1;
        int attempts = 0, invalid = 0;
        string firstInvalid = "";
        long firstInvalidUnixNs = 0;

        Console.Error.WriteLine($"probe: {o.Target} every {o.IntervalMs} ms for up to {o.TimeoutMs} ms");
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= deadline)
                break;
            if (now >= nextSend)
            {
                Ntp.WriteRequest(tx.Outgoing(0), nextTag++);
                tx.SetOutgoing(0, Ntp.PacketBytes);
                socket.Send(tx, 1);
                attempts++;
                nextSend = now + interval;
                if (attempts == 1 && o.ReadyFile is not null)
                    File.WriteAllText(o.ReadyFile, "ready\n");
            }
            // SO_RCVTIMEO ticks in jiffies (4-10 ms), too coarse here: poll, then sleep ~1 ms (hrtimer).
            int n = socket.ReceiveNonBlocking(rx);
            if (n == 0)
                Thread.Sleep(1);
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<byte> reply = rx.Received(i);
                ulong origin = Ntp.Origin(reply);
                if (origin < firstTag || origin >= nextTag || !Ntp.IsValidReply(reply))
                {
                    if (invalid++ == 0)
                    {
                        firstInvalid = Ntp.Describe(reply);
                        firstInvalidUnixNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
                    }
                    continue;
                }
                long answeredUnixNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
                double probeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                double elapsedMs, firstInvalidMs;
                string since;
                if (o.StartFile is not null && !File.Exists(o.StartFile))
                {
                    Console.WriteLine($"a valid answer came from {o.Target} before {o.StartFile} existed: is another server on that port?");
                    return 3;
                }
                long? reference = o.SinceUnixNs ?? ReadStartFile(o.StartFile);
                if (reference is long refNs)
                {
                    elapsedMs = (answeredUnixNs - refNs) / 1e6;
                    firstInvalidMs = firstInvalidUnixNs == 0 ? 0 : (firstInvalidUnixNs - refNs) / 1e6;
                    since = "reference";
                }
                else
                {
                    long startUnixNs = (sinceProcessStart - DateTime.UnixEpoch).Ticks * 100;
                    elapsedMs = (answeredUnixNs - startUnixNs) / 1e6;
                    firstInvalidMs = firstInvalidUnixNs == 0 ? 0 : (firstInvalidUnixNs - startUnixNs) / 1e6;
                    since = "probe-start";
                }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"probe\":true,\"target\":\"{o.Target}\",\"ok\":true,\"elapsed_ms\":{elapsedMs:F1},\"since\":\"{since}\",\"probe_ms\":{probeMs:F1},\"attempts\":{attempts},\"invalid\":{invalid},\"first_invalid\":\"{firstInvalid}\",\"first_invalid_ms\":{firstInvalidMs:F1}}}"));
                string before = invalid > 0 ? $"; {invalid} invalid replies before it from {firstInvalidMs:F1} ms on, the first: {firstInvalid}" : "";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"first valid answer from {o.Target} after {elapsedMs:F1} ms (since {since}; {attempts} requests{before})"));
                return 0;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"probe\":true,\"target\":\"{o.Target}\",\"ok\":false,\"timeout_ms\":{o.TimeoutMs},\"attempts\":{attempts},\"invalid\":{invalid},\"first_invalid\":\"{firstInvalid}\"}}"));
        Console.WriteLine($"no valid answer from {o.Target} within {o.TimeoutMs} ms ({attempts} requests, {invalid} invalid replies)");
        return 1;
    }

    private static long? ReadStartFile(string? path)
    {
        if (path is null)
            return null;
        string text = File.ReadAllText(path).Trim();
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long ns)
            ? ns
            : throw new FormatException($"{path} should hold a unix time in nanoseconds, not '{text}'");
    }
}
