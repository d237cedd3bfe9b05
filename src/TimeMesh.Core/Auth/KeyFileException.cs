namespace TimeMesh.Core.Auth;

/// <summary>A keyfile line that cannot be used: the message names the file, the line and what is wrong.</summary>
public sealed class KeyFileException(string path, int line, string problem)
    : Exception($"{path}:{line}: {problem}")
{
    /// <summary>The keyfile's path as it was given to the parser.</summary>
    public string Path { get; } = path;
    /// <summary>The 1-based number of the line at fault.</summary>
    public int Line { get; } = line;
    /// <summary>What is wrong with the line, without the file and line prefix that <see cref="Exception.Message"/> adds.</summary>
    public string Problem { get; } = problem;
}
