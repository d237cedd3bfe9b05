using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Event;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// What Akka.Remote's DotNetty transport logs for a connection to the cluster port that does not speak its framing
/// (a scanner, garbage): an ERROR with the decoder's stack trace, from <c>TcpServerHandler.ExceptionCaught</c>, once per
/// connection (~1 KB each). Here that becomes one WARNING line without the stack, at most <see cref="LinesPerWindow"/>
/// per <see cref="Window"/>, the rest counted and told with the next line logged. Every other event passes unchanged,
/// including other errors of the same handler (a reset from a real peer, a TLS failure).
/// </summary>
public sealed class BadConnectionLog
{
    public const int LinesPerWindow = 5;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private static readonly ConditionalWeakTable<ActorSystem, BadConnectionLog> PerSystem = new();

    private readonly Func<long> _nowMs;
    private readonly Lock _lock = new();
    private long _windowStartMs = long.MinValue;
    private int _loggedInWindow;
    private long _notLogged, _total;

    public BadConnectionLog(Func<long>? nowMs = null) => _nowMs = nowMs ?? (() => Environment.TickCount64);

    /// <summary>The one instance of a system, shared by its loggers.</summary>
    public static BadConnectionLog For(ActorSystem system) => PerSystem.GetValue(system, _ => new BadConnectionLog());

    /// <summary>Bad connections seen so far, logged or not.</summary>
    public long Total { get { lock (_lock) return _total; } }

    /// <summary>Whether the event is the transport's report of a connection whose bytes are not Akka.Remote frames.</summary>
    public static bool IsBadConnection(LogEvent e) =>
        e is Error { Cause: { } cause } && e.LogClass?.Name == "TcpServerHandler"
        && cause.GetType().Namespace?.StartsWith("DotNetty.Codecs", StringComparison.Ordinal) == true;

    /// <summary>The event to log in place of <paramref name="e"/>: itself, a one-line warning, or null (not logged).</summary>
    public LogEvent? Rewrite(LogEvent e)
    {
        if (!IsBadConnection(e)) return e;
        long notLogged;
        lock (_lock)
        {
            _total++;
            long now = _nowMs();
            if (_windowStartMs == long.MinValue || now - _windowStartMs >= (long)Window.TotalMilliseconds)
            {
                _windowStartMs = now;
                _loggedInWindow = 0;
            }
            if (_loggedInWindow >= LinesPerWindow)
            {
                _notLogged++;
                return null;
            }
            _loggedInWindow++;
            notLogged = _notLogged;
            _notLogged = 0;
        }
        var cause = ((Error)e).Cause!;
        string reason = cause.Message.ReplaceLineEndings(" ");
        if (reason.Length > 160) reason = reason[..160] + "…";
        string text = $"cluster port: closed a connection that is not Akka.Remote traffic ({e.Message}): {cause.GetType().Name}: {reason}"
            + $" (at most {LinesPerWindow} such lines a minute"
            + (notLogged > 0 ? $"; {notLogged} more since the last one were not logged" : "") + ")";
        return new Warning(e.LogSource, e.LogClass, text);
    }
}

/// <summary>Akka's default stdout logger with the cluster port's bad connections logged as <see cref="BadConnectionLog"/> says.</summary>
public sealed class NodeLogger : DefaultLogger
{
    /// <summary>The value of akka.loggers that selects this logger.</summary>
    public const string TypeName = "TimeMesh.Node.Mesh.NodeLogger, TimeMesh.Node";

    private BadConnectionLog? _badConnections;

    protected override void Print(LogEvent logEvent)
    {
        _badConnections ??= BadConnectionLog.For(Context.System);
        if (_badConnections.Rewrite(logEvent) is { } shown) base.Print(shown);
    }
}
