using TimeMesh.Node;
using TimeMesh.Node.Config;
using TimeMesh.Node.Persistence;

namespace TimeMesh.Cli.Doctor;

/// <summary>Loads the config as <c>timemesh run</c> would, then looks for what would make the node useless or fail later.</summary>
public sealed class ConfigCheck(DoctorEnvironment env)
{
    public const string Name = "config";

    /// <summary>The endpoint the mesh's cluster transport binds (akka.remote.dot-netty.tcp) when the node is in a mesh and its host is an IP address.</summary>
    public System.Net.IPEndPoint? ClusterEndpoint { get; private set; }

    /// <summary>Who the node is to the others, as <c>timemesh run</c> computes it; null when the config does not load.</summary>
    public NodeIdentity? Identity { get; private set; }

    /// <summary>The whole configuration as loaded (with the reference defaults), or null when it does not load.</summary>
    public Akka.Configuration.Config? Full { get; private set; }

    /// <summary>The settings the other checks judge (the built-in defaults without a config), or null when the config does not load.</summary>
    public TimeMeshSettings? Settings { get; private set; }

    public IReadOnlyList<DoctorFinding> Run(string? configPath)
    {
        var findings = new List<DoctorFinding>();
        Akka.Configuration.Config full;
        string source;
        if (configPath is null && File.Exists(env.DefaultConfigPath)) configPath = env.DefaultConfigPath;
        try
        {
            if (configPath is null)
            {
                source = "the built-in defaults";
                full = TimeMeshSettings.WithReference(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {}"));
                findings.Add(DoctorFinding.Warn(Name, $"no --config and no {env.DefaultConfigPath}: judging the built-in defaults",
                    "timemesh doctor --config FILE (the file timemesh run uses)"));
            }
            else
            {
                source = Path.GetFullPath(configPath, env.WorkingDirectory);
                full = TimeMeshSettings.LoadFile(source);
            }
            // File permissions are judged below, one finding per file; the other checks still run.
            Settings = TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString(SecretFiles.OverrideKey + " = on").WithFallback(full));
            if (Settings.Upstream.HasSources || Settings.Mesh is not null) PersistenceSettings.FromConfig(full);
            Identity = NodeIdentity.FromConfig(full, Settings.SystemName, Settings.Mesh is not null);
        }
        catch (TimeMeshConfigException e) when (e.Problems.Count > 0)
        {
            // The file check (timemesh check-config): every problem with its line, not only the first.
            Settings = null;
            Identity = null;
            foreach (var problem in e.Problems)
                findings.Add(DoctorFinding.Fail(Name, problem.Format(configPath ?? "--config"),
                    $"correct it; `timemesh check-config {configPath}` lists every problem, src/TimeMesh.Node/reference.conf every key with its default"));
            return findings;
        }
        catch (TimeMeshConfigException e)
        {
            Settings = null;
            Identity = null;
            findings.Add(DoctorFinding.Fail(Name, e.Message, $"correct {e.Key} in {configPath}; src/TimeMesh.Node/reference.conf lists every key with its default"));
            return findings;
        }

        Full = full;
        var s = Settings;
        var identity = Identity!;
        string role = s.Mesh is null ? "alone" : s.Mesh.Role.ToString().ToLowerInvariant();
        findings.Add(DoctorFinding.Ok(Name, $"{source}: loaded; listen {string.Join(", ", s.Listen)}, role {role}, clock {s.Upstream.Clock.ToString().ToLowerInvariant()}"));

        findings.AddRange(CheckSecretFiles(full));
        findings.AddRange(CheckDataDir(s.DataDir));
        if (s.Access.IsClosed)
            findings.Add(DoctorFinding.Warn(Name, "allow = []: the server answers no client (chrony's default too)",
                "allow the clients' subnets, e.g. allow = [\"192.168.1.0/24\"]"));
        if (!s.Upstream.HasSources && s.Local is null && s.Mesh is null)
            findings.Add(DoctorFinding.Warn(Name, "no server, pool, local or role: the node only ever answers unsynchronised (stratum 16)",
                "add server = [ { address = ... } ], local { stratum = 10 }, or join a mesh with role"));
        if (s.Mesh is { } mesh)
        {
            findings.Add(CheckTransport(full, identity, mesh.Insecure));
            if (mesh.Discovery.Enabled)
                findings.Add(DoctorFinding.Ok(Name, $"mesh: {mesh.Role.ToString().ToLowerInvariant()}, formation through Cluster Bootstrap (discovery {mesh.Discovery.Method.ToString().ToLowerInvariant()}, management endpoint {mesh.Discovery.ManagementHostname}:{mesh.Discovery.ManagementPort})"));
            else
                findings.AddRange(CheckMesh(full, identity, mesh.Role));
            // DotNetty binds its bind host's address; a name is resolved only when the node starts.
            ClusterEndpoint = identity.BindEndpoint;
        }
        return findings;
    }

    /// <summary>
    /// Each secret file others can get at: a failure (the node refuses to start), or a warning when
    /// timemesh.insecure-file-permissions = on lets it start.
    /// </summary>
    private static IEnumerable<DoctorFinding> CheckSecretFiles(Akka.Configuration.Config full)
    {
        bool overridden = full.GetBoolean(SecretFiles.OverrideKey, false);
        foreach (var p in SecretFiles.Review(full))
        {
            string message = $"{p.Key}: {p.Path} (mode {p.Mode}) is {p.Problem}";
            yield return overridden
                ? DoctorFinding.Warn(Name, message + $"; started anyway because {SecretFiles.OverrideKey} = on", p.Fix)
                : DoctorFinding.Fail(Name, message + ": timemesh run refuses to start", p.Fix);
        }
    }

    private IEnumerable<DoctorFinding> CheckDataDir(string dataDir)
    {
        string path = Path.GetFullPath(dataDir, env.WorkingDirectory);
        if (!Path.IsPathRooted(dataDir))
            yield return DoctorFinding.Warn(Name, $"data-dir \"{dataDir}\" is relative: it is resolved against the node's working directory (here {path}; under systemd, /)",
                "an absolute path, e.g. data-dir = \"/var/lib/timemesh\" (the unit's StateDirectory)");
        string? problem = WritableProblem(path);
        if (problem is null)
            yield return DoctorFinding.Ok(Name, Directory.Exists(path)
                ? $"data-dir {path} is writable by this user"
                : $"data-dir {path} does not exist yet; this user may create it");
        else
            yield return DoctorFinding.Fail(Name, $"data-dir {path} is not writable: {problem}",
                "create it for the service's user (systemd: StateDirectory=timemesh; docker: a volume owned by the image's user)");
    }

    /// <summary>Writes and deletes a probe file in the directory, or in its nearest existing parent when it does not exist yet.</summary>
    private static string? WritableProblem(string path)
    {
        string dir = path;
        while (!Directory.Exists(dir))
        {
            if (File.Exists(dir)) return $"{dir} is a file";
            string? parent = Path.GetDirectoryName(dir);
            if (parent is null) return "no existing parent directory";
            dir = parent;
        }
        string probe = Path.Combine(dir, $".timemesh-doctor-{Environment.ProcessId}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return dir == path ? e.Message : $"it does not exist and {dir} does not let this user create it ({e.Message})";
        }
    }

    /// <summary>The cluster address and its protection, as <c>timemesh run</c> judges them at start.</summary>
    private static DoctorFinding CheckTransport(Akka.Configuration.Config full, NodeIdentity identity, bool insecure)
    {
        bool tls = full.HasPath("timemesh.cluster-tls") && full.GetValue("timemesh.cluster-tls").IsObject();
        try
        {
            var transport = TimeMesh.Node.Mesh.ClusterTransport.From(identity, tls, insecure);
            return transport.Security == TimeMesh.Node.Mesh.ClusterSecurity.Insecure
                ? DoctorFinding.Warn(Name, "cluster " + transport.Describe() + ": anyone who reaches the cluster port can join the mesh and report time statuses",
                    "set up timemesh.cluster-tls (timemesh cert init; timemesh cert issue for each node; docs/security.md), then remove timemesh.mesh.insecure")
                : DoctorFinding.Ok(Name, "cluster " + transport.Describe());
        }
        catch (TimeMeshConfigException e)
        {
            return DoctorFinding.Fail(Name, e.Message + ": timemesh run refuses to start", $"correct {e.Key} (docs/security.md)");
        }
    }

    private static IEnumerable<DoctorFinding> CheckMesh(Akka.Configuration.Config full, NodeIdentity identity, Core.Mesh.MeshRole role)
    {
        var seeds = full.GetStringList("akka.cluster.seed-nodes", []);
        string self = identity.ClusterAddress;
        if (seeds.Count == 0)
        {
            yield return DoctorFinding.Warn(Name, "role is set but akka.cluster.seed-nodes is empty: the node never joins a mesh",
                "list the masters' cluster addresses, e.g. akka.cluster.seed-nodes = [\"akka.tcp://timemesh@10.0.0.1:4053\"]");
            yield break;
        }
        if (identity.Port == 0)
            yield return DoctorFinding.Warn(Name, "akka.remote.dot-netty.tcp.port is 0 (random): other nodes cannot list this one as a seed",
                "a fixed port, e.g. 4053");
        bool isSeed = seeds.Any(seed => seed.TrimEnd('/').Equals(self, StringComparison.OrdinalIgnoreCase));
        if (role == Core.Mesh.MeshRole.Master && !isSeed)
            yield return DoctorFinding.Warn(Name, $"this master ({self}) is not among the seed nodes [{string.Join(", ", seeds)}]: the mesh forms only while a listed seed runs",
                "list every master in akka.cluster.seed-nodes (the same list on every node)");
        else
            yield return DoctorFinding.Ok(Name, $"mesh: {role.ToString().ToLowerInvariant()} {self}, seeds [{string.Join(", ", seeds)}]");
    }
}
