using TimeMesh.Node.Config;

namespace TimeMesh.Node.Tests;

/// <summary>Secret files others can read are refused at start, as ssh refuses such a private key (issue 18 step 8).</summary>
public sealed class SecretFilesTests : IDisposable
{
    private const string KeyLine = "1 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7\n";
    private readonly string _dir = Directory.CreateTempSubdirectory("timemesh-secrets").FullName;
    private static readonly uint Me = FilePermissions.ProcessUid;

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static UnixFileMode Mode(int octal) => (UnixFileMode)octal;

    private string Write(string name, string content, int mode)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, Mode(mode));
        return path;
    }

    private static TimeMeshSettings Parse(string body) =>
        TimeMeshSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("timemesh {\n" + body + "\n}"));

    [Theory]
    [InlineData(0b110_000_000)] // 0600
    [InlineData(0b100_000_000)] // 0400
    public void AnOwnerOnlyKeyIsFine(int mode)
    {
        Assert.Null(FilePermissions.Judge("timemesh.keyfile", "/k", SecretKind.PrivateKey, Mode(mode), Me, Me));
        Assert.Null(FilePermissions.Judge("--config", "/c", SecretKind.Config, Mode(mode), Me, Me));
    }

    [Fact]
    public void AWorldReadableKeyIsRefusedWithItsModeAndTheFix()
    {
        var p = FilePermissions.Judge("timemesh.keyfile", "/etc/timemesh/keys", SecretKind.PrivateKey, Mode(0b110_100_100), Me, Me)!;
        Assert.Equal("0644", p.Mode);
        Assert.Equal("chmod 600 /etc/timemesh/keys", p.Fix);
        Assert.Equal("/etc/timemesh/keys (mode 0644) is readable by every user, readable by its group: a private key must be readable by its owner only; fix: chmod 600 /etc/timemesh/keys", p.Message);
        // A config with a password, world-readable, is refused as well; its fix keeps the group.
        var c = FilePermissions.Judge("--config", "/etc/timemesh/timemesh.hocon", SecretKind.Config, Mode(0b110_100_100), Me, Me)!;
        Assert.Equal("chmod 640 /etc/timemesh/timemesh.hocon", c.Fix);
        Assert.Contains("readable by every user", c.Problem);
    }

    [Fact]
    public void GroupReadIsFineForAConfigButNotForAPrivateKey()
    {
        var groupRead = Mode(0b110_100_000); // 0640
        Assert.Null(FilePermissions.Judge("--config", "/c", SecretKind.Config, groupRead, 0, Me)); // root:timemesh 0640
        var key = FilePermissions.Judge("timemesh.nts.key", "/k", SecretKind.PrivateKey, groupRead, Me, Me)!;
        Assert.Equal("readable by its group", key.Problem);
        Assert.Equal("0640", key.Mode);
    }

    [Fact]
    public void WorldOrGroupWritableIsNeverFine()
    {
        Assert.Contains("writable by every user", FilePermissions.Judge("--config", "/c", SecretKind.Config, Mode(0b110_100_010), Me, Me)!.Problem); // 0642
        Assert.Contains("writable by its group", FilePermissions.Judge("--config", "/c", SecretKind.Config, Mode(0b110_110_000), Me, Me)!.Problem); // 0660
    }

    [Fact]
    public void AFileOwnedByAnotherUserWhoIsNotRootIsRefusedWhateverItsMode()
    {
        uint other = Me == 4242 ? 4243u : 4242u;
        var p = FilePermissions.Judge("timemesh.keyfile", "/k", SecretKind.PrivateKey, Mode(0b110_000_000), other, Me)!;
        Assert.Contains($"owned by uid {other}", p.Problem);
        Assert.StartsWith("chown ", p.Fix);
        Assert.Null(FilePermissions.Judge("timemesh.keyfile", "/k", SecretKind.PrivateKey, Mode(0b110_000_000), 0, Me)); // root's own
    }

    [Fact]
    public void TheCheckReadsARealFilesMode()
    {
        string good = Write("good.keys", KeyLine, 0b110_000_000);
        string bad = Write("bad.keys", KeyLine, 0b110_100_100);
        Assert.Null(FilePermissions.Check("timemesh.keyfile", good, SecretKind.PrivateKey));
        Assert.Equal("0644", FilePermissions.Check("timemesh.keyfile", bad, SecretKind.PrivateKey)!.Mode);
        Assert.Null(FilePermissions.Check("timemesh.keyfile", Path.Combine(_dir, "absent"), SecretKind.PrivateKey)); // the loader reports it
    }

    [Fact]
    public void AKeyfileOthersCanReadStopsTheParseUnlessOverriddenThenItIsAWarning()
    {
        string path = Write("chrony.keys", KeyLine, 0b110_100_100);
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse($"keyfile = \"{path}\""));
        Assert.Equal("timemesh.keyfile", e.Key);
        Assert.Contains($"{path} (mode 0644) is readable by every user", e.Message);
        Assert.Contains($"fix: chmod 600 {path}", e.Message);
        Assert.Contains("insecure-file-permissions = on", e.Message);

        var s = Parse($"keyfile = \"{path}\"\ninsecure-file-permissions = on");
        Assert.Equal(1, s.Keys.Count);
        var warning = Assert.Single(s.InsecureFileWarnings);
        Assert.Contains($"timemesh.keyfile {path} (mode 0644)", warning);

        File.SetUnixFileMode(path, Mode(0b110_000_000));
        Assert.Empty(Parse($"keyfile = \"{path}\"").InsecureFileWarnings);
    }

    [Fact]
    public void AnNtsKeyOthersCanReadIsRefused()
    {
        using var certs = new Support.TestCertificates();
        File.SetUnixFileMode(certs.KeyPath, Mode(0b110_100_000)); // 0640: fine for a config, not for a key
        var e = Assert.Throws<TimeMeshConfigException>(() => Parse(
            $"nts {{ enabled = on, listen = [\"127.0.0.1:0\"], certificate = \"{certs.CertificatePath}\", key = \"{certs.KeyPath}\" }}"));
        Assert.Equal("timemesh.nts.key", e.Key);
        Assert.Contains("(mode 0640) is readable by its group", e.Message);
    }

    [Fact]
    public void AConfigFileWithAPasswordIsJudgedAndOneWithoutIsNot()
    {
        const string body = "timemesh {\n listen = [\"127.0.0.1:0\"]\n persistence { provider = postgresql, connection-string = \"Host=127.0.0.1;Password=hunter2\" }\n}";
        string withPassword = Write("secret.hocon", body, 0b110_100_100);
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshSettings.FromConfig(TimeMeshSettings.LoadFile(withPassword)));
        Assert.Equal("--config", e.Key);
        Assert.Contains($"fix: chmod 640 {withPassword}", e.Message);
        File.SetUnixFileMode(withPassword, Mode(0b110_100_000)); // 0640
        TimeMeshSettings.FromConfig(TimeMeshSettings.LoadFile(withPassword));

        string plain = Write("plain.hocon", "timemesh { listen = [\"127.0.0.1:0\"] }", 0b110_100_100);
        TimeMeshSettings.FromConfig(TimeMeshSettings.LoadFile(plain));

        string tls = Write("tls.hocon", "timemesh { listen = [\"127.0.0.1:0\"], cluster-tls { certificate = \"/none.pfx\", password = \"x\", ca = \"/none.pem\" } }", 0b110_100_100);
        Assert.Single(SecretFiles.Review(TimeMeshSettings.LoadFile(tls)));
    }

    [Theory]
    [InlineData("Host=h;Password=x", true)]
    [InlineData("Host=h; pwd = x ;Database=d", true)]
    [InlineData("Host=h;Password=", false)]
    [InlineData("Data Source=data/timemesh.db", false)]
    public void APasswordInAConnectionStringIsFound(string connection, bool has) =>
        Assert.Equal(has, SecretFiles.ConnectionStringHasPassword(connection));

    [Fact]
    public async Task ANodeRefusesToStartWithAKeyfileEveryoneCanWrite()
    {
        string path = Write("chrony.keys", KeyLine, 0b110_110_110); // 0666
        string config = $"timemesh {{\n listen = [\"127.0.0.1:0\"]\n keyfile = \"{path}\"\n data-dir = \"{_dir}/data\"\n control.listen = off\n}}";
        var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString(config)));
        Assert.Contains("(mode 0666) is writable by every user, readable by every user", e.Message);

        // With the override the node starts, keeping the warning for its log.
        await using var node = TimeMeshNode.Start(Akka.Configuration.ConfigurationFactory.ParseString(config + "\ntimemesh.insecure-file-permissions = on"));
        Assert.Single(node.Settings.InsecureFileWarnings);
    }
}
