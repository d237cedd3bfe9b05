using Akka.Actor;
using Akka.TestKit.Xunit2;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Sync;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

/// <summary>
/// Requests to a real chronyd take T1 from the kernel's transmit timestamp; with
/// <c>kernel-tx-timestamps = off</c> they fall back to the user-space reading, and tracking says which.
/// </summary>
[Collection(ProcessTests.Name)]
public class TransmitTimestampSyncTests : TestKit
{
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public TransmitTimestampSyncTests(Xunit.Abstractions.ITestOutputHelper output) : base(output: output) => _output = output;

    private static UpstreamSettings Upstream(int port, bool kernelStamps) => TimeMeshSettings.FromConfig(
        Akka.Configuration.ConfigurationFactory.ParseString($$"""
            timemesh {
              listen = ["127.0.0.1:0"]
              server = [ { address = "127.0.0.1", port = {{port}}, iburst = on, minpoll = 0, maxpoll = 1 } ]
              kernel-tx-timestamps = {{(kernelStamps ? "on" : "off")}}
              data-dir = "{{Path.Combine(Path.GetTempPath(), "tm-txts-" + Guid.NewGuid().ToString("N")[..8])}}"
            }
            """)).Upstream;

    private static async Task<SyncProtocol.Tracking> AwaitSynchronisedWithRequests(IActorRef sync, int requests)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        SyncProtocol.Tracking t;
        do
        {
            await Task.Delay(250);
            t = await sync.Ask<SyncProtocol.Tracking>(SyncProtocol.GetTracking.Instance, TimeSpan.FromSeconds(5));
        }
        while (DateTime.UtcNow < deadline && !(t.Report.Synchronised && t.Transmit is { } tx && tx.Kernel + tx.UserSpace >= requests));
        Assert.True(t.Report.Synchronised, "not synchronised: " + t.Report.NotSynchronisedReason);
        return t;
    }

    [Fact]
    public async Task Requests_to_chronyd_carry_kernel_transmit_timestamps_and_tracking_says_so()
    {
        int port = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", port);
        var settings = Upstream(port, kernelStamps: true);
        Assert.True(settings.KernelTransmitTimestamps);
        var sync = Sys.ActorOf(SyncActor.Props(settings, DisciplinedClock.System(), CreateTestProbe().Ref, -20, null));

        var t = await AwaitSynchronisedWithRequests(sync, 6);
        var tx = t.Transmit!;
        _output.WriteLine($"kernel {tx.Kernel}, user-space {tx.UserSpace}, last offset {t.Report.LastOffsetSeconds * 1e6:0.0} µs");
        Assert.Equal("kernel", tx.InUse);
        Assert.Equal(0, tx.UserSpace);
        Assert.True(tx.Kernel >= 6);
        // With both ends on one clock the measured offset is small (generous: a busy 2-core machine).
        Assert.True(Math.Abs(t.Report.LastOffsetSeconds) < 1e-3, $"last offset {t.Report.LastOffsetSeconds * 1e6:0.0} µs");

    }

    [Fact]
    public async Task With_kernel_stamps_off_requests_fall_back_to_the_user_space_reading_visibly()
    {
        int port = Chrony.FreeUdpPort();
        using var upstream = Chrony.StartServer("127.0.0.1", port);
        var settings = Upstream(port, kernelStamps: false);
        Assert.False(settings.KernelTransmitTimestamps);
        var sync = Sys.ActorOf(SyncActor.Props(settings, DisciplinedClock.System(), CreateTestProbe().Ref, -20, null));

        var t = await AwaitSynchronisedWithRequests(sync, 4);
        var tx = t.Transmit!;
        Assert.Equal("user-space", tx.InUse);
        Assert.Equal(0, tx.Kernel);
        Assert.True(tx.UserSpace >= 4);
    }
}
