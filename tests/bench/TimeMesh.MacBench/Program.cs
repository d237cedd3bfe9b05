// Measures the server handler's CPU time per request (Handle + FinishReply, what the receive loop runs per
// datagram besides the socket calls), without a MAC and under each key type. CPU time of this thread,
// not wall time, so that other work on a shared machine disturbs the figures less. Usage:
//   timemesh-macbench [--requests N] [--rounds R]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using TimeMesh.Core.Access;
using TimeMesh.Core.Auth;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;

int requests = 1_000_000, rounds = 5;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--requests": requests = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}

var keys = new KeyRing(Enum.GetValues<MacAlgorithm>().Where(MacAlgorithms.IsSupported).Select((a, i) =>
    new SymmetricKey((uint)i + 1, a, new byte[MacAlgorithms.RequiredKeyLength(a) is > 0 and var n ? n : 20])));
var handler = new NtpServerHandler(new ClientLog(524288, null, 1)) { Keys = keys };
var snapshot = new ServerSnapshot
{
    Reference = ReferenceState.Local(1),
    Access = AccessList.FromSpecs(["127.0.0.0/8"], []),
    PrecisionLog2 = -24,
};
var client = IpAddress128.FromIPAddress(IPAddress.Loopback);

byte[] Request(SymmetricKey? key)
{
    var bytes = new byte[NtpPacket.MaxLength];
    new NtpHeader(0, 4, NtpMode.Client, 0, 6, 0x20, NtpShort.Zero, NtpShort.Zero, 0,
        NtpTimestamp.Zero, NtpTimestamp.Zero, NtpTimestamp.Zero, new NtpTimestamp(0x676dc43d1546ea7c)).Write(bytes);
    return bytes[..(key is null ? 48 : NtpMac.Append(bytes, 48, key, 4))];
}

var cases = new List<(string Name, byte[] Request)> { ("no MAC", Request(null)) };
cases.AddRange(keys.Keys.Select(k => (MacAlgorithms.Name(k.Algorithm), Request(k))));
var reply = new byte[2048];
long now = 1_795_490_474L * 1_000_000_000;

double Run(byte[] request, int count)
{
    long cpu0 = ThreadCpuNs();
    for (int i = 0; i < count; i++)
    {
        var verdict = handler.Handle(request, client, now + i, snapshot, reply, out int length);
        handler.FinishReply(verdict, reply, length, now + i + 1000);
        if (length == 0) throw new InvalidOperationException("not answered");
    }
    return (ThreadCpuNs() - cpu0) / (double)count;
}

foreach (var (_, request) in cases) Run(request, 50_000); // warm up past tiering
Console.WriteLine($"| request | ns CPU per request (median of {rounds}) | min | max |");
Console.WriteLine("|---|---:|---:|---:|");
foreach (var (name, request) in cases)
{
    var samples = Enumerable.Range(0, rounds).Select(_ => Run(request, requests)).OrderBy(x => x).ToArray();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} ({request.Length} B) | {samples[rounds / 2]:0} | {samples[0]:0} | {samples[^1]:0} |"));
}
return 0;

static long ThreadCpuNs()
{
    Span<long> ts = stackalloc long[2];
    if (ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, ref MemoryMarshal.GetReference(ts)) != 0) throw new InvalidOperationException("clock_gettime failed");
    return ts[0] * 1_000_000_000 + ts[1];
}

[DllImport("libc", EntryPoint = "clock_gettime")]
static extern int ClockGetTime(int clock, ref long timespec);
