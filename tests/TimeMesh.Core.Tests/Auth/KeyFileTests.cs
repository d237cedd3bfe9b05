using System.Text;
using TimeMesh.Core.Auth;

namespace TimeMesh.Core.Tests.Auth;

public class KeyFileTests
{
    private static KeyRing Parse(string text) => KeyFile.Parse(Encoding.UTF8.GetBytes(text), "/etc/timemesh/keys");

    private static KeyFileException Fails(string text) => Assert.Throws<KeyFileException>(() => Parse(text));

    // The same 48-byte request for every digest check below.
    private static readonly byte[] Packet = Convert.FromHexString("e30006ec000000000000000000000000000000000000000000000000000000000000000000000000676dc43d1546ea7c");

    private static string Digest(SymmetricKey key)
    {
        var digest = new byte[64];
        int length = key.ComputeDigest(Packet, digest);
        return Convert.ToHexString(digest, 0, length).ToLowerInvariant();
    }

    [Fact]
    public void ChronysManualExampleParses()
    {
        // The example of chrony.conf(5), keyfile, as is.
        var keys = Parse("""
            10 tulip
            11 hyacinth
            20 MD5 ASCII:crocus
            25 SHA1 HEX:933F62BE1D604E68A81B557F18CFA200483F5B70
            30 AES128 HEX:7EA62AE64D190114D46D5A082F948EC1
            31 AES256 HEX:37DDCBC67BB902BCB8E995977FAB4D2B5642F5B32EBCEEE421921D97E5CBFE39
            """);
        Assert.Equal([10u, 11u, 20u, 25u, 30u, 31u], keys.Keys.Select(k => k.Id));
        Assert.True(keys.TryGet(10, out var tulip));
        Assert.Equal(MacAlgorithm.Md5, tulip.Algorithm); // the default type
        Assert.Equal(40, tulip.LengthBits); // bare value = ASCII
        Assert.True(keys.TryGet(20, out var crocus));
        Assert.Equal(48, crocus.LengthBits); // ASCII: prefix stripped
        Assert.True(keys.TryGet(25, out var sha1));
        Assert.Equal(MacAlgorithm.Sha1, sha1.Algorithm);
        Assert.Equal(160, sha1.LengthBits);
        Assert.True(keys.TryGet(30, out var aes128));
        Assert.Equal(MacAlgorithm.Aes128Cmac, aes128.Algorithm);
        Assert.True(keys.TryGet(31, out var aes256));
        Assert.Equal(MacAlgorithm.Aes256Cmac, aes256.Algorithm);
        Assert.False(keys.TryGet(12, out _));
    }

    [Fact]
    public void ValuesDecodeToTheBytesChronyHashes()
    {
        // Digests computed independently with Python's hashlib: H(key ‖ packet).
        var keys = Parse("""
            1 tulip
            2 SHA1 HEX:933f62be1d604e68a81b557f18cfa200483f5b70
            3 SHA256 ASCII:0123456789abcdef0123
            """);
        Assert.True(keys.TryGet(1, out var md5));
        Assert.Equal("46f335facab1476432ab3a86d05dbe34", Digest(md5));
        Assert.True(keys.TryGet(2, out var sha1)); // lower-case hex is hex too
        Assert.Equal("ddea91d983bf0647b40b30f0917cf4e8b5db1f99", Digest(sha1));
        Assert.True(keys.TryGet(3, out var sha256));
        Assert.Equal("2a6bd22b3c06130552e19934a194f27216bf9439cb558b8cac40d494899d98f0", Digest(sha256));
    }

    [Fact]
    public void CommentsBlankLinesAndWhitespaceAreChronys()
    {
        var keys = Parse("# chrony.keys\n\n   ! bang\n; semicolon\n% percent\n\t 7 \t SHA256 \t HEX:00112233445566778899AABBCCDDEEFF  \r\n  \n8 ASCII:#not-a-comment");
        Assert.Equal([7u, 8u], keys.Keys.Select(k => k.Id));
        Assert.True(keys.TryGet(8, out var eight));
        Assert.Equal(14 * 8, eight.LengthBits); // '#' inside a key is key material
    }

    [Fact]
    public void AnEmptyFileHasNoKeys() => Assert.Equal(0, Parse("# nothing yet\n").Count);

    [Fact]
    public void ChronycKeygenOutputParses()
    {
        // Lines as `chronyc keygen` prints them (captured from chrony 4.3).
        var keys = Parse("""
            1 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7
            5 AES128 HEX:CE75CA131698DD984EF9EBAB3A52B5DE
            7 SHA3-256 HEX:9D538B1B6784C8C7525B3C652B17956DAAAFBD8B602795A09735ADBF839ECA2D
            9 AES256 HEX:C10ACEC5182AF002B25C309C27AEA73C468E1E3FEBDDC63FDA31D926CB190D7E
            """);
        Assert.Equal(4, keys.Count);
        Assert.Empty(keys.Warnings);
    }

    [Fact]
    public void ShortKeysParseWithAWarning()
    {
        var keys = Parse("1 tulip\n2 SHA1 HEX:0003C2A14EE65F5B91A51A8F9D122E827ED360A7\n");
        var warning = Assert.Single(keys.Warnings);
        Assert.Contains("/etc/timemesh/keys:1", warning);
        Assert.Contains("40 bits", warning);
    }

    [Theory]
    [InlineData("1 SHA1 HEX:00 extra", 1, "more than three words")]
    [InlineData("# ok\n2", 2, "the key is missing")]
    [InlineData("0 MD5 HEX:0011", 1, "'0' is not a number from 1 to 4294967295")]
    [InlineData("4294967296 MD5 ASCII:x", 1, "not a number from 1 to 4294967295")]
    [InlineData("-1 MD5 ASCII:x", 1, "not a number")]
    [InlineData("1x MD5 ASCII:x", 1, "'1x' is not a number")]
    [InlineData("\n\n3 md5 ASCII:x", 3, "unknown type 'md5' (names are case-sensitive")]
    [InlineData("3 SHA999 ASCII:x", 1, "unknown type 'SHA999'")]
    [InlineData("3 TIGER HEX:00112233445566778899", 1, "type TIGER is known to chrony but not supported by TimeMesh")]
    [InlineData("3 SHA1 HEX:0011223", 1, "even number of hex digits, found 7")]
    [InlineData("3 SHA1 HEX:00112G", 1, "'G' is not a hex digit")]
    [InlineData("3 SHA1 HEX:", 1, "HEX: is followed by no digits")]
    [InlineData("3 SHA1 ASCII:", 1, "ASCII: is followed by no key")]
    [InlineData("3 AES128 HEX:00112233445566778899AABBCCDDEE", 1, "AES128 takes a 128-bit key, this one has 120 bits")]
    [InlineData("3 AES256 HEX:00112233445566778899AABBCCDDEEFF", 1, "AES256 takes a 256-bit key, this one has 128 bits")]
    [InlineData("3 AES128 ASCII:sixteen-bytes!!!x", 1, "AES128 takes a 128-bit key, this one has 136 bits")]
    [InlineData("5 a\n6 b\n5 SHA1 HEX:00112233445566778899", 3, "key 5 is already defined on line 1")]
    public void BadLinesNameTheFileTheLineAndTheProblem(string text, int line, string problem)
    {
        var e = Fails(text);
        Assert.Equal(line, e.Line);
        Assert.Equal("/etc/timemesh/keys", e.Path);
        Assert.Contains(problem, e.Message);
        Assert.StartsWith($"/etc/timemesh/keys:{line}: ", e.Message);
    }

    [Fact]
    public void SupportedTypesAreListedInTheError()
    {
        var e = Fails("3 SHA999 ASCII:x");
        Assert.Contains("supported: MD5, SHA1, SHA256, SHA384, SHA512", e.Message);
        Assert.Contains("AES128, AES256", e.Message);
    }

    [Fact]
    public void ALineLongerThanChronysLimitIsRefused()
    {
        var e = Fails("1 SHA1 HEX:" + new string('A', 2040));
        Assert.Contains("at most 2047", e.Message);
        // 2047 characters is still fine.
        Assert.Equal(1, Parse("1 SHA1 HEX:" + new string('A', 2036)).Count);
    }

    [Fact]
    public void TheLargestIdIsAccepted() => Assert.True(Parse("4294967295 SHA1 HEX:00112233445566778899").Contains(uint.MaxValue));

    [Fact]
    public void FormatLineWritesWhatParseReads()
    {
        byte[] value = Convert.FromHexString("CE75CA131698DD984EF9EBAB3A52B5DE");
        string line = KeyFile.FormatLine(5, MacAlgorithm.Aes128Cmac, value);
        Assert.Equal("5 AES128 HEX:CE75CA131698DD984EF9EBAB3A52B5DE", line);
        Assert.True(Parse(line).TryGet(5, out var key));
        Assert.Equal(MacAlgorithm.Aes128Cmac, key.Algorithm);
    }
}
