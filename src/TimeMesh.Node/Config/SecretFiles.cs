namespace TimeMesh.Node.Config;

/// <summary>
/// The secret files a configuration names, judged by <see cref="FilePermissions"/>: the keyfile, the NTS
/// private key (when NTS is on), the cluster-tls PKCS#12 or PEM key and password file (in a mesh) and the configuration file itself when
/// it holds a password (cluster-tls password, a connection string with Password=). A problem stops the node
/// at start unless <c>timemesh.insecure-file-permissions = on</c>, which turns each into a warning logged at
/// every start.
/// </summary>
public static class SecretFiles
{
    /// <summary>The override: start anyway, with a warning per file.</summary>
    public const string OverrideKey = "timemesh.insecure-file-permissions";

    /// <summary>
    /// The configuration file's path, set by <see cref="TimeMeshSettings.LoadFile"/> (not by hand), so that
    /// the file itself is judged when it holds a password.
    /// </summary>
    public const string ConfigFileKey = "timemesh.config-file";

    /// <summary>Every secret file of <paramref name="config"/> that others can get at (empty when all are fine).</summary>
    public static IReadOnlyList<FilePermissionProblem> Review(Akka.Configuration.Config config)
    {
        var r = new ConfigReader(TimeMeshSettings.WithReference(config));
        var problems = new List<FilePermissionProblem>();
        void Judge(string key, string? path, SecretKind kind)
        {
            if (!string.IsNullOrWhiteSpace(path) && FilePermissions.Check(key, path, kind) is { } p) problems.Add(p);
        }

        Judge(KeyFileSettings.Key, r.RawString(KeyFileSettings.Key), SecretKind.PrivateKey);
        if (r.Switch("timemesh.nts.enabled", false)) Judge("timemesh.nts.key", r.RawString("timemesh.nts.key"), SecretKind.PrivateKey);
        bool tls = r.Has("timemesh.role") && r.IsObject("timemesh.cluster-tls");
        if (tls)
        {
            // A PEM certificate is public; with key = ... the key file is the secret, otherwise the PKCS#12 holds it.
            string? pemKey = r.RawString("timemesh.cluster-tls.key");
            if (string.IsNullOrEmpty(pemKey)) Judge("timemesh.cluster-tls.certificate", r.RawString("timemesh.cluster-tls.certificate"), SecretKind.PrivateKey);
            else Judge("timemesh.cluster-tls.key", pemKey, SecretKind.PrivateKey);
            Judge("timemesh.cluster-tls.password-file", r.RawString("timemesh.cluster-tls.password-file"), SecretKind.PrivateKey);
        }
        if (HoldsPassword(r)) Judge("--config", r.RawString(ConfigFileKey), SecretKind.Config);
        return problems;
    }

    /// <summary>
    /// Refuses the first problem of <see cref="Review"/> as a <see cref="TimeMeshConfigException"/> (exit code
    /// 2), or, with the override on, returns every problem as a warning for the log.
    /// </summary>
    public static IReadOnlyList<string> Enforce(Akka.Configuration.Config config)
    {
        var problems = Review(config);
        if (problems.Count == 0) return [];
        var r = new ConfigReader(TimeMeshSettings.WithReference(config));
        if (!r.Switch(OverrideKey, false))
        {
            var first = problems[0];
            string more = problems.Count == 1 ? "" : $" ({problems.Count - 1} more: {string.Join("; ", problems.Skip(1).Select(p => p.Message))})";
            throw new TimeMeshConfigException(first.Key, first.Path,
                $"{first.Message}, or set {OverrideKey} = on to start anyway with a warning{more}");
        }
        return problems.Select(p => $"{OverrideKey} = on: {p.Key} {p.Message}").ToList();
    }

    private static bool HoldsPassword(ConfigReader r)
    {
        if (r.IsObject("timemesh.cluster-tls") && !string.IsNullOrEmpty(r.RawString("timemesh.cluster-tls.password"))) return true;
        string? connection = r.IsObject("timemesh.persistence.connection-string") ? null : r.RawString("timemesh.persistence.connection-string");
        return connection is not null && ConnectionStringHasPassword(connection);
    }

    /// <summary>Whether a connection string sets Password (or Npgsql's aliases PWD, PSW) to something.</summary>
    internal static bool ConnectionStringHasPassword(string connection) =>
        connection.Split(';').Select(part => part.Split('=', 2)).Any(kv => kv.Length == 2
            && kv[0].Trim().ToLowerInvariant() is "password" or "pwd" or "psw"
            && kv[1].Trim().Length > 0);
}
