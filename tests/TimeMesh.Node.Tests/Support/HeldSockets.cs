using System.ComponentModel;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// An attacker's idle TCP connections to one port: opened in bounded batches, optionally from inside a network
/// namespace (the sockets are created on a thread that entered the namespace, so they carry its address), and
/// kept topped up as a persistent attacker would when the server closes them. Everything closed when disposed.
/// </summary>
public sealed class HeldSockets : IDisposable
{
    private readonly IPEndPoint _target;
    private readonly string? _netns;
    private readonly int _count;
    private readonly List<Socket> _sockets = new();

    /// <summary>Connections made so far (including those the server closed at once).</summary>
    public int Connects { get; private set; }
    /// <summary>Connects that failed or timed out.</summary>
    public int Failures { get; private set; }
    /// <summary>Connections the server closed so far.</summary>
    public int ClosedByServer { get; private set; }

    private HeldSockets(IPEndPoint target, string? netns, int count)
    {
        _target = target;
        _netns = netns;
        _count = count;
    }

    /// <summary>Opens up to <paramref name="count"/> connections within <paramref name="budget"/>.</summary>
    public static async Task<HeldSockets> OpenAsync(IPEndPoint target, int count, string? netns, TimeSpan budget)
    {
        var held = new HeldSockets(target, netns, count);
        await held.TopUpAsync(budget);
        return held;
    }

    /// <summary>Sockets still open (as far as this side can tell) right now.</summary>
    public int Open
    {
        get
        {
            Reap();
            return _sockets.Count;
        }
    }

    /// <summary>Replaces the connections the server closed, within <paramref name="budget"/>.</summary>
    public async Task TopUpAsync(TimeSpan budget)
    {
        Reap();
        var until = DateTime.UtcNow + budget;
        while (_sockets.Count < _count && DateTime.UtcNow < until)
        {
            int batch = Math.Min(200, _count - _sockets.Count);
            var fresh = Create(_netns, _target.AddressFamily, batch);
            var connects = fresh.Select(async s =>
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try
                {
                    await s.ConnectAsync(_target, timeout.Token);
                    return true;
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException)
                {
                    return false;
                }
            }).ToArray();
            var ok = await Task.WhenAll(connects);
            for (int i = 0; i < fresh.Length; i++)
            {
                Connects++;
                if (ok[i]) _sockets.Add(fresh[i]);
                else
                {
                    Failures++;
                    fresh[i].Dispose();
                }
            }
        }
    }

    /// <summary>Sends one byte on every open socket (a trickling attacker); sockets that fail are dropped.</summary>
    public void SendOneByteEach(byte value)
    {
        Reap();
        foreach (var s in _sockets.ToArray())
        {
            try { s.Send([value]); }
            catch (SocketException) { Drop(s); }
        }
    }

    private void Reap()
    {
        foreach (var s in _sockets.ToArray())
        {
            bool closed;
            try { closed = s.Poll(0, SelectMode.SelectRead) && s.Available == 0; }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { closed = true; }
            if (closed) Drop(s);
        }
    }

    private void Drop(Socket s)
    {
        _sockets.Remove(s);
        ClosedByServer++;
        s.Dispose();
    }

    private const int CloneNewNet = 0x40000000;

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    /// <summary>Creates unconnected sockets, inside <paramref name="netns"/> when named (a fresh thread enters it and ends).</summary>
    public static Socket[] Create(string? netns, AddressFamily family, int n)
    {
        Socket[] Make() => Enumerable.Range(0, n).Select(_ => new Socket(family, SocketType.Stream, ProtocolType.Tcp)).ToArray();
        if (netns is null) return Make();
        Socket[]? made = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{netns}");
                if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                    throw new Win32Exception(Marshal.GetLastPInvokeError(), $"setns into {netns} failed");
                made = Make();
            }
            catch (Exception e)
            {
                error = e;
            }
        }) { IsBackground = true, Name = "netns-" + netns };
        thread.Start();
        thread.Join();
        if (error is not null) throw new InvalidOperationException($"cannot open sockets in namespace {netns}: {error.Message}", error);
        return made!;
    }

    public void Dispose()
    {
        foreach (var s in _sockets) s.Dispose();
        _sockets.Clear();
    }
}
