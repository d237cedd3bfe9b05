using System.CommandLine;
using TimeMesh.Cli;

return await Cli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
