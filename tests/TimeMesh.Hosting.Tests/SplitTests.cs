using System.Reflection;
using TimeMesh.Hosting;
using TimeMesh.Node;
using TimeMesh.Node.Config;

namespace TimeMesh.Hosting.Tests;

/// <summary>
/// This test project references TimeMesh.Hosting only, as a member embed does: it carries neither TimeMesh.Control
/// (Kestrel, Akka.Management), TimeMesh.Nts (BouncyCastle) nor TimeMesh.Persistence.PostgreSql. What needs them fails when the config is read, naming the key and the
/// package; nothing of ASP.NET Core is referenced or loaded.
/// </summary>
public class SplitTests
{
    private static string DataDir() => Path.Combine(Path.GetTempPath(), "tm-split-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public void TheEmbedCarriesNoHttpPartAndReferencesNoAspNetCore()
    {
        string bin = AppContext.BaseDirectory;
        Assert.False(File.Exists(Path.Combine(bin, "TimeMesh.Control.dll")), "TimeMesh.Control.dll is in a TimeMesh.Hosting-only output");
        // Cluster Bootstrap and its discovery come with TimeMesh.Control only.
        foreach (string dll in new[] { "Akka.Management.dll", "Akka.Discovery.KubernetesApi.dll", "KubernetesClient.dll", "TimeMesh.Nts.dll", "BouncyCastle.Cryptography.dll" })
            Assert.False(File.Exists(Path.Combine(bin, dll)), $"{dll} is in a TimeMesh.Hosting-only output");
        foreach (var assembly in new[] { typeof(TimeMeshNode).Assembly, typeof(TimeMeshHostingExtensions).Assembly })
            Assert.DoesNotContain(assembly.GetReferencedAssemblies(), a => a.Name!.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        // The test host's runtimeconfig names the frameworks it runs on: no Microsoft.AspNetCore.App.
        string runtimeConfig = File.ReadAllText(Path.Combine(bin, Assembly.GetExecutingAssembly().GetName().Name + ".runtimeconfig.json"));
        Assert.DoesNotContain("Microsoft.AspNetCore.App", runtimeConfig);
    }

    [Theory]
    [InlineData("control.listen = \"127.0.0.1:0\"", "timemesh.control.listen = 127.0.0.1:0")]
    [InlineData("control { listen = off, socket = \"/tmp/timemesh.sock\" }", "timemesh.control.socket = /tmp/timemesh.sock")]
    public void AStandaloneNodeWithTheMonitoringEndpointNamesTheKeyAndThePackage(string control, string keyAndValue)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              local { stratum = 10 }
              data-dir = "{{DataDir()}}"
              {{control}}
            }
            """)));
        Assert.Contains(keyAndValue, e.Message);
        Assert.Contains("dotnet add package TimeMesh.Control", e.Message);
        Assert.Contains("timemesh.control = off", e.Message);
    }

    [Fact]
    public void AStandaloneNodeFormingThroughDiscoveryNamesTheKeyAndThePackage()
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              role = member
              listen = ["127.0.0.1:0"]
              data-dir = "{{DataDir()}}"
              control = off
              mesh.discovery { method = config, endpoints = ["127.0.0.1:18558", "127.0.0.2:18558"] }
            }
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            """)));
        Assert.Equal("timemesh.mesh.discovery.method", e.Key);
        Assert.Contains("timemesh.mesh.discovery.method = config", e.Message);
        Assert.Contains("dotnet add package TimeMesh.Control", e.Message);
    }

    /// <summary>
    /// Without Akka.Management its keys are not checked (its reference.conf is not there to check them against); the
    /// ones the node knows of its own still are. With the package (TimeMesh.Node.Tests) a misspelt one is named.
    /// </summary>
    [Fact]
    public void WithoutAkkaManagementItsKeysAreLeftAloneAndTheOthersStillChecked()
    {
        Assert.Null(ConfigKeys.Unknown("akka.management.http.port"));
        Assert.Null(ConfigKeys.Unknown("akka.management.cluster.bootstrap.contact-point-discovery.service-name"));
        Assert.Equal("akka.cluster.downing-provider-class", ConfigKeys.Unknown("akka.cluster.downing-provider-clas"));
        Assert.NotNull(ConfigKeys.Unknown("timemesh.lcoal"));
    }

    /// <summary>NTS's key exchange is TimeMesh.Nts's: each use of it is refused without the package, naming its key.</summary>
    [Theory]
    [InlineData("nts { enabled = on, listen = [\"127.0.0.1:0\"], certificate = \"{cert}\", key = \"{cert}\" }", "timemesh.nts.enabled = on", "timemesh.nts.enabled = off")]
    [InlineData("server = [ { address = \"127.0.0.1\", nts = on } ]", "timemesh.server[0].nts = on", "nts = off")]
    [InlineData("server = [ { address = \"127.0.0.1\" } ], pool = [ { address = \"localhost\", nts = on } ]", "timemesh.pool[0].nts = on", "nts = off")]
    public void NtsWithoutTheNtsPackageNamesTheKeyAndThePackage(string block, string keyAndValue, string otherwise)
    {
        // The NTS server's files must exist for its settings to be read this far (the key readable by its owner alone).
        string cert = Path.Combine(Directory.CreateTempSubdirectory("tm-split-nts").FullName, "server.pem");
        File.WriteAllText(cert, "not read: the package is missing first");
        File.SetUnixFileMode(cert, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshSettings.FromConfig(TimeMeshSettings.WithReference(
            Akka.Configuration.ConfigurationFactory.ParseString("timemesh { listen = [\"127.0.0.1:0\"], " + block.Replace("{cert}", cert) + " }"))));
        Assert.Contains(keyAndValue, e.Message);
        Assert.Contains("dotnet add package TimeMesh.Nts", e.Message);
        Assert.Contains(otherwise, e.Message);
    }
}
