using TimeMesh.Node.Config;

namespace TimeMesh.Node.Tests.Control;

public class ControlSettingsTests
{
    private static TimeMeshSettings Parse(string body) =>
        TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}"));

    [Fact]
    public void TheDefaultIsLoopbackPort11130()
    {
        var control = Parse("").Control;
        Assert.True(control.Enabled);
        Assert.Equal("127.0.0.1:11130", control.Listen!.ToString());
    }

    [Theory]
    [InlineData("control.listen = \"[::1]:11130\"", "[::1]:11130")]
    [InlineData("control.listen = \"127.0.0.1:0\"", "127.0.0.1:0")]
    [InlineData("control { listen = \"0.0.0.0:9100\" }", "0.0.0.0:9100")]
    public void AddressesAreParsed(string body, string expected) => Assert.Equal(expected, Parse(body).Control.Listen!.ToString());

    [Theory]
    [InlineData("control.listen = off")]
    [InlineData("control.listen = \"off\"")]
    [InlineData("control.listen = \"\"")]
    [InlineData("control = off")]
    public void OffOrEmptyTurnsItOff(string body)
    {
        var control = Parse(body).Control;
        Assert.False(control.Enabled);
        Assert.Null(control.Listen);
    }

    [Theory]
    [InlineData("control = on")]
    [InlineData("control = \"127.0.0.1:11130\"")]
    public void AnythingButOffInPlaceOfTheBlockIsRefused(string body)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal("timemesh.control", e.Key);
    }

    [Theory]
    [InlineData("control.listen = \"127.0.0.1\"", "127.0.0.1")]
    [InlineData("control.listen = \"::1:11130\"", "::1:11130")]
    [InlineData("control.listen = \"[::1]\"", "[::1]")]
    [InlineData("control.listen = \"localhost:11130\"", "localhost:11130")]
    [InlineData("control.listen = \"127.0.0.1:70000\"", "127.0.0.1:70000")]
    [InlineData("control.listen = { a = 1 }", "{...}")]
    public void BadValuesNameKeyValueAndWhatIsAllowed(string body, string value)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Equal("timemesh.control.listen", e.Key);
        Assert.Equal(value, e.Value);
        Assert.Matches("allowed: an IP address and port|IPv6 addresses take brackets", e.Message);
    }
}
