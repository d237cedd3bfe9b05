using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TimeMesh.Chaos;

/// <summary>Running commands and sending signals.</summary>
internal static class Sys
{
    public const int SIGINT = 2, SIGKILL = 9, SIGTERM = 15, SIGCONT = 18, SIGSTOP = 19;

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int NativeKill(int pid, int signal);

    [DllImport("libc", EntryPoint = "geteuid")]
    public static extern uint GetEuid();

    /// <summary>Sends a signal; false when the process is gone.</summary>
    public static bool Signal(int pid, int signal) => NativeKill(pid, signal) == 0;

    /// <summary>Runs a command to its end (bounded by <paramref name="timeoutMs"/>); throws on a non-zero exit unless told not to.</summary>
    public static (int ExitCode, string Output) Run(IReadOnlyList<string> args, bool check = true, string? stdin = null, int timeoutMs = 30_000)
    {
        var info = new ProcessStartInfo(args[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args.Skip(1)) info.ArgumentList.Add(a);
        using var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {args[0]}");
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            try { p.Kill(); } catch (InvalidOperationException) { }
            throw new TimeoutException($"`{string.Join(' ', args)}` did not finish in {timeoutMs} ms");
        }
        p.WaitForExit();
        string output = stdout.Result + stderr.Result;
        if (check && p.ExitCode != 0)
            throw new InvalidOperationException($"`{string.Join(' ', args)}` failed ({p.ExitCode}): {output.Trim()}");
        return (p.ExitCode, output);
    }

    public static (int ExitCode, string Output) Run(params string[] args) => Run((IReadOnlyList<string>)args);

    /// <summary>The full path of a command on PATH (or the usual sbin directories), or null.</summary>
    public static string? Which(string command)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        return dirs.Where(d => d.Length > 0).Select(d => Path.Combine(d, command)).FirstOrDefault(File.Exists);
    }
}
