using System.Globalization;
using TimeMesh.LoadGen;

Options options;
try
{
    options = Options.Parse(args);
}
catch (HelpRequested)
{
    Console.WriteLine(Options.Usage);
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"timemesh-loadgen: {e.Message}");
    Console.Error.WriteLine(Options.Usage);
    return 2;
}

if (options.Probe)
    return Prober.Run(options);
if (options.Respond)
    return Responder.Run(options);

LoadResult r;
using (var runner = new LoadRunner(options))
    r = runner.Run();

var c = CultureInfo.InvariantCulture;
string label = options.Label is null ? "" : $"\"label\":\"{options.Label}\",";
Console.WriteLine(string.Create(c,
    $"{{{label}\"target\":\"{options.Target}\",\"window\":{options.Window},\"duration_s\":{r.MeasuredSeconds:F3}," +
    $"\"sent\":{r.Sent},\"answered\":{r.Answered},\"invalid\":{r.Invalid},\"late\":{r.Late},\"lost\":{r.Lost}," +
    $"\"loss_pct\":{r.LossPercent:F4},\"responses_per_s\":{r.ResponsesPerSecond:F0}," +
    $"\"p50_us\":{r.P50Us:F1},\"p99_us\":{r.P99Us:F1},\"p999_us\":{r.P999Us:F1},\"max_us\":{r.MaxUs:F1},\"send_failures\":{r.SendFailures}," +
    $"\"tx_per_call\":{r.SentPerCall:F1},\"rx_per_call\":{r.ReceivedPerCall:F1}," +
    $"\"cpu_s\":{System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:F3}}}"));
Console.WriteLine(string.Create(c,
    $"{options.Label ?? options.Target.ToString()} window {options.Window}: sent {r.Sent}, answered {r.Answered}, invalid {r.Invalid}, " +
    $"lost {r.Lost} ({r.LossPercent:F3} %), {r.ResponsesPerSecond:F0} responses/s, p50 {r.P50Us:F1} µs, p99 {r.P99Us:F1} µs"));
return r.Answered > 0 ? 0 : 1;
