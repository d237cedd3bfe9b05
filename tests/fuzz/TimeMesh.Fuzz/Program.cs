using SharpFuzz;

namespace TimeMesh.Fuzz;

/// <summary>
/// Entry point of the fuzz targets: <c>timemesh-fuzz TARGET</c> under libfuzzer-dotnet (tests/fuzz/run.sh),
/// or <c>timemesh-fuzz TARGET FILE</c> to replay one input. A target throws only when it finds a bug: an
/// exception its code does not promise, or a broken invariant.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length is < 1 or > 2 || !Targets.All.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: timemesh-fuzz {{{string.Join('|', Targets.All.Keys)}}} [input-file]");
            return 2;
        }
        if (args.Length == 2)
        {
            target(File.ReadAllBytes(args[1]));
            return 0;
        }
        Fuzzer.LibFuzzer.Run(span => target(span));
        return 0;
    }
}
