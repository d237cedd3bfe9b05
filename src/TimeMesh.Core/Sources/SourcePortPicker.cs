namespace TimeMesh.Core.Sources;

/// <summary>
/// RFC 9109 source ports for client requests: a uniformly random port from the ephemeral range, never one
/// of the last <see cref="RememberedPorts"/> handed out. Left to the kernel, bind(0) also picks at random,
/// but may hand out the same port twice in a row; never repeating a recent port keeps an off-path
/// attacker's guess space at the full range for every request. The randomness is the caller's (a CSPRNG in
/// the node, a seeded one in tests).
/// </summary>
public sealed class SourcePortPicker
{
    /// <summary>How many of the most recently picked ports are never picked again; the range must be larger than this.</summary>
    public const int RememberedPorts = 64;

    private readonly int _lowest;
    private readonly int _count;
    private readonly Func<int, int> _randomBelow;
    private readonly int[] _recent = new int[RememberedPorts];
    private int _recentNext;
    private readonly object _gate = new();

    /// <param name="lowest">Lowest port of the range, inclusive.</param>
    /// <param name="highest">Highest port of the range, inclusive.</param>
    /// <param name="randomBelow">Returns a uniformly random integer in [0, n).</param>
    public SourcePortPicker(int lowest, int highest, Func<int, int> randomBelow)
    {
        if (lowest is < 1 or > 65535 || highest is < 1 or > 65535 || highest - lowest + 1 <= RememberedPorts)
            throw new ArgumentOutOfRangeException(nameof(highest), $"the range {lowest}-{highest} must hold more than {RememberedPorts} ports");
        _lowest = lowest;
        _count = highest - lowest + 1;
        _randomBelow = randomBelow;
    }

    /// <summary>The first port of the range, inclusive.</summary>
    public int Lowest => _lowest;
    /// <summary>The last port of the range, inclusive.</summary>
    public int Highest => _lowest + _count - 1;

    /// <summary>
    /// A uniformly random port in <see cref="Lowest"/>..<see cref="Highest"/> that is not among the last
    /// <see cref="RememberedPorts"/> picks; the draw is repeated until it lands on such a port. Safe to call from
    /// several threads.
    /// </summary>
    public int Pick()
    {
        lock (_gate)
        {
            while (true)
            {
                int port = _lowest + _randomBelow(_count);
                if (Array.IndexOf(_recent, port) >= 0) continue;
                _recent[_recentNext] = port;
                _recentNext = (_recentNext + 1) % RememberedPorts;
                return port;
            }
        }
    }

    /// <summary>Linux's ephemeral range from the text of /proc/sys/net/ipv4/ip_local_port_range, or its default.</summary>
    public static (int Lowest, int Highest) ParseLinuxRange(string? text)
    {
        var parts = (text ?? "").Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 2 && int.TryParse(parts[0], out int low) && int.TryParse(parts[1], out int high)
            && low >= 1 && high <= 65535 && high - low + 1 > RememberedPorts)
            return (low, high);
        return (32768, 60999);
    }
}
