using System.CommandLine;
using TimeMesh.Cli.Doctor;

namespace TimeMesh.Cli.Commands;

/// <summary><c>timemesh doctor</c>: what on this machine would fight TimeMesh or break it, and what to do about each.</summary>
public static class DoctorCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config", "-c")
        {
            Description = "The node's HOCON file (default: /etc/timemesh/timemesh.hocon when it exists, else the built-in defaults).",
        };
        var json = new Option<bool>("--json") { Description = "Print the findings as JSON." };
        var command = new Command("doctor", "Check this machine for what would fight TimeMesh or break it (time daemons, the NTP port, capabilities, config, kernel clock).")
        {
            config,
            json,
        };
        command.SetAction(parse =>
        {
            var report = DoctorRunner.Run(new DoctorEnvironment(), parse.GetValue(config)?.FullName);
            Console.Out.Write(parse.GetValue(json) ? report.ToJson() : report.ToText());
            return report.ExitCode;
        });
        return command;
    }
}
