using System.CommandLine;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Commands;

/// <summary><c>timemesh import-chrony FILE [--output FILE]</c>: chrony.conf in, TimeMesh HOCON out.</summary>
public static class ImportChronyCommand
{
    public const int ExitTranslated = 0;
    /// <summary>The output could not be written, or (a bug) the translation would not load.</summary>
    public const int ExitOutputNotWritten = 1;
    public const int ExitUnreadable = 2;

    public static Command Build()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The chrony.conf to translate." };
        var output = new Option<FileInfo?>("--output", "-o")
        {
            Description = "Write the HOCON to this file instead of stdout.",
            HelpName = "FILE",
        };
        var command = new Command("import-chrony",
            "Translate a chrony.conf into TimeMesh HOCON. What cannot be translated is listed with its line number, " +
            "at the top of the output and on stderr.") { file, output };
        command.SetAction(parse => Run(parse.GetValue(file)!, parse.GetValue(output), Console.Out, Console.Error));
        return command;
    }

    public static int Run(FileInfo file, FileInfo? output, TextWriter stdout, TextWriter stderr)
    {
        string text;
        try
        {
            text = File.ReadAllText(file.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"timemesh import-chrony: cannot read {file.FullName}: {e.Message}");
            return ExitUnreadable;
        }

        var result = ChronyConfImporter.Translate(text, file.Name);
        foreach (var note in result.Notes) stderr.WriteLine($"{file.Name}: {note}");
        // The translator only writes what TimeMesh accepts; a node loading this must never be the first to find
        // out otherwise: the output passes the same check as `timemesh check-config`.
        var check = ConfigFileCheck.CheckText(result.Hocon, "(the translation)", values: true);
        if (!check.Ok)
        {
            stderr.WriteLine($"timemesh import-chrony: the translation does not pass check-config, nothing written (a bug, please report it):\n{check.Describe()}");
            return ExitOutputNotWritten;
        }

        if (output is null)
        {
            stdout.Write(result.Hocon);
            return ExitTranslated;
        }
        try
        {
            // Written whole or not at all: a half-written config must not be left for a node to load.
            string temp = output.FullName + ".tmp";
            File.WriteAllText(temp, result.Hocon);
            File.Move(temp, output.FullName, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"timemesh import-chrony: cannot write {output.FullName}: {e.Message}");
            return ExitOutputNotWritten;
        }
        stderr.WriteLine($"timemesh import-chrony: wrote {output.FullName} ({result.Notes.Count} notes)");
        return ExitTranslated;
    }
}
