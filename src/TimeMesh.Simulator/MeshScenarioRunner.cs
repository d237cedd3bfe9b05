using System.Net;
using TimeMesh.Core.Access;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;

namespace TimeMesh.Simulator;

/// <summary>A mesh scenario: two masters with their own upstream server, a member following them.</summary>
public sealed record MeshScenario
{
    public required string Id { get; init; }
    public required string Title { get; init; }
    public double DurationSeconds { get; init; } = 10_000;
    /// <summary>Master A (the initial leader) dies at this time (stops answering; its status stops).</summary>
    public double? MasterLossAtSeconds { get; init; }
    /// <summary>Both upstream servers are unreachable in this window.</summary>
    public (double From, double To)? UpstreamOutage { get; init; }
    /// <summary>How long the cluster takes to call a dead node unreachable.</summary>
    public double DetectionSeconds { get; init; } = 3;
    /// <summary>Max |member served − true| after sync.</summary>
    public double MaxMemberOffsetSeconds { get; init; } = 1e-3;
    /// <summary>Max spread of the live nodes' served times (the mesh's agreement with itself) after sync.</summary>
    public double MaxSpreadSeconds { get; init; } = 1e-3;
    public double SyncBySeconds { get; init; } = 300;
}

public sealed record MeshScenarioResult(
    MeshScenario Scenario,
    double MaxMemberOffsetSeconds,
    double RmsMemberOffsetSeconds,
    double MaxSpreadSeconds,
    int LeaderChanges,
    double? FailoverSeconds,
    IReadOnlyList<string> Failures)
{
    public bool Passed => Failures.Count == 0;
}

/// <summary>
/// Runs the mesh logic on virtual time: three nodes, each the core's <see cref="SyncEngine"/> on its own
/// simulated clock and the core's <see cref="NtpServerHandler"/> serving its disciplined time; the
/// election is the core's <see cref="LeaderElection"/>, fed once a second as the mesh actor feeds it;
/// who follows whom is the core's <see cref="MeshFollower"/> with the product's plan (<see cref="MeshFollowing.Plan"/>),
/// as the sync actor runs it: members poll both masters (leader preferred) and a master follows the leader only
/// without upstream. Packets take 100 µs + exponential 100 µs each way.
/// </summary>
public static class MeshScenarioRunner
{
    private const long Second = 1_000_000_000;
    private const long EpochNs = 1_767_225_600L * Second;

    private sealed class SimNode
    {
        public required string Name;
        public required MeshRole Role;
        public required SimClock Clock;
        public required SyncEngine Engine;
        public required NtpServerHandler Server;
        public required LeaderElection Election;
        /// <summary>Where the node serves NTP (only a name here: the simulator's link delivers by node).</summary>
        public required IPEndPoint Endpoint;
        public bool Alive = true;
        public double DiedAt = double.MaxValue;
        public bool Claims;
        public int? UpstreamSourceId;
        /// <summary>The masters it follows: the product's follower, applying the product's plan to this node's engine.</summary>
        public readonly MeshFollower Follower = new();
        public long Served(long now) => Engine.Correction.Apply(Clock.RawNs(now));
    }

    public static MeshScenarioResult Run(MeshScenario scenario, int seed = 1)
    {
        var random = new Random(seed);
        long now = EpochNs;
        var link = new SimLink();
        var clientAddress = IpAddress128.FromIPv4(0xC6336407);
        var settings = new SyncSettings();
        SimNode MakeNode(string name, MeshRole role, double offset, double ppm, int n) => new()
        {
            Name = name,
            Role = role,
            Clock = new SimClock(now, offset, ppm, 1e-9, new Random(seed * 31 + n)),
            Engine = new SyncEngine(settings, now + (long)(offset * Second), (ulong)(seed * 977 + n)),
            Server = new NtpServerHandler(new ClientLog(524288, null, (ulong)n)),
            Election = new LeaderElection(new ElectionSettings()),
            Endpoint = new IPEndPoint(IPAddress.Parse($"10.0.0.{n}"), 123),
        };
        var a = MakeNode("a", MeshRole.Master, 0.05, 40, 1);
        var b = MakeNode("b", MeshRole.Master, -0.08, -60, 2);
        var m = MakeNode("m", MeshRole.Member, 0.1, 100, 3);
        var nodes = new[] { a, b, m };
        var upstream = new NtpServerHandler(new ClientLog(524288, null, 9));
        var upstreamSnapshot = new ServerSnapshot
        {
            Reference = new ReferenceState { Kind = ReferenceKind.Synchronised, Leap = 0, Stratum = 1, ReferenceId = ReferenceIds.FromAscii("GPS"), ReferenceTimeUnixNs = EpochNs, RootDispersionSeconds = 1e-4 },
            Access = AccessList.FromSpecs(["all"], []),
            PrecisionLog2 = -24,
        };
        var upstreamTemplate = new SourceSettings { Address = "upstream", IBurst = true, MinPollLog2 = 4, MaxPollLog2 = 6 };
        a.UpstreamSourceId = a.Engine.AddSource(upstreamTemplate, 0x0A000001, a.Clock.RawNs(now));
        b.UpstreamSourceId = b.Engine.AddSource(upstreamTemplate, 0x0A000002, b.Clock.RawNs(now));

        // Which server answers a source: the upstream (null) or another node.
        var targets = new Dictionary<(string Node, int Source), SimNode?>
        {
            [(a.Name, a.UpstreamSourceId.Value)] = null,
            [(b.Name, b.UpstreamSourceId.Value)] = null,
        };

        ServerSnapshot SnapshotOf(SimNode n) => new()
        {
            Reference = n.Engine.Reference ?? ReferenceState.Local(10),
            Access = upstreamSnapshot.Access,
            PrecisionLog2 = -24,
        };

        bool UpstreamDown(double t) => scenario.UpstreamOutage is { } o && t >= o.From && t < o.To;

        // One exchange, delivered at once with simulated delays (nothing else happens in between at these scales).
        void Exchange(SimNode client, int sourceId, byte[] request, double t)
        {
            var target = targets[(client.Name, sourceId)];
            long t1 = now;
            client.Engine.RequestSent(sourceId, client.Clock.RawNs(t1));
            if (target is null ? UpstreamDown(t) : !target.Alive) return;
            long arrive = t1 + (long)(link.Delay(random) * Second);
            var reply = new byte[48];
            int length;
            if (target is null)
            {
                upstream.Handle(request, clientAddress, arrive, upstreamSnapshot, reply, out length);
                if (length > 0) NtpServerHandler.StampTransmitTime(reply, arrive + 1000);
            }
            else
            {
                long served = target.Served(arrive);
                target.Server.Handle(request, clientAddress, served, SnapshotOf(target), reply, out length);
                if (length > 0) NtpServerHandler.StampTransmitTime(reply, served + 1000);
            }
            if (length == 0) return;
            long back = arrive + 1000 + (long)(link.Delay(random) * Second);
            client.Clock.AdvanceTo(back);
            client.Engine.HandleReply(sourceId, reply, client.Clock.RawNs(back));
        }

        TimeStatus StatusOf(SimNode n) => new()
        {
            Node = n.Name,
            Role = n.Role,
            NtpEndpoint = n.Endpoint.ToString(),
            Stratum = (n.Engine.Reference ?? ReferenceState.Local(10)).Stratum,
            RootDistanceSeconds = n.Engine.Reference is { } r ? r.RootDelaySeconds / 2 + r.RootDispersionSeconds : 0,
            UpstreamSynchronised = n.Engine.Reference is not null && n.Engine.SelectedId == n.UpstreamSourceId,
            Serving = true,
            ReferenceId = (n.Engine.Reference ?? ReferenceState.Local(10)).ReferenceId,
            ClaimsLeadership = n.Claims,
        };

        string? lastLeader = null;
        int leaderChanges = 0;
        double? failover = null;
        double maxMember = 0, sumMember2 = 0, maxSpread = 0;
        long samples = 0;
        var request = new byte[48];
        for (long step = 1; step * 0.05 <= scenario.DurationSeconds; step++)
        {
            now = EpochNs + step * Second / 20; // 50 ms steps
            double t = (now - EpochNs) * 1e-9;
            foreach (var n in nodes) n.Clock.AdvanceTo(now);
            if (scenario.MasterLossAtSeconds is { } loss && t >= loss && a.Alive)
            {
                a.Alive = false;
                a.DiedAt = t;
            }
            foreach (var n in nodes.Where(n => n.Alive))
            {
                long raw = n.Clock.RawNs(now);
                while (n.Engine.TryPoll(raw, request, out int id)) Exchange(n, id, request, t);
            }

            if (step % 20 == 0)
            {
                // The mesh actor's second: statuses of the nodes the cluster still sees, then each node's election.
                var visible = nodes.Where(n => n.Alive || t - n.DiedAt < scenario.DetectionSeconds).Select(StatusOf).ToList();
                foreach (var n in nodes.Where(n => n.Alive))
                {
                    string? leaderName = n.Election.Elect(visible, now, n.Name);
                    n.Claims = n.Election.ShouldClaim;
                    var leader = nodes.FirstOrDefault(x => x.Name == leaderName);
                    // The product's follow policy and follower, with every node's config naming both masters (timemesh.mesh.masters).
                    var pinned = nodes.Where(x => x.Role == MeshRole.Master).Select(x => x.Endpoint).ToList();
                    var plan = n.Follower.Plan(n.Engine, n.Role, pinned, MeshFollowing.Advertised(visible, n.Name), leader?.Endpoint, n.Endpoint, n.Clock.RawNs(now));
                    n.Follower.Apply(n.Engine, plan, n.Clock.RawNs(now), added: (endpoint, id) => targets[(n.Name, id)] = nodes.First(x => x.Endpoint.Equals(endpoint)));
                }
                string? memberView = m.Election.Leader;
                if (memberView != lastLeader)
                {
                    if (lastLeader is not null) leaderChanges++;
                    if (lastLeader == "a" && !a.Alive) failover ??= t - a.DiedAt;
                    lastLeader = memberView;
                }

                if (t >= scenario.SyncBySeconds)
                {
                    double memberOffset = (m.Served(now) - now) * 1e-9;
                    maxMember = Math.Max(maxMember, Math.Abs(memberOffset));
                    sumMember2 += memberOffset * memberOffset;
                    samples++;
                    var live = nodes.Where(n => n.Alive).Select(n => n.Served(now)).ToList();
                    maxSpread = Math.Max(maxSpread, (live.Max() - live.Min()) * 1e-9);
                }
            }
        }

        var failures = new List<string>();
        if (maxMember > scenario.MaxMemberOffsetSeconds) failures.Add($"member max |offset| {maxMember * 1e6:0} µs > {scenario.MaxMemberOffsetSeconds * 1e6:0} µs");
        if (maxSpread > scenario.MaxSpreadSeconds) failures.Add($"mesh spread {maxSpread * 1e6:0} µs > {scenario.MaxSpreadSeconds * 1e6:0} µs");
        if (scenario.MasterLossAtSeconds is not null && failover is null) failures.Add("the member never left the dead master");
        return new MeshScenarioResult(scenario, maxMember, samples > 0 ? Math.Sqrt(sumMember2 / samples) : 0, maxSpread, leaderChanges, failover, failures);
    }

    public static IReadOnlyList<MeshScenario> All { get; } =
    [
        new MeshScenario
        {
            Id = "M01",
            Title = "leading master lost at t = 2000 s",
            DurationSeconds = 5_000,
            MasterLossAtSeconds = 2_000,
        },
        new MeshScenario
        {
            Id = "M02",
            Title = "both masters lose upstream for an hour (3000–6600 s)",
            DurationSeconds = 9_000,
            UpstreamOutage = (3_000, 6_600),
            MaxMemberOffsetSeconds = 0.1,
        },
    ];
}
