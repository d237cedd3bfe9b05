using Akka.Event;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Tests;

/// <summary>The cluster port's garbage connections become bounded one-line warnings; every other event passes as it was.</summary>
public class BadConnectionLogTests
{
    // Named as Akka.Remote's DotNetty handler that logs the error; the log's class is what the rule keys on.
    private sealed class TcpServerHandler;

    private static Error Garbage(int i) => new(new DotNetty.Codecs.TooLongFrameException($"Adjusted frame length exceeds 128000: {1711585609 + i} - discarded"),
        "TcpServerHandler (akka://timemesh)", typeof(TcpServerHandler), $"Error caught channel [[::ffff:127.0.0.1]:4053->[::ffff:127.0.0.1]:{50000 + i}](Id=1)");

    [Fact]
    public void Garbage_is_logged_five_times_a_minute_as_one_line_and_the_rest_is_counted()
    {
        long now = 0;
        var log = new BadConnectionLog(() => now);
        var shown = Enumerable.Range(0, 100).Select(i => log.Rewrite(Garbage(i))).Where(e => e is not null).ToList();
        Assert.Equal(BadConnectionLog.LinesPerWindow, shown.Count);
        Assert.All(shown, e =>
        {
            Assert.IsType<Warning>(e);
            string text = e!.ToString();
            Assert.DoesNotContain("\n", text);
            Assert.Contains("cluster port: closed a connection that is not Akka.Remote traffic", text);
            Assert.Contains("TooLongFrameException: Adjusted frame length exceeds 128000", text);
        });
        now += (long)BadConnectionLog.Window.TotalMilliseconds;
        var next = log.Rewrite(Garbage(100));
        Assert.Contains("95 more since the last one were not logged", next!.ToString());
        Assert.Equal(101, log.Total);
    }

    [Fact]
    public void Other_errors_pass_unchanged()
    {
        var log = new BadConnectionLog(() => 0);
        for (int i = 0; i < 20; i++) log.Rewrite(Garbage(i));
        // The same handler with another cause (a peer that reset the connection), and another source with a codec error.
        var reset = new Error(new System.Net.Sockets.SocketException(104), "TcpServerHandler (akka://timemesh)", typeof(TcpServerHandler), "Error caught channel");
        var other = new Error(new DotNetty.Codecs.DecoderException("x"), "Other", typeof(BadConnectionLogTests), "decoding failed");
        var info = new Info("Cluster", typeof(BadConnectionLogTests), "Member is Up");
        Assert.Same(reset, log.Rewrite(reset));
        Assert.Same(other, log.Rewrite(other));
        Assert.Same(info, log.Rewrite(info));
    }
}
