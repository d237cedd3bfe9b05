namespace TimeMesh.Node.Config;

/// <summary>A configuration value that cannot be used: the message names the key, the value and what is allowed.</summary>
public sealed class TimeMeshConfigException(string key, string? value, string allowed)
    : Exception($"invalid configuration: {key} = {value ?? "(missing)"}; {allowed}")
{
    public string Key { get; } = key;
    public string? Value { get; } = value;
}
