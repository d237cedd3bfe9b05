using TimeMesh.Node.Config;
using TimeMesh.Node.Tests.Support;

namespace TimeMesh.Node.Tests;

public class NtsSettingsTests
{
    private static TimeMeshSettings Parse(string body) =>
        TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}"));

    [Fact]
    public void Nts_is_off_by_default_with_chronys_port_and_a_daily_rotation()
    {
        var s = Parse("");
        Assert.False(s.Nts.Enabled);
        Assert.Equal(["0.0.0.0:4460"], s.Nts.Listen.Select(e => e.ToString()));
        Assert.Equal(TimeSpan.FromDays(1), s.Nts.CookieKeyRotation);
        Assert.Equal("", s.Upstream.NtsTrustedCertificatesPath);
        // chrony's maxntsconnections default, and a per-client share of it.
        Assert.Equal((100, 8), (s.Nts.MaxConnections, s.Nts.MaxConnectionsPerClient));
        Assert.Equal(3, Parse("nts.max-connections-per-client = 3").Nts.MaxConnectionsPerClient);
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse("nts.max-connections-per-client = 0"));
        Assert.Equal(("timemesh.nts.max-connections-per-client", "0"), (e.Key, e.Value));
        Assert.Contains("allowed", e.Message);
    }

    [Fact]
    public void An_enabled_server_reads_its_files_and_a_source_takes_nts_and_ntsport()
    {
        using var certs = new TestCertificates();
        var s = Parse($$"""
            nts { enabled = on, listen = ["127.0.0.1:4461"], certificate = "{{certs.CertificatePath}}", key = "{{certs.KeyPath}}",
                  ntp-server = "time.example.org", ntp-port = 1123, cookie-key-rotation = 12h }
            nts.trusted-certificates = "{{certs.CaPath}}"
            server = [ { address = "time.example.org", nts = on, ntsport = 4470 }, { address = "192.0.2.1" } ]
            """);
        Assert.True(s.Nts.Enabled);
        Assert.Equal("time.example.org", s.Nts.NtpServer);
        Assert.Equal(1123, s.Nts.NtpPort);
        Assert.Equal(TimeSpan.FromHours(12), s.Nts.CookieKeyRotation);
        Assert.Equal(certs.CaPath, s.Upstream.NtsTrustedCertificatesPath);
        Assert.True(s.Upstream.Servers[0].Nts);
        Assert.Equal(4470, s.Upstream.Servers[0].NtsKePort);
        Assert.False(s.Upstream.Servers[1].Nts);
        Assert.Equal(4460, s.Upstream.Servers[1].NtsKePort);
    }

    [Theory]
    [InlineData("nts { enabled = on, key = \"/nonexistent.pem\" }", "timemesh.nts.certificate")]
    [InlineData("nts { enabled = on, certificate = \"/nonexistent.pem\", key = \"/nonexistent.pem\" }", "timemesh.nts.certificate")]
    [InlineData("nts { enabled = maybe }", "timemesh.nts.enabled")]
    [InlineData("nts { listen = [\"4460\"] }", "timemesh.nts.listen")]
    [InlineData("nts { cookie-key-rotation = 0s }", "timemesh.nts.cookie-key-rotation")]
    [InlineData("nts { ntp-port = 70000 }", "timemesh.nts.ntp-port")]
    [InlineData("nts.trusted-certificates = \"/nonexistent-ca.pem\"", "timemesh.nts.trusted-certificates")]
    [InlineData("server = [ { address = \"192.0.2.1\", nts = sometimes } ]", "nts")]
    [InlineData("server = [ { address = \"192.0.2.1\", ntsport = 0 } ]", "ntsport")]
    public void Bad_values_name_the_key(string body, string key)
    {
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(body));
        Assert.Contains(key, e.Message);
    }
}
