using System.Reflection;
using TimeMesh.Hosting;
using TimeMesh.Node;
using TimeMesh.Node.Config;

namespace TimeMesh.Hosting.Tests;

/// <summary>
/// This test project references TimeMesh.Hosting only, as a member embed does: it carries neither TimeMesh.Control
/// (Kestrel) nor TimeMesh.Persistence.PostgreSql. What needs them fails when the config is read, naming the key and the
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
}
