using System.CommandLine;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using TimeMesh.Node;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli;

/// <summary>The <c>timemesh</c> command line.</summary>
public static class Cli
{
    public const int ExitOk = 0;
    public const int ExitRuntimeError = 1;
    public const int ExitConfigError = 2;

    public static RootCommand Build()
    {
        var configOption = new Option<FileInfo>("--config", "-c")
        {
            Description = "The node's HOCON configuration file (see hocon/quickstart.hocon).",
            Required = true,
        };
        var run = new Command("run", "Run a TimeMesh node until SIGINT or SIGTERM.") { configOption };
        run.SetAction((parse, cancel) => RunAsync(parse.GetValue(configOption)!, cancel));

        var root = new RootCommand("TimeMesh: a distributed NTP time service on Akka.NET.") { run };
        foreach (var report in Commands.ReportCommands.Build()) root.Add(report);
        return root;
    }

    private static async Task<int> RunAsync(FileInfo configFile, CancellationToken cancel)
    {
        TimeMeshNode node;
        try
        {
            node = TimeMeshNode.Start(TimeMeshSettings.LoadFile(configFile.FullName));
        }
        catch (TimeMeshConfigException e)
        {
            Console.Error.WriteLine($"timemesh: {e.Message}");
            return ExitConfigError;
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"timemesh: {e.Message}");
            return ExitRuntimeError;
        }

        // SIGINT and SIGTERM run Akka's coordinated shutdown; the process ends when the actor system has.
        var stopping = 0;
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Exchange(ref stopping, 1) == 0)
            {
                Console.Error.WriteLine($"timemesh: {context.Signal}, shutting down");
                _ = node.StopAsync();
            }
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var cancelled = cancel.Register(() => _ = node.StopAsync());

        await node.WhenTerminated;
        return ExitOk;
    }
}
