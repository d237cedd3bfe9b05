using TimeMesh.Cli.Commands;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Tests;

/// <summary>
/// The configuration corpus (ConfigCorpus/): every broken file is refused by `timemesh check-config` with
/// exactly the text of its .expected file (what users see on stderr), and `timemesh run` refuses it too unless
/// only check-config judges it; every valid file passes, loads, and reads as written.
/// </summary>
public class ConfigCorpusTests
{
    private static string Corpus => Path.Combine(ExecutableTests.RepoRoot(), "tests", "TimeMesh.Node.Tests", "ConfigCorpus");

    public static IEnumerable<object[]> Broken() =>
        Directory.GetFiles(Path.Combine(ExecutableTests.RepoRoot(), "tests", "TimeMesh.Node.Tests", "ConfigCorpus", "broken"), "*.hocon")
            .Order(StringComparer.Ordinal).Select(f => new object[] { "broken/" + Path.GetFileName(f) });

    public static IEnumerable<object[]> Valid() =>
        Directory.GetFiles(Path.Combine(ExecutableTests.RepoRoot(), "tests", "TimeMesh.Node.Tests", "ConfigCorpus", "valid"), "*.hocon")
            .Order(StringComparer.Ordinal).Select(f => new object[] { "valid/" + Path.GetFileName(f) });

    [Fact]
    public void The_corpus_has_at_least_40_broken_and_20_valid_files()
    {
        Assert.True(Broken().Count() >= 40, $"{Broken().Count()} broken files");
        Assert.True(Valid().Count() >= 20, $"{Valid().Count()} valid files");
    }

    [Theory]
    [MemberData(nameof(Broken))]
    public void A_broken_file_is_refused_with_its_message(string name)
    {
        string path = Path.Combine(Corpus, name);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = CheckConfigCommand.Run(path, quiet: false, stdout, stderr);
        Assert.Equal(CheckConfigCommand.ExitInvalid, exit);
        Assert.Equal("", stdout.ToString());
        string expected = File.ReadAllText(path + ".expected");
        Assert.Equal(expected, stderr.ToString().Replace(path, name).Replace("\r\n", "\n"));
        // Every problem names a line, except those of values read after parsing (none here lacks a key).
        var result = ConfigFileCheck.CheckFile(path, values: true);
        Assert.All(result.Problems, p => Assert.True(p.Line > 0 || p.Key.Length > 0, p.Format(name)));
    }

    [Theory]
    [MemberData(nameof(Valid))]
    public void A_valid_file_passes_and_loads(string name)
    {
        string path = Path.Combine(Corpus, name);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = CheckConfigCommand.Run(path, quiet: false, stdout, stderr);
        Assert.True(exit == CheckConfigCommand.ExitValid, stderr.ToString());
        Assert.Contains("timemesh.listen = ", stdout.ToString());
        var settings = TimeMeshSettings.FromConfig(TimeMeshSettings.LoadFile(path));
        Assert.NotEmpty(settings.Listen);
    }

    [Fact]
    public void The_issues_comma_after_an_object_is_read_exactly_as_written()
    {
        var settings = TimeMeshSettings.FromConfig(TimeMeshSettings.LoadFile(Path.Combine(Corpus, "valid", "01-issue-comma-after-object.hocon")));
        Assert.Equal("127.0.0.1:11397", Assert.Single(settings.Listen).ToString());
        Assert.Equal(10, settings.Local!.Stratum);
        Assert.Equal("x", settings.DataDir);
        Assert.False(settings.Access.IsClosed);
    }

    [Fact]
    public void Run_refuses_the_issues_first_two_cases_with_line_and_key()
    {
        foreach (var (file, expected) in new[]
        {
            ("01-issue-forgotten-comma.hocon", ":1:63: timemesh.data-dir: `allow` starts a second setting on the same line"),
            ("02-issue-typo-lcoal.hocon", ":4:3: timemesh.lcoal: unknown key; did you mean `local`?"),
        })
        {
            var e = Assert.Throws<TimeMeshConfigException>(() => TimeMeshSettings.LoadFile(Path.Combine(Corpus, "broken", file)));
            Assert.Contains(expected, e.Message);
        }
    }

    /// <summary>
    /// Akka.Management comes with TimeMesh.Control (referenced here, as by the timemesh tool): its keys are checked
    /// against its own reference.conf. TimeMesh.Hosting's SplitTests show they are left alone without it.
    /// </summary>
    [Fact]
    public void With_akka_management_present_a_misspelt_management_key_is_named()
    {
        Assert.Null(ConfigKeys.Unknown("akka.management.http.port"));
        Assert.Equal("akka.management.http.port", ConfigKeys.Unknown("akka.management.http.prot"));
    }

    [Theory]
    [InlineData("timemesh.server[2].port", "timemesh.server[].port")]
    [InlineData("timemesh.server[12].nts.port", "timemesh.server[].nts.port")]
    [InlineData("a[0][31].b", "a[][].b")]
    [InlineData("timemesh.allow", "timemesh.allow")]
    [InlineData("a[x].b", "a[x].b")]
    [InlineData("a[].b", "a[].b")]
    [InlineData("a[12", "a[12")]
    [InlineData("a[1]", "a[]")]
    public void A_keys_list_indexes_become_empty_brackets(string path, string generic) =>
        Assert.Equal(generic, ConfigKeys.Generic(path));

    [Fact]
    public void The_effective_configuration_names_the_origin_of_each_value()
    {
        string path = Path.Combine(Corpus, "valid", "03-quickstart-like.hocon");
        var stdout = new StringWriter();
        Assert.Equal(0, CheckConfigCommand.Run(path, quiet: false, stdout, new StringWriter()));
        var lines = stdout.ToString().Split('\n');
        Assert.Contains(lines, l => l.StartsWith("timemesh.local.stratum = 10") && l.EndsWith("# " + path + ":4"));
        Assert.Contains(lines, l => l.StartsWith("timemesh.clock = virtual") && l.EndsWith("# default (reference.conf)"));
        Assert.Contains(lines, l => l.StartsWith("timemesh.allow = [\"127.0.0.0/8\", \"::1\"]") && l.EndsWith(":3"));
    }

    [Fact]
    public void Defaults_inside_an_optional_block_are_shown_as_built_in()
    {
        string path = Path.Combine(Corpus, "valid", "21-empty-blocks.hocon");
        var stdout = new StringWriter();
        Assert.Equal(0, CheckConfigCommand.Run(path, quiet: false, stdout, new StringWriter()));
        var lines = stdout.ToString().Split('\n');
        Assert.Contains(lines, l => l.StartsWith("timemesh.local.stratum = 10") && l.EndsWith("# built-in default"));
        Assert.Contains(lines, l => l.StartsWith("timemesh.ratelimit.burst = 8") && l.EndsWith("# built-in default"));
    }

    [Theory]
    [InlineData("hocon")]
    [InlineData("docker")]
    [InlineData("tests/fuzz/corpus/config")]
    public void Every_shipped_config_passes_the_file_check(string dir)
    {
        foreach (string file in Directory.GetFiles(Path.Combine(ExecutableTests.RepoRoot(), dir), "*.hocon"))
        {
            // values: false, as `timemesh run` reads the file (the TLS files and data directories they name are not on this machine).
            var result = ConfigFileCheck.CheckFile(file, values: false);
            Assert.True(result.Ok, result.Describe());
        }
    }
}
