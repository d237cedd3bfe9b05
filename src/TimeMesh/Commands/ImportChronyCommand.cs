using System.CommandLine;
using TimeMesh.Cli.Import;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Commands;

/// <summary><c>timemesh import-chrony FILE [--output FILE] [--allow-insecure]</c>: chrony.conf in, TimeMesh HOCON out; never less authenticated unless allowed.</summary>
public static class ImportChronyCommand
{
    public const int ExitTranslated = 0;
    /// <summary>The output could not be written, or (a bug) the translation would not load.</summary>
    public const int ExitOutputNotWritten = 1;
    public const int ExitUnreadable = 2;
    /// <summary>Something in chrony.conf would lose its authentication or trust (and --allow-insecure was not given); nothing written.</summary>
    public const int ExitInsecure = 3;

    public static Command Build()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The chrony.conf to translate." };
        var output = new Option<FileInfo?>("--output", "-o")
        {
            Description = "Write the HOCON to this file instead of stdout.",
            HelpName = "FILE",
        };
        var allowInsecure = new Option<bool>("--allow-insecure")
        {
            Description = "Translate lines whose authentication or trust TimeMesh cannot keep (a key without a keyfile, " +
                "unauthenticated sources chronyd would only let agree with authenticated ones, ...) instead of failing; " +
                "each is listed at the top of the output and on stderr.",
        };
        var command = new Command("import-chrony",
            "Translate a chrony.conf into TimeMesh HOCON. What cannot be translated is listed with its line number, " +
            "at the top of the output and on stderr. A line whose security TimeMesh cannot keep makes the import fail " +
            "(exit 3) unless --allow-insecure is given.") { file, output, allowInsecure };
        command.SetAction(parse => Run(parse.GetValue(file)!, parse.GetValue(output), Console.Out, Console.Error, parse.GetValue(allowInsecure)));
        return command;
    }

    public static int Run(FileInfo file, FileInfo? output, TextWriter stdout, TextWriter stderr, bool allowInsecure = false)
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

        var result = ChronyConfImporter.Translate(text, file.Name, allowInsecure);
        string insecureLabel = result.Refused ? "cannot keep its security" : "LESS SECURE (--allow-insecure)";
        foreach (var note in result.Insecure) stderr.WriteLine($"{file.Name}: line {note.Line}: {note.Subject} — {insecureLabel}: {note.Message}");
        foreach (var note in result.Notes) stderr.WriteLine($"{file.Name}: {note}");
        if (result.Refused)
        {
            stderr.WriteLine($"timemesh import-chrony: {result.Insecure.Count} line(s) above would lose authentication or trust; nothing written. " +
                "Change chrony.conf, or run again with --allow-insecure to translate them as listed.");
            return ExitInsecure;
        }
        // The translator only writes what TimeMesh accepts; a node loading this must never be the first to find
        // out otherwise: the output passes the same check as `timemesh check-config`. Files the output names
        // (keyfile, NTS certificates) belong to the node's machine: their problems are told, not a bug.
        var check = ConfigFileCheck.CheckText(result.Hocon, "(the translation)", values: true);
        var machine = check.Problems.Where(p => IsMachineFileProblem(result, p.Key)).ToList();
        var bugs = check.Problems.Except(machine).ToList();
        if (bugs.Count > 0)
        {
            stderr.WriteLine("timemesh import-chrony: the translation does not pass check-config, nothing written (a bug, please report it):\n" +
                string.Join('\n', bugs.Select(p => p.Format("(the translation)"))));
            return ExitOutputNotWritten;
        }
        // check-config takes a failing key out and reads again: a missing certificate is then also "required"; once per key.
        foreach (var problem in machine.DistinctBy(p => p.Key))
            stderr.WriteLine($"timemesh import-chrony: before the node starts on this machine: {problem.Key}: {problem.Message}");

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

    /// <summary>A check-config problem caused by a file the output names (or by a source key, when the keyfile is such a file).</summary>
    private static bool IsMachineFileProblem(ChronyImportResult result, string key) =>
        result.MachineFileKeys.Contains(key)
        || (result.MachineFileKeys.Contains("timemesh.keyfile") && System.Text.RegularExpressions.Regex.IsMatch(key, @"^timemesh\.(server|pool)\[\d+\]\.key$"));
}
