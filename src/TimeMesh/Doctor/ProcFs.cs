using System.Globalization;
using System.Net;

namespace TimeMesh.Cli.Doctor;

/// <summary>A process as /proc shows it.</summary>
public sealed record ProcProcess(int Pid, string Name, IReadOnlyList<string> CommandLine)
{
    public string CommandText => CommandLine.Count == 0 ? Name : string.Join(' ', CommandLine);
}

/// <summary>A socket from /proc/net/udp, udp6 (or a listening one from tcp, tcp6).</summary>
public sealed record ProcUdpSocket(IPEndPoint Local, long Inode);

/// <summary>
/// Reads what doctor needs from a proc file system. The root is a parameter so tests can hand it a
/// fake tree in a temp directory; every read tolerates processes that vanish or hide from this user.
/// </summary>
public sealed class ProcFs(string root = "/proc")
{
    public string Root { get; } = root;

    public IReadOnlyList<ProcProcess> Processes()
    {
        var list = new List<ProcProcess>();
        if (!Directory.Exists(Root)) return list;
        foreach (string dir in Directory.EnumerateDirectories(Root))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            string? name = ReadText(Path.Combine(dir, "comm"))?.TrimEnd('\n');
            if (name is null) continue;
            string? cmdline = ReadText(Path.Combine(dir, "cmdline"));
            var args = cmdline is null ? [] : cmdline.Split('\0', StringSplitOptions.RemoveEmptyEntries);
            list.Add(new ProcProcess(pid, name, args));
        }
        list.Sort((a, b) => a.Pid.CompareTo(b.Pid));
        return list;
    }

    /// <summary>Bound UDP sockets of both families (the kernel lists every namespace-local socket).</summary>
    public IReadOnlyList<ProcUdpSocket> UdpSockets()
    {
        var list = new List<ProcUdpSocket>();
        ParseUdpTable(Path.Combine(Root, "net", "udp"), list);
        ParseUdpTable(Path.Combine(Root, "net", "udp6"), list);
        return list;
    }

    /// <summary>Listening TCP sockets of both families (state 0A in /proc/net/tcp, tcp6).</summary>
    public IReadOnlyList<ProcUdpSocket> TcpListeners()
    {
        var list = new List<ProcUdpSocket>();
        ParseUdpTable(Path.Combine(Root, "net", "tcp"), list, listenOnly: true);
        ParseUdpTable(Path.Combine(Root, "net", "tcp6"), list, listenOnly: true);
        return list;
    }

    /// <summary>The udp and tcp tables share one layout; for TCP only listening sockets (state 0A) count.</summary>
    private static void ParseUdpTable(string path, List<ProcUdpSocket> into, bool listenOnly = false)
    {
        string? text = ReadText(path);
        if (text is null) return;
        foreach (string line in text.Split('\n').Skip(1))
        {
            // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ..."
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 10) continue;
            if (listenOnly && fields[3] != "0A") continue;
            var local = ParseHexEndpoint(fields[1]);
            if (local is null || !long.TryParse(fields[9], NumberStyles.None, CultureInfo.InvariantCulture, out long inode)) continue;
            into.Add(new ProcUdpSocket(local, inode));
        }
    }

    /// <summary>
    /// /proc/net/udp's "ADDR:PORT": the address as 32-bit words in the kernel's (host, little-endian here)
    /// order, the port as a plain hex number.
    /// </summary>
    public static IPEndPoint? ParseHexEndpoint(string text)
    {
        int colon = text.IndexOf(':');
        if (colon < 0) return null;
        string hexAddress = text[..colon];
        if (hexAddress.Length is not (8 or 32)) return null;
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int port)) return null;
        var bytes = new byte[hexAddress.Length / 2];
        for (int word = 0; word < bytes.Length / 4; word++)
        {
            if (!uint.TryParse(hexAddress.AsSpan(word * 8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint value)) return null;
            bytes[word * 4] = (byte)value;
            bytes[word * 4 + 1] = (byte)(value >> 8);
            bytes[word * 4 + 2] = (byte)(value >> 16);
            bytes[word * 4 + 3] = (byte)(value >> 24);
        }
        return new IPEndPoint(new IPAddress(bytes), port);
    }

    /// <summary>Which processes hold the socket with this inode (fd links read "socket:[inode]").</summary>
    public IReadOnlyList<ProcProcess> SocketOwners(long inode)
    {
        string wanted = $"socket:[{inode.ToString(CultureInfo.InvariantCulture)}]";
        var owners = new List<ProcProcess>();
        foreach (var process in Processes())
        {
            string fdDir = Path.Combine(Root, process.Pid.ToString(CultureInfo.InvariantCulture), "fd");
            try
            {
                foreach (string fd in Directory.EnumerateFileSystemEntries(fdDir))
                {
                    if (new FileInfo(fd).LinkTarget == wanted)
                    {
                        owners.Add(process);
                        break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended or belongs to someone this user may not inspect.
            }
        }
        return owners;
    }

    /// <summary>CapEff of the process reading (<c>self</c>), as a bit set; null when unreadable.</summary>
    public ulong? EffectiveCapabilities()
    {
        string? status = ReadText(Path.Combine(Root, "self", "status"));
        if (status is null) return null;
        foreach (string line in status.Split('\n'))
        {
            if (line.StartsWith("CapEff:", StringComparison.Ordinal)
                && ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong caps))
                return caps;
        }
        return null;
    }

    /// <summary>The lowest port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start); null when unknown.</summary>
    public int? UnprivilegedPortStart()
    {
        string? text = ReadText(Path.Combine(Root, "sys", "net", "ipv4", "ip_unprivileged_port_start"));
        return int.TryParse(text?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int port) ? port : null;
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
