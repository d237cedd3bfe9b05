using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using System.Security.Cryptography.X509Certificates;
using TimeMesh.Core.Mesh;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Chaos;

/// <summary>
/// <c>TimeMesh.Chaos forge …</c>: the attack of issue 18 as a process of its own. An Akka.NET actor system with
/// <c>provider = remote</c> (no cluster, never a member) tells forged <see cref="TimeStatus"/> messages straight
/// to the mesh actor (<c>/user/mesh</c>) of each target node: stratum 1, synchronised, claiming leadership, with
/// node names that are the forger's own address, another node's address, or long junk. Over cluster TLS it
/// presents the certificate it is given (or none: plain TCP). It first asks each target's mesh actor to identify
/// itself, so its output says whether it reached the node at all, and prints one summary line per target:
/// <c>forge: TARGET reached=yes|no sent=N</c>, then <c>forge: done …</c>. Used by the chaos suite's
/// <c>forged-status</c> fault and by the node's attack tests (tests/TimeMesh.Node.Tests/MeshAttackTests.cs).
/// </summary>
internal static class Forger
{
    public const string Usage = """
        usage: TimeMesh.Chaos forge --bind IP --target AKKA-ADDRESS [--target …]
                                    [--name self|long:N|AKKA-ADDRESS …] [--ntp IP:PORT]
                                    [--count N] [--seconds S] [--rate R]
                                    [--certificate node.pem --key node-key.pem --ca ca.pem]
          --target    a node's cluster address, e.g. akka.ssl.tcp://timemesh@10.0.0.11:4053 (its /user/mesh is told)
          --name      what the forged statuses call their node, cycled: self (the forger's own address),
                      long:N (N junk characters, a new name each time), or an address (impersonation); default self
          --ntp       the NTP endpoint the statuses advertise (default the forger's address, port 123)
          --count     statuses per target (default 1000); --seconds: stop after S seconds (default 60)
          --rate      statuses per second over all targets (default 2000)
          --sender-of AKKA-ADDRESS  send with that node's mesh actor as the message's sender (Akka.Remote carries
                      the sender as a path the receiver does not check against the connection)
          --certificate/--key/--ca  PEM files: the forger speaks TLS (akka.ssl.tcp) with this certificate
          --sign      sign each status with the forger's own key and certificate (as a TLS node signs its statuses)
          --present PEM  with --sign: attach this certificate (e.g. the impersonated node's) instead of the forger's own
        """;

    public static int Run(string[] args)
    {
        string? bind = null, ntp = null, certificate = null, key = null, ca = null, senderOf = null, present = null;
        bool sign = false;
        var targets = new List<string>();
        var names = new List<string>();
        int count = 1000;
        double seconds = 60, rate = 2000;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                switch (a)
                {
                    case "-h" or "--help":
                        Console.WriteLine(Usage);
                        return 0;
                    case "--bind": bind = Next(); break;
                    case "--target": targets.Add(Next().TrimEnd('/')); break;
                    case "--name": names.Add(Next()); break;
                    case "--ntp": ntp = Next(); break;
                    case "--count": count = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--rate": rate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--certificate": certificate = Next(); break;
                    case "--key": key = Next(); break;
                    case "--ca": ca = Next(); break;
                    case "--sender-of": senderOf = Next().TrimEnd('/'); break;
                    case "--sign": sign = true; break;
                    case "--present": present = Next(); break;
                    default: throw new ArgumentException($"unknown argument {a}");
                }
            }
            if (bind is null || targets.Count == 0) throw new ArgumentException("--bind and at least one --target are needed");
            if ((certificate is null) != (ca is null) || (certificate is null) != (key is null)) throw new ArgumentException("--certificate, --key and --ca go together");
            if ((sign || present is not null) && certificate is null) throw new ArgumentException("--sign and --present need --certificate, --key and --ca");
            if (present is not null && !sign) throw new ArgumentException("--present goes with --sign");
            if (count < 0 || seconds <= 0 || rate <= 0) throw new ArgumentException("--count ≥ 0, --seconds > 0, --rate > 0");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"forge: {e.Message}\n\n{Usage}");
            return 2;
        }
        if (names.Count == 0) names.Add("self");
        ntp ??= $"{bind}:123";
        bool tls = certificate is not null;

        var config = ConfigurationFactory.ParseString($$"""
            akka {
              loglevel = WARNING
              stdout-loglevel = WARNING
              actor.provider = remote
              remote.dot-netty.tcp { hostname = "{{bind}}", port = 0 }
              remote.log-remote-lifecycle-events = off
            }
            {{(tls ? ClusterTlsSettings.Hocon : "")}}
            """).WithFallback(ConfigurationFactory.ParseString(TimeMesh.Node.TimeMeshNode.EmbeddedMeshHocon.Replace("provider = cluster", "provider = remote")));
        var bootstrap = BootstrapSetup.Create().WithConfig(config);
        ActorSystemSetup setup = tls
            ? bootstrap.And(new ClusterTlsSettings(certificate!, "", ca!) { KeyPath = key }.ToSetup())
            : ActorSystemSetup.Create(bootstrap);
        using var system = ActorSystem.Create("forger", setup);
        string self = ((ExtendedActorSystem)system).Provider.DefaultAddress.ToString();
        Console.WriteLine($"forge: running as {self} ({(tls ? "TLS with " + Path.GetFileName(certificate) : "plain TCP, no certificate")}), {targets.Count} target(s), names {string.Join(' ', names)}");

        using var signing = sign ? StatusSigning.FromSettings(new ClusterTlsSettings(certificate!, "", ca!) { KeyPath = key }) : null;
        byte[]? presented = present is null ? null : X509Certificate2.CreateFromPem(File.ReadAllText(present)).RawData;
        if (sign) Console.WriteLine($"forge: signing with {Path.GetFileName(certificate)}'s key{(present is null ? "" : ", presenting " + Path.GetFileName(present))}");

        var reached = new Dictionary<string, bool>();
        foreach (string target in targets)
        {
            var selection = system.ActorSelection(target + "/user/mesh");
            bool ok;
            try
            {
                var identity = selection.Ask<ActorIdentity>(new Identify(target), TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
                ok = identity.Subject is not null;
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                ok = false;
            }
            reached[target] = ok;
        }

        Console.WriteLine($"forge: sending ({string.Join(", ", reached.Select(r => $"{r.Key} {(r.Value ? "reached" : "not reached")}"))})");
        var random = new Random(18);
        long sentTotal = 0;
        var sent = targets.ToDictionary(t => t, _ => 0L);
        var watch = Stopwatch.StartNew();
        var selections = targets.Select(t => (Target: t, Selection: system.ActorSelection(t + "/user/mesh"))).ToList();
        // A sender that exists: the node sees this address as the status's sender; or another node's mesh actor.
        IActorRef sender = system.ActorOf(Props.Empty, "forger");
        if (senderOf is not null)
        {
            try
            {
                var identity = system.ActorSelection(senderOf + "/user/mesh").Ask<ActorIdentity>(new Identify(senderOf), TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
                if (identity.Subject is { } other) sender = other;
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
            }
            Console.WriteLine($"forge: sending as {sender.Path}");
        }
        for (int k = 0; k < count && watch.Elapsed.TotalSeconds < seconds; k++)
        {
            string name = names[k % names.Count] switch
            {
                "self" => self,
                var n when n.StartsWith("long:", StringComparison.Ordinal) => "akka.tcp://x@" + RandomText(random, int.Parse(n[5..], CultureInfo.InvariantCulture)),
                var n => n,
            };
            var status = new TimeStatus
            {
                Node = name,
                Role = MeshRole.Master,
                NtpEndpoint = ntp,
                Stratum = 1,
                RootDistanceSeconds = 1e-6,
                UpstreamSynchronised = true,
                Serving = true,
                ReferenceId = 1,
                SynchronisedSinceUnixNs = 1,
                ClaimsLeadership = true,
                SentUnixNs = DateTime.UtcNow.Ticks * 100 - DateTime.UnixEpoch.Ticks * 100,
            };
            object message = status;
            if (signing is not null)
            {
                var signed = signing.Sign(status, incarnation: 0, sequence: k + 1);
                message = presented is null ? signed : signed with { Certificate = presented };
            }
            foreach (var (target, selection) in selections)
            {
                selection.Tell(message, sender);
                sent[target]++;
                sentTotal++;
            }
            // Paced: at most `rate` statuses a second over all targets.
            double ahead = sentTotal / rate - watch.Elapsed.TotalSeconds;
            if (ahead > 0.01) Thread.Sleep(TimeSpan.FromSeconds(ahead));
        }
        // Let the transport drain before the system stops.
        Thread.Sleep(2000);
        foreach (string target in targets)
            Console.WriteLine($"forge: {target} reached={(reached[target] ? "yes" : "no")} sent={sent[target]}");
        Console.WriteLine($"forge: done: {sentTotal} statuses in {watch.Elapsed.TotalSeconds:0.0} s");
        system.Terminate().Wait(TimeSpan.FromSeconds(10));
        return 0;
    }

    private static string RandomText(Random random, int length)
    {
        const string letters = "abcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(length, random, (span, r) =>
        {
            for (int i = 0; i < span.Length; i++) span[i] = letters[r.Next(letters.Length)];
        });
    }
}
