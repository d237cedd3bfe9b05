using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using TimeMesh.Control;
using TimeMesh.Node.Control;

namespace TimeMesh.Cli.Commands;

/// <summary>chronyc's reports, read from a node's monitoring endpoint: sources, sourcestats, tracking, clients, serverstats, and our mesh.</summary>
public static class ReportCommands
{
    public static IEnumerable<Command> Build()
    {
        yield return Report("sources", "Show the node's time sources (chronyc sources).", ControlEndpoint.Paths.Sources,
            () => ControlJsonContext.Default.SourcesDto, ChronycFormat.Sources, verbose: true);
        yield return Report("sourcestats", "Show statistics of the node's time sources (chronyc sourcestats).", ControlEndpoint.Paths.SourceStats,
            () => ControlJsonContext.Default.SourceStatsListDto, ChronycFormat.SourceStats, verbose: true);
        yield return Report("tracking", "Show how the node's clock is doing (chronyc tracking).", ControlEndpoint.Paths.Tracking,
            () => ControlJsonContext.Default.TrackingDto, (r, _) => ChronycFormat.Tracking(r),
            ready: ("--require-synchronised", "Exit 1 unless the node is synchronised to a source (a readiness probe: a node serving leap 3 or its local clock is not ready).",
                r => r.Synchronised));
        yield return Report("ntpdata", "Show the last packet from each source and the exchange's counters (chronyc ntpdata).", ControlEndpoint.Paths.NtpData,
            () => ControlJsonContext.Default.NtpDataListDto, (r, _) => ChronycFormat.NtpData(r));
        yield return Report("clients", "Show the NTP clients the node has served (chronyc clients).", ControlEndpoint.Paths.Clients,
            () => ControlJsonContext.Default.ClientsDto, (r, _) => ChronycFormat.Clients(r));
        yield return Report("serverstats", "Show the node's NTP server counters (chronyc serverstats).", ControlEndpoint.Paths.ServerStats,
            () => ControlJsonContext.Default.ServerStatsDto, (r, _) => ChronycFormat.ServerStats(r));
        yield return Report("mesh", "Show the mesh: nodes, roles, reachability, stratum, the leader, who follows whom.", ControlEndpoint.Paths.Mesh,
            () => ControlJsonContext.Default.MeshDto, (r, _) => ChronycFormat.Mesh(r));
    }

    // The JSON type info is made when a report runs, not when the command line is built: building all seven took
    // 60-80 ms of every start, `timemesh run` included (docs/benchmark.md, start-up).
    private static Command Report<T>(string name, string description, string path, Func<JsonTypeInfo<T>> typeInfo,
        Func<T, bool, string> format, bool verbose = false, (string Name, string Description, Func<T, bool> Test)? ready = null)
    {
        var node = new Option<string?>("--node")
        {
            Description = $"The node's monitoring endpoint, HOST:PORT (its timemesh.control.listen). Default: the socket {ControlClient.DefaultSocket} when it is there, else {ControlClient.DefaultNode}.",
        };
        node.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } value && ControlClient.ValidateNode(value) is { } error) result.AddError(error);
        });
        var socket = new Option<string?>("--socket")
        {
            Description = $"The node's Unix socket (its timemesh.control.socket), e.g. {ControlClient.DefaultSocket}. clients and serverstats are served only there.",
        };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (the endpoint's own format) instead of text." };
        var command = new Command(name, description) { node, socket, json };
        Option<bool>? legend = null;
        Option<bool>? require = null;
        if (ready is { } r0)
        {
            require = new Option<bool>(r0.Name) { Description = r0.Description };
            command.Add(require);
        }
        if (verbose)
        {
            legend = new Option<bool>("--verbose", "-v") { Description = "Explain the columns, as chronyc -v does." };
            command.Add(legend);
        }
        command.SetAction(async (parse, cancel) =>
        {
            var output = parse.InvocationConfiguration.Output;
            try
            {
                var type = typeInfo();
                var (at, over) = ControlClient.Choose(parse.GetValue(node), parse.GetValue(socket));
                T report = await ControlClient.GetAsync(at, over, path, type, cancel);
                if (parse.GetValue(json)) await output.WriteLineAsync(JsonSerializer.Serialize(report, type));
                else await output.WriteAsync(format(report, legend is not null && parse.GetValue(legend)));
                await output.FlushAsync(cancel);
                return require is not null && parse.GetValue(require) && !ready!.Value.Test(report) ? Cli.ExitRuntimeError : Cli.ExitOk;
            }
            catch (ControlClientException e)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("timemesh: " + e.Message);
                return Cli.ExitRuntimeError;
            }
        });
        return command;
    }
}
