namespace TimeMesh.Node.Config;

/// <summary>A configuration value that cannot be used: the message names the key, the value and what is allowed.</summary>
public sealed class TimeMeshConfigException : Exception
{
    public TimeMeshConfigException(string key, string? value, string allowed)
        : base($"invalid configuration: {key} = {value ?? "(missing)"}; {allowed}")
    {
        Key = key;
        Value = value;
    }

    /// <summary>A configuration file refused with every problem found in it, one a line.</summary>
    public TimeMeshConfigException(ConfigCheckResult result)
        : base($"invalid configuration: {result.Source}: {result.Problems.Count} problem{(result.Problems.Count == 1 ? "" : "s")}:\n{result.Describe()}")
    {
        Key = result.Problems.Count > 0 ? result.Problems[0].Key : "--config";
        if (Key.Length == 0) Key = "--config";
        Value = result.Source;
        Problems = result.Problems;
    }

    public string Key { get; }
    public string? Value { get; }

    /// <summary>Every problem of a refused file (<see cref="ConfigFileCheck"/>); empty for a single bad value.</summary>
    public IReadOnlyList<ConfigProblem> Problems { get; } = [];
}
