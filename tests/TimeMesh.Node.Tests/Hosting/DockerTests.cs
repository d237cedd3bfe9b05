using System.Diagnostics;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Tests.Hosting;

/// <summary>
/// docker/: the image's command run outside Docker by tests/docker/check.sh (namespaces wired like
/// compose.yaml), and the docker configs kept equal to hocon/'s except for addresses and persistence.
/// </summary>
[Collection(ProcessTests.Name)]
public class DockerTests
{
    private static string Repo => ExecutableTests.RepoRoot();

    [Fact]
    public async Task TheImagesCommandRunsTheComposeMeshOutsideDocker()
    {
        var info = new ProcessStartInfo("bash") { ArgumentList = { Path.Combine(Repo, "tests", "docker", "check.sh") }, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = await p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(600_000), "check.sh did not finish in 10 minutes");
        string output = stdout + await stderr;
        Assert.True(p.ExitCode == 0, output);
        foreach (string expected in new[]
                 {
                     "ok: compose.yaml parses",
                     "ok: master-a synchronised to host.docker.internal and serves stratum 2",
                     "ok: master-b synchronised to host.docker.internal and serves stratum 2",
                     "serves stratum 3",
                     "ok: start-up, synchronisation and leader lines are in the logs",
                     "ok: healthcheck passes in member",
                     "ok: every node runs as uid 1654",
                     "ok: master-a stopped on SIGTERM with exit 0",
                     "ok: PostgreSQL holds the drift state of every node",
                 })
            Assert.Contains(expected, output);
        Assert.EndsWith("docker check passed", stdout.TrimEnd());
    }

    [Theory]
    [InlineData("master-a")]
    [InlineData("master-b")]
    [InlineData("member")]
    public void TheDockerConfigIsTheHoconConfigWithOtherAddressesAndPersistence(string node)
    {
        var local = TimeMeshSettings.LoadFile(Path.Combine(Repo, "hocon", node + ".hocon"));
        var docker = TimeMeshSettings.LoadFile(Path.Combine(Repo, "docker", node + ".hocon"));
        var l = TimeMeshSettings.FromConfig(local);
        var d = TimeMeshSettings.FromConfig(docker);

        // The compose network is a LAN: the cluster transport there needs TLS or the stated override (issue 18).
        Assert.True(d.Mesh!.Insecure || docker.HasPath("timemesh.cluster-tls"), "a docker mesh config must protect its cluster transport");
        Assert.Equal(l.Mesh! with { Masters = d.Mesh.Masters, Insecure = d.Mesh.Insecure }, d.Mesh);
        Assert.Equal(l.Mesh.Masters.Count, d.Mesh.Masters.Count);
        Assert.All(d.Mesh.Masters, m => Assert.Equal(123, m.Port));
        Assert.Equal(l.Local, d.Local);
        Assert.Equal(l.RateLimit, d.RateLimit);
        Assert.Equal(l.Upstream.Clock, d.Upstream.Clock);
        Assert.Equal(l.Upstream.Sync, d.Upstream.Sync);
        Assert.Equal(l.Upstream.Servers.Count, d.Upstream.Servers.Count);
        foreach (var (a, b) in l.Upstream.Servers.Zip(d.Upstream.Servers))
            Assert.Equal(a with { Address = b.Address, Port = b.Port }, b);
        Assert.Equal(l.Listen.Count, d.Listen.Count);
        Assert.Equal(local.GetStringList("akka.cluster.seed-nodes").Count, docker.GetStringList("akka.cluster.seed-nodes").Count);

        // What differs: the container's paths and addresses, and the compose file's PostgreSQL.
        Assert.Equal("/var/lib/timemesh", d.DataDir);
        Assert.All(d.Listen, e => Assert.Equal(123, e.Port));
        Assert.Equal(Node.Persistence.PersistenceProvider.PostgreSql, Node.Persistence.PersistenceSettings.FromConfig(docker).Provider);
    }
}
