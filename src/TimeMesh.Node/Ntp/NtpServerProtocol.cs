using System.Net;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;

namespace TimeMesh.Node.Ntp;

/// <summary>The NTP server actor's protocol (<see cref="NtpServerActor"/>).</summary>
public static class NtpServerProtocol
{
    /// <summary>The reference state changed: answer from it from the next batch on.</summary>
    public sealed record ReferenceChanged(ReferenceState Reference);

    /// <summary>Asks for the packet counters; the answer is a <see cref="ServerStats"/>.</summary>
    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    /// <summary>Asks for the client table; the answer is a <see cref="Clients"/>.</summary>
    public sealed record GetClients
    {
        public static readonly GetClients Instance = new();
    }

    public sealed record Clients(IReadOnlyList<ClientLog.ClientEntry> Entries, long NowUnixNs);

    /// <summary>Asks where the server listens; the answer is a <see cref="Listening"/>.</summary>
    public sealed record GetListening
    {
        public static readonly GetListening Instance = new();
    }

    public sealed record Listening(IReadOnlyList<IPEndPoint> Endpoints, int Loops, int ReceiveBufferBytes, bool KernelTimestamps);

    /// <summary>Asks for the snapshot the loops answer from now.</summary>
    public sealed record GetSnapshot
    {
        public static readonly GetSnapshot Instance = new();
    }

    internal sealed record LoopFailed(UdpServerLoop Loop, Exception Cause);

    internal sealed record RestartLoop(int Index);
}
