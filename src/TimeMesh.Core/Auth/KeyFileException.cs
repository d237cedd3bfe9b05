namespace TimeMesh.Core.Auth;

/// <summary>A keyfile line that cannot be used: the message names the file, the line and what is wrong.</summary>
public sealed class KeyFileException(string path, int line, string problem)
    : Exception($"{path}:{line}: {problem}")
{
    public string Path { get; } = path;
    public int Line { get; } = line;
    public string Problem { get; } = problem;
}
