using System.Globalization;
using System.Runtime.InteropServices;

namespace TimeMesh.Node.Config;

/// <summary>What a secret file holds, which decides who besides its owner may read it.</summary>
public enum SecretKind
{
    /// <summary>A private key (keyfile, NTS key, cluster-tls PKCS#12): its owner only, as ssh demands of a private key.</summary>
    PrivateKey,
    /// <summary>A configuration file that holds a password: its group may read it too (0640, root:timemesh).</summary>
    Config,
}

/// <summary>A secret file that others can read, write, or that an untrusted user owns: what is wrong and the fix.</summary>
/// <param name="Key">The setting that names the file (<c>--config</c> for the configuration file itself).</param>
/// <param name="Path">The file.</param>
/// <param name="Kind">What it holds.</param>
/// <param name="Mode">Its permission bits in octal, e.g. <c>0644</c>.</param>
/// <param name="Problem">Who else can get at it, e.g. "readable by every user".</param>
/// <param name="Fix">The shell command that fixes it.</param>
public sealed record FilePermissionProblem(string Key, string Path, SecretKind Kind, string Mode, string Problem, string Fix)
{
    private string What => Kind == SecretKind.PrivateKey
        ? "a private key must be readable by its owner only"
        : "a configuration that holds a password may be read by its owner and group only";

    /// <summary>One line: the file, its mode, what is wrong and the fix.</summary>
    public string Message => $"{Path} (mode {Mode}) is {Problem}: {What}; fix: {Fix}";
}

/// <summary>
/// The one permission check for secret files, as ssh checks a private key: the file's mode must not let
/// anyone but its owner read it (<see cref="SecretKind.PrivateKey"/>: no group or world bits, 0600 or
/// 0400) or anyone but its owner and group (<see cref="SecretKind.Config"/>: 0640 at most, no group
/// write), and it must be owned by the user the node runs as or by root (sshd's StrictModes rule for
/// authorized_keys): any other owner could read or rewrite it whatever its mode.
/// </summary>
public static unsafe partial class FilePermissions
{
    /// <summary>
    /// Judges the file at <paramref name="path"/>; null when it is fine, when it does not exist or cannot be
    /// examined (the code that reads it reports that), or on Windows (no Unix modes).
    /// </summary>
    public static FilePermissionProblem? Check(string key, string path, SecretKind kind)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path)) return null;
        if (!TryStat(path, out var mode, out uint owner)) return null;
        return Judge(key, path, kind, mode, owner, ProcessUid);
    }

    /// <summary>The rule itself, on a file's mode and owner and the process's user.</summary>
    public static FilePermissionProblem? Judge(string key, string path, SecretKind kind, UnixFileMode mode, uint ownerUid, uint processUid)
    {
        string octal = "0" + Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');
        string chmod = kind == SecretKind.PrivateKey ? "600" : "640";
        var problems = new List<string>();
        if ((mode & UnixFileMode.OtherWrite) != 0) problems.Add("writable by every user");
        if ((mode & UnixFileMode.OtherRead) != 0) problems.Add("readable by every user");
        if ((mode & UnixFileMode.GroupWrite) != 0) problems.Add("writable by its group");
        if (kind == SecretKind.PrivateKey && (mode & UnixFileMode.GroupRead) != 0) problems.Add("readable by its group");
        if (kind == SecretKind.PrivateKey && (mode & (UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0 && problems.Count == 0)
            problems.Add("executable by others");
        bool badOwner = ownerUid != processUid && ownerUid != 0;
        if (badOwner) problems.Add($"owned by uid {ownerUid}, neither this user (uid {processUid}) nor root, who can read and rewrite it whatever its mode");
        if (problems.Count == 0) return null;
        string fix = $"chmod {chmod} {path}";
        if (badOwner) fix = $"chown {(kind == SecretKind.PrivateKey ? ProcessUser(processUid) : "root")} {path} && " + fix;
        return new FilePermissionProblem(key, path, kind, octal, string.Join(", ", problems), fix);
    }

    private static string ProcessUser(uint uid) =>
        uid == ProcessUid ? Environment.UserName : uid.ToString(CultureInfo.InvariantCulture);

    /// <summary>The effective uid of this process.</summary>
    public static uint ProcessUid => OperatingSystem.IsWindows() ? 0 : geteuid();

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static bool TryStat(string path, out UnixFileMode mode, out uint owner)
    {
        mode = 0;
        owner = 0;
        // statx (Linux 4.11, glibc 2.28) has one layout on every architecture: stx_uid at 20, stx_mode at 28.
        byte* buffer = stackalloc byte[256];
        try
        {
            const int AtFdCwd = -100, StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8;
            if (statx(AtFdCwd, path, 0, StatxType | StatxMode | StatxUid, buffer) != 0) return FallBack(path, out mode);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return FallBack(path, out mode);
        }
        owner = *(uint*)(buffer + 20);
        mode = (UnixFileMode)(*(ushort*)(buffer + 28) & 0xFFF);
        return true;
    }

    /// <summary>Without statx: the mode alone, judged as if the owner were this user.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static bool FallBack(string path, out UnixFileMode mode)
    {
        mode = 0;
        try
        {
            mode = File.GetUnixFileMode(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint geteuid();
}
