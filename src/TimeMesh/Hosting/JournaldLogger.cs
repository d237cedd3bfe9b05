using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace TimeMesh.Cli.Hosting;

/// <summary>
/// Akka's log events as journald reads them from a service's stdout: each line starts with its syslog
/// priority (<c>&lt;3&gt;</c> error … <c>&lt;7&gt;</c> debug, sd-daemon(3)) and carries no timestamp,
/// because the journal stamps lines itself.
/// </summary>
public sealed class JournaldLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    /// <summary>The HOCON that makes an actor system log through this logger.</summary>
    public const string Hocon = """akka.loggers = ["TimeMesh.Cli.Hosting.JournaldLogger, timemesh"]""";

    public JournaldLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        var badConnections = TimeMesh.Node.Mesh.BadConnectionLog.For(Context.System);
        Receive<LogEvent>(e =>
        {
            if (badConnections.Rewrite(e) is { } shown) Console.Out.Write(Format(shown));
        });
    }

    public static int Priority(LogLevel level) => level switch
    {
        LogLevel.ErrorLevel => 3,
        LogLevel.WarningLevel => 4,
        LogLevel.InfoLevel => 6,
        _ => 7,
    };

    /// <summary>Every line of the message (an exception's stack too) gets the prefix, or journald would log the rest at the default priority.</summary>
    public static string Format(LogEvent e)
    {
        string text = e.Message?.ToString() ?? "";
        if (e is Error { Cause: { } cause }) text += Environment.NewLine + cause;
        string prefix = $"<{Priority(e.LogLevel())}>";
        var lines = text.Split('\n');
        return string.Concat(lines.Select((line, i) => (i == 0 ? $"{prefix}[{e.LogSource}] " : prefix) + line.TrimEnd('\r') + "\n"));
    }
}
