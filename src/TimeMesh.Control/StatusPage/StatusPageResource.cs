namespace TimeMesh.Control.StatusPage;

/// <summary>The status page, embedded in the assembly (status.html): read once, served as is.</summary>
public static class StatusPageResource
{
    public const string ResourceName = "TimeMesh.Control.StatusPage.status.html";

    private static readonly Lazy<byte[]> Bytes = new(() =>
    {
        using var stream = typeof(StatusPageResource).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from TimeMesh.Control");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>The page as UTF-8 bytes.</summary>
    public static ReadOnlyMemory<byte> Html => Bytes.Value;
}
