using TimeMesh.Core.Nts;

namespace TimeMesh.Node.Nts;

/// <summary>
/// The cookie master keys on disk (chrony's ntsdumpdir idea): read at start so cookies handed out before a
/// restart stay good, written after every rotation atomically (temp file, then rename) with mode 0600.
/// </summary>
internal static class NtsKeyStore
{
    public const string FileName = "nts-keys";

    public static string PathIn(string dataDir) => Path.Combine(dataDir, FileName);

    /// <summary>The stored keys, rotated if due; fresh keys when there is no file. A damaged file is replaced, with a warning.</summary>
    public static NtsServerKeys LoadOrCreate(string dataDir, long nowUnixSeconds, TimeSpan rotation, Action<string> warn)
    {
        string path = PathIn(dataDir);
        NtsServerKeys? keys = null;
        if (File.Exists(path))
        {
            try
            {
                keys = NtsServerKeys.Parse(File.ReadAllText(path));
            }
            catch (FormatException e)
            {
                warn($"{path} is damaged ({e.Message}); new cookie keys are made and cookies handed out before are void");
            }
        }
        if (keys is null)
        {
            keys = NtsServerKeys.Generate(nowUnixSeconds);
            Save(dataDir, keys);
        }
        else if (keys.RotationDue(nowUnixSeconds, (long)rotation.TotalSeconds))
        {
            keys = keys.Rotate(nowUnixSeconds);
            Save(dataDir, keys);
        }
        return keys;
    }

    public static void Save(string dataDir, NtsServerKeys keys)
    {
        Directory.CreateDirectory(dataDir);
        string path = PathIn(dataDir);
        string temp = path + ".tmp";
        // Created private, never readable by others even for a moment.
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(keys.Serialize());
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }
}
