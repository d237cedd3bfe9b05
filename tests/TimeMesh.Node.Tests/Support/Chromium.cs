using System.Diagnostics;

namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// Debian's headless Chromium, to see what a page shows after its scripts ran. It runs without sandbox and
/// GPU and without background networking (it talks only to the loopback URL it is given), each run in a
/// fresh profile. A missing chromium fails the test, loudly: tests/run-all.sh installs it.
/// </summary>
public static class Chromium
{
    public const string Path = "/usr/bin/chromium";

    public static void RequireInstalled()
    {
        if (!File.Exists(Path))
            throw new InvalidOperationException($"{Path} is missing: install Debian's chromium (tests/run-all.sh does)");
    }

    /// <summary>The DOM after the page's scripts ran for <paramref name="virtualTimeMs"/> ms of virtual time.</summary>
    public static string DumpDom(string url, int virtualTimeMs = 5000) =>
        Run(url, ["--dump-dom", $"--virtual-time-budget={virtualTimeMs}"]).Stdout;

    /// <summary>A PNG of the page at the given window size after <paramref name="virtualTimeMs"/> ms of virtual time.</summary>
    public static void Screenshot(string url, string pngPath, int width, int height, int virtualTimeMs = 5000)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(pngPath))!);
        File.Delete(pngPath);
        var (_, stderr) = Run(url, [$"--screenshot={System.IO.Path.GetFullPath(pngPath)}", $"--window-size={width},{height}",
            "--hide-scrollbars", $"--virtual-time-budget={virtualTimeMs}"]);
        if (!File.Exists(pngPath)) throw new InvalidOperationException($"chromium wrote no screenshot:\n{stderr}");
    }

    private static (string Stdout, string Stderr) Run(string url, string[] extra)
    {
        RequireInstalled();
        string profile = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tm-chromium-" + Guid.NewGuid().ToString("N")[..8]);
        var info = new ProcessStartInfo(Path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--no-first-run", "--disable-extensions", "--disable-sync", "--mute-audio", $"--user-data-dir={profile}" })
            info.ArgumentList.Add(a);
        foreach (var a in extra) info.ArgumentList.Add(a);
        info.ArgumentList.Add(url);
        try
        {
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(90_000))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"chromium did not finish with {url} in 90 s");
            }
            if (p.ExitCode != 0) throw new InvalidOperationException($"chromium exited with {p.ExitCode}:\n{stderr.Result}");
            return (stdout.Result, stderr.Result);
        }
        finally
        {
            try { Directory.Delete(profile, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
