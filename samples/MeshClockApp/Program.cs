// An Akka.Hosting application with its own cluster that adds TimeMesh and prints the mesh time with its
// error bound every second. Run two: a master that syncs to an NTP server and serves the mesh, and a
// member that only keeps the mesh clock (see samples/MeshClockApp/README.md).
using System.Globalization;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TimeMesh.Core.Mesh;
using TimeMesh.Hosting;
using TimeMesh.Node.Clock;

var arguments = Arguments.Parse(args);
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddMeshClock();
builder.Services.AddAkka("MeshClockApp", akka => akka
    .WithRemoting("127.0.0.1", arguments.ClusterPort)
    .WithClustering(new ClusterOptions { SeedNodes = [$"akka.tcp://MeshClockApp@127.0.0.1:{arguments.SeedPort}"] })
    .WithTimeMesh(arguments.Master
        ? new TimeMeshOptions
        {
            Role = MeshRole.Master,
            Servers = [new TimeMeshServer(arguments.UpstreamHost, arguments.UpstreamPort) { MinPollLog2 = 0, MaxPollLog2 = 2 }],
            NtpListen = [$"127.0.0.1:{arguments.NtpPort}"],
            Allow = ["127.0.0.0/8"],
        }
        : new TimeMeshOptions { Role = MeshRole.Member }));
builder.Services.AddHostedService<PrintMeshTime>();
await builder.Build().RunAsync();

/// <summary>Prints IMeshClock.Now() once a second.</summary>
internal sealed class PrintMeshTime(IMeshClock clock) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var t = clock.Now();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{t.Now:HH:mm:ss.fffffff} ± {t.ErrorBoundSeconds * 1e6,10:0.0} µs  [{t.Earliest:HH:mm:ss.fffffff}, {t.Latest:HH:mm:ss.fffffff}]  " +
                $"{(t.Synchronised ? "synchronised" : "UNSYNCHRONISED")}  stratum {t.Stratum}  leader {t.Leader ?? "-"}"));
        }
    }
}

/// <summary>
/// <c>--master --upstream 127.0.0.1:11200 --ntp-port 11133 --port 4053</c> or <c>--member --port 4054 --seed 4053</c>.
/// </summary>
internal sealed record Arguments(bool Master, int ClusterPort, int SeedPort, string UpstreamHost, int UpstreamPort, int NtpPort)
{
    public static Arguments Parse(string[] args)
    {
        string? Value(string name)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        bool master = args.Contains("--master");
        int port = int.Parse(Value("--port") ?? (master ? "4053" : "4054"), CultureInfo.InvariantCulture);
        int seed = int.Parse(Value("--seed") ?? "4053", CultureInfo.InvariantCulture);
        string upstream = Value("--upstream") ?? "127.0.0.1:11200";
        int colon = upstream.LastIndexOf(':');
        return new Arguments(master, port, master && Value("--seed") is null ? port : seed,
            upstream[..colon], int.Parse(upstream[(colon + 1)..], CultureInfo.InvariantCulture),
            int.Parse(Value("--ntp-port") ?? "11133", CultureInfo.InvariantCulture));
    }
}
