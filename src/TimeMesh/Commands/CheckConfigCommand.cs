using System.CommandLine;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Commands;

/// <summary>
/// <c>timemesh check-config FILE</c> (as <c>chronyd -p</c>, <c>nginx -t</c>): exit 0 and the effective
/// configuration with the origin of each value, or exit 2 and every problem found, each with its line.
/// </summary>
public static class CheckConfigCommand
{
    public const int ExitValid = 0;
    public const int ExitInvalid = 2;

    public static Command Build()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The node's HOCON configuration file." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing when the file is valid." };
        var command = new Command("check-config",
            "Check a configuration file as `timemesh run` reads it: every key known, every value allowed. Prints the "
            + "effective configuration (defaults filled in, the origin of each value), or every problem with its line.") { file, quiet };
        command.SetAction(parse => Run(parse.GetValue(file)!.ToString(), parse.GetValue(quiet), Console.Out, Console.Error));
        return command;
    }

    public static int Run(string path, bool quiet, TextWriter stdout, TextWriter stderr)
    {
        var result = ConfigFileCheck.CheckFile(path, values: true);
        foreach (string note in result.Notes) stderr.WriteLine($"{path}: note: {note}");
        if (!result.Ok)
        {
            stderr.WriteLine(result.Describe());
            stderr.WriteLine($"timemesh check-config: {path}: {result.Problems.Count} problem{(result.Problems.Count == 1 ? "" : "s")}; timemesh run refuses this file");
            return ExitInvalid;
        }
        if (!quiet)
        {
            stdout.WriteLine($"# {path}: valid. The effective configuration; # says where each value came from.");
            stdout.Write(ConfigFileCheck.RenderEffective(result));
        }
        return ExitValid;
    }
}
