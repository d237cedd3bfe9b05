using System.CommandLine;
using System.Net.Sockets;
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

        var root = new RootCommand("TimeMesh: a distributed NTP time service on Akka.NET.") { run, Commands.ImportChronyCommand.Build() };
        foreach (var report in Commands.ReportCommands.Build()) root.Add(report);
        root.Add(Commands.DoctorCommand.Create());
        root.Add(Commands.CheckConfigCommand.Build());
        root.Add(Commands.KeygenCommand.Build());
        root.Add(Commands.CertCommand.Build());
        return root;
    }

    private static async Task<int> RunAsync(FileInfo configFile, CancellationToken cancel)
    {
        using var signals = new Hosting.ShutdownSignals(cancel);
        TimeMeshNode node;
        try
        {
            var config = TimeMeshSettings.LoadFile(configFile.FullName);
            if (Hosting.NodeHost.LogsToJournal) config = Akka.Configuration.ConfigurationFactory.ParseString(Hosting.JournaldLogger.Hocon).WithFallback(config);
            node = TimeMeshNode.Start(config);
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

        // Hosted for systemd's Type=notify; SIGINT and SIGTERM stop the host, which runs Akka's coordinated shutdown.
        return await Hosting.NodeHost.RunAsync(node, signals.Token);
    }
}
