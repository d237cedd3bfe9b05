using TimeMesh.Core.Auth;

namespace TimeMesh.Core.Tests.Auth;

public class MacVectorTests
{
    // RFC 4493 section 4: the AES-128 key and the four messages of its examples.
    private static readonly byte[] Rfc4493Key = Convert.FromHexString("2b7e151628aed2a6abf7158809cf4f3c");
    private static readonly byte[] Rfc4493Message = Convert.FromHexString(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");

    [Theory]
    [InlineData(0, "bb1d6929e95937287fa37d129b756746")]
    [InlineData(16, "070a16b46b4d4144f79bdd9dd04a287c")]
    [InlineData(40, "dfa66747de9ae63030ca32611497c827")]
    [InlineData(64, "51f0bebf7e3b9d92fc49741779363cfe")]
    public void AesCmacMatchesRfc4493(int length, string tag)
    {
        using var cmac = new AesCmac(Rfc4493Key);
        var output = new byte[16];
        cmac.Compute(Rfc4493Message.AsSpan(0, length), output);
        Assert.Equal(tag, Convert.ToHexString(output).ToLowerInvariant());
    }

    [Fact]
    public void AesCmacGivesTheSameTagsInAnyOrderAndRepeatedly()
    {
        // The CBC transform carries its chaining value from call to call; every tag must still stand alone.
        using var cmac = new AesCmac(Rfc4493Key);
        var expected = new Dictionary<int, string>
        {
            [0] = "bb1d6929e95937287fa37d129b756746",
            [16] = "070a16b46b4d4144f79bdd9dd04a287c",
            [40] = "dfa66747de9ae63030ca32611497c827",
            [64] = "51f0bebf7e3b9d92fc49741779363cfe",
        };
        var output = new byte[16];
        foreach (int length in new[] { 64, 0, 40, 40, 16, 64, 0, 16, 40 })
        {
            cmac.Compute(Rfc4493Message.AsSpan(0, length), output);
            Assert.Equal(expected[length], Convert.ToHexString(output).ToLowerInvariant());
        }
    }

    [Fact]
    public void AesCmacIsThreadSafe()
    {
        using var cmac = new AesCmac(Rfc4493Key);
        Parallel.For(0, 4, worker =>
        {
            var output = new byte[16];
            for (int i = 0; i < 2000; i++)
            {
                int length = (i + worker) % 2 == 0 ? 40 : 64;
                cmac.Compute(Rfc4493Message.AsSpan(0, length), output);
                Assert.Equal(length == 40 ? "dfa66747de9ae63030ca32611497c827" : "51f0bebf7e3b9d92fc49741779363cfe",
                    Convert.ToHexString(output).ToLowerInvariant());
            }
        });
    }

    // One NTPv4 client request; every digest below was computed independently: hash types with Python's
    // hashlib (H(key ‖ packet)), AES types with `openssl mac -cipher AES-…-CBC … CMAC`.
    private static readonly byte[] Packet = Convert.FromHexString("e30006ec000000000000000000000000000000000000000000000000000000000000000000000000676dc43d1546ea7c");

    [Theory]
    [InlineData(MacAlgorithm.Md5, "74756c6970", "46f335facab1476432ab3a86d05dbe34")]
    [InlineData(MacAlgorithm.Sha1, "933f62be1d604e68a81b557f18cfa200483f5b70", "ddea91d983bf0647b40b30f0917cf4e8b5db1f99")]
    [InlineData(MacAlgorithm.Sha256, "3031323334353637383961626364656630313233", "2a6bd22b3c06130552e19934a194f27216bf9439cb558b8cac40d494899d98f0")]
    [InlineData(MacAlgorithm.Sha384, "6b", "f54d280fd931c8fd57e2fb7c36944cb85ec7a7a5c3a73271ab84eba37f1cd4284202927e7ff0ddc490b5a295eb83e228")]
    [InlineData(MacAlgorithm.Sha512, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
        "f41d9736ded56c5b20372d4c01024e1380c1337f090390d1f7d4a0d5f50771308c6d521bb9196a7eb4bcaac36faf93e29b009e742c9c1d27be5bdbe6e93f7beb")]
    [InlineData(MacAlgorithm.Sha3_256, "736861336b6579", "5820b8b2efa6116d37e65ebcaff5a92de1bf1e7517915eb09ec12d001ca9b811")]
    [InlineData(MacAlgorithm.Aes128Cmac, "7ea62ae64d190114d46d5a082f948ec1", "9412e31db4b8819813005d85a1863766")]
    [InlineData(MacAlgorithm.Aes256Cmac, "37ddcbc67bb902bcb8e995977fab4d2b5642f5b32ebceee421921d97e5cbfe39", "ba2eefa16c9b0e500d2b6ed331e47bc0")]
    public void DigestsMatchIndependentlyComputedValues(MacAlgorithm algorithm, string keyHex, string digestHex)
    {
        using var key = new SymmetricKey(1, algorithm, Convert.FromHexString(keyHex));
        var digest = new byte[64];
        int length = key.ComputeDigest(Packet, digest);
        Assert.Equal(MacAlgorithms.DigestLength(algorithm), length);
        Assert.Equal(digestHex, Convert.ToHexString(digest, 0, length).ToLowerInvariant());
    }

    [Theory]
    [InlineData(MacAlgorithm.Md5, 4, 16)]
    [InlineData(MacAlgorithm.Sha1, 4, 20)]
    [InlineData(MacAlgorithm.Sha256, 4, 20)]
    [InlineData(MacAlgorithm.Sha512, 4, 20)]
    [InlineData(MacAlgorithm.Aes128Cmac, 4, 16)]
    [InlineData(MacAlgorithm.Sha256, 3, 32)]
    [InlineData(MacAlgorithm.Sha512, 3, 64)]
    public void WireLengthsAreChronys(MacAlgorithm algorithm, int version, int digestBytes)
    {
        using var key = new SymmetricKey(9, algorithm, new byte[MacAlgorithms.RequiredKeyLength(algorithm) is 0 ? 20 : MacAlgorithms.RequiredKeyLength(algorithm)]);
        Assert.Equal(digestBytes, NtpMac.WireDigestLength(key, version));
        var packet = new byte[48 + 68];
        Packet.CopyTo(packet, 0);
        packet[0] = (byte)((packet[0] & 0xC7) | version << 3);
        int length = NtpMac.Append(packet, 48, key, version);
        Assert.Equal(48 + 4 + digestBytes, length);
        Assert.Equal(new byte[] { 0, 0, 0, 9 }, packet[48..52]);
        // The wire digest is the full digest's prefix.
        var full = new byte[64];
        key.ComputeDigest(packet.AsSpan(0, 48), full);
        Assert.Equal(full[..digestBytes], packet[52..length]);
    }

    [Fact]
    public void ComputingAllocatesNothing()
    {
        using var sha = new SymmetricKey(1, MacAlgorithm.Sha256, new byte[20]);
        using var aes = new SymmetricKey(2, MacAlgorithm.Aes128Cmac, new byte[16]);
        var packet = new byte[48 + 24];
        for (int i = 0; i < 20_000; i++) { NtpMac.Append(packet, 48, sha, 4); NtpMac.Append(packet, 48, aes, 4); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20_000; i++) { NtpMac.Append(packet, 48, sha, 4); NtpMac.Append(packet, 48, aes, 4); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16 * 1024, $"{allocated} bytes over 40 000 MACs");
    }
}
