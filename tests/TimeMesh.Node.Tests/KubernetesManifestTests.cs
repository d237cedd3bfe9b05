using System.Diagnostics;
using TimeMesh.Node.Config;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Tests;

/// <summary>
/// deploy/kubernetes checked as far as this machine allows (no cluster): tests/kubernetes/check_manifests.py parses
/// every YAML document and checks kinds, required fields, selectors, ports and references; the node configs in the
/// ConfigMap then go through TimeMesh's own settings parser, with and without the pod's POD_IP.
/// </summary>
public class KubernetesManifestTests
{
    private static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TimeMesh.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("TimeMesh.sln not found above " + AppContext.BaseDirectory);
        }
    }

    private static string CheckManifests()
    {
        string outDir = Directory.CreateTempSubdirectory("timemesh-k8s").FullName;
        var info = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(RepoRoot, "tests", "kubernetes", "check_manifests.py"), Path.Combine(RepoRoot, "deploy", "kubernetes"), outDir })
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "check_manifests.py did not finish");
        Assert.True(p.ExitCode == 0, $"check_manifests.py (exit {p.ExitCode}):\n{stdout}{stderr}");
        Assert.StartsWith("ok: ", stdout);
        return outDir;
    }

    [Fact]
    public void ManifestsParseAndHangTogether() => CheckManifests();

    [Theory]
    [InlineData("master.hocon", Core.Mesh.MeshRole.Master)]
    [InlineData("member.hocon", Core.Mesh.MeshRole.Member)]
    public void TheConfigMapsNodeConfigsPassTimeMeshsOwnParser(string file, Core.Mesh.MeshRole role)
    {
        // As the container's command does: @POD_IP@ replaced by the pod's IP (downward API).
        string text = File.ReadAllText(Path.Combine(CheckManifests(), file));
        Assert.Contains("@POD_IP@", text);
        text = text.Replace("@POD_IP@", "10.244.1.7").Replace("@POD_NAME@", "timemesh-master-0");
        {
            var settings = TimeMeshSettings.FromConfig(TimeMeshSettings.WithReference(HoconText.Parse(text, file, HoconText.DefaultLimit)));
            Assert.Equal(role, settings.Mesh!.Role);
            Assert.Equal(DiscoveryMethod.Kubernetes, settings.Mesh.Discovery.Method);
            Assert.Equal("10.244.1.7", settings.Mesh.Discovery.ManagementHostname);
            Assert.Equal(8558, settings.Mesh.Discovery.ManagementPort);
            Assert.Equal("management", settings.Mesh.Discovery.PortName);
            Assert.Equal(["timemesh-master.timemesh.svc.cluster.local:123"], settings.Mesh.Masters.Select(m => m.ToString()));
            Assert.Equal("0.0.0.0:123", settings.Listen.Single().ToString());
            var akka = settings.Mesh.Discovery.ToAkkaConfig();
            Assert.Equal("kubernetes-api", akka.GetString("akka.discovery.method"));
            Assert.Equal("app={0}", akka.GetString("akka.discovery.kubernetes-api.pod-label-selector"));
            if (role == Core.Mesh.MeshRole.Master) Assert.Equal(2, settings.Upstream.Servers.Count);
            // Issue 18 step 2: the pod network is a LAN, so the cluster runs over TLS, with the pod's certificate.
            var full = TimeMeshSettings.WithReference(HoconText.Parse(text, file, HoconText.DefaultLimit));
            Assert.False(settings.Mesh.Insecure);
            Assert.Equal("/tmp/tls/node.pfx", full.GetString("timemesh.cluster-tls.certificate"));
            var transport = TimeMesh.Node.Mesh.ClusterTransport.FromConfig(full, tls: true, insecure: false);
            Assert.Equal(TimeMesh.Node.Mesh.ClusterSecurity.Tls, transport.Security);
            Assert.Equal("10.244.1.7", transport.BindHost);
            // A master is dialled by the DNS name its certificate names; a member by its pod IP.
            Assert.Equal(role == Core.Mesh.MeshRole.Master ? "timemesh-master-0.timemesh-master.timemesh.svc.cluster.local" : "10.244.1.7", transport.PublicHost);
        }
    }
}
