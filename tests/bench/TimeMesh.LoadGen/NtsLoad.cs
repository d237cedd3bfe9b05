using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using TimeMesh.Core.Nts;

namespace TimeMesh.LoadGen;

/// <summary>
/// NTS requests for the load (RFC 8915 section 5): one key exchange before the run, then every request carries a unique
/// identifier, the same cookie (the server keeps no per-cookie state, so reuse costs it exactly what a fresh cookie
/// would) and an authenticator sealed with the C2S key. The server's work per request is the same as for a real
/// client: open the cookie, verify the authenticator, seal the reply with a fresh cookie.
/// </summary>
internal sealed class NtsLoad : IDisposable
{
    private readonly byte[] _cookie;
    private readonly AesSivCmac256 _c2s;
    private readonly AesSivCmac256 _s2c;

    private NtsLoad(TimeMesh.Node.Nts.NtsKeResult result)
    {
        _cookie = result.Cookies[0];
        _c2s = new AesSivCmac256(result.C2S);
        _s2c = new AesSivCmac256(result.S2C);
        RequestLength = NtpHeaderBytes + 4 + NtsFields.UniqueIdentifierLength + 4 + NtsFields.Padded(_cookie.Length) + NtsFields.AuthenticatorLength(0);
    }

    private const int NtpHeaderBytes = Ntp.PacketBytes;

    public int RequestLength { get; }

    public static NtsLoad Exchange(Options o)
    {
        int colon = o.NtsKe!.LastIndexOf(':');
        string host = o.NtsKe[..colon].Trim('[', ']');
        int port = int.Parse(o.NtsKe[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var address = IPAddress.Parse(host);
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(o.NtsCa!));
        TimeMesh.Nts.MeshNtsCredentials? mesh = null;
        if (o.NtsCert is not null)
        {
            using var pem = X509Certificate2.CreateFromPemFile(o.NtsCert, o.NtsKey);
            mesh = TimeMesh.Nts.MeshNtsCredentials.From(pem, ca, port);
        }
        var result = TimeMesh.Nts.NtsKeClient.Exchange(o.NtsName ?? host, address, port, mesh is null ? new X509Certificate2Collection(ca) : null,
            TimeSpan.FromSeconds(10), mesh, mesh is null ? null : [o.NtsName ?? host]);
        Console.Error.WriteLine($"NTS-KE with {o.NtsKe}{(mesh is null ? "" : " (mesh, client certificate)")}: {result.Cookies.Count} cookies of {result.Cookies[0].Length} bytes");
        return new NtsLoad(result);
    }

    /// <summary>Writes the NTS fields after the 48-byte header already in <paramref name="packet"/>; the unique id carries the tag.</summary>
    public void AppendFields(Span<byte> packet, ulong tag)
    {
        Span<byte> uid = stackalloc byte[NtsFields.UniqueIdentifierLength];
        uid.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(uid, tag);
        int offset = NtpHeaderBytes;
        offset += NtsFields.Write(packet[offset..], NtsFieldType.UniqueIdentifier, uid);
        offset += NtsFields.Write(packet[offset..], NtsFieldType.Cookie, _cookie);
        NtsFields.WriteAuthenticator(packet, offset, _c2s, default);
    }

    /// <summary>
    /// An authenticated server reply: mode 4, synchronised, with NTS fields (an NTSN kiss or a dropped request would not
    /// count); with <paramref name="verify"/> its authenticator is opened with the S2C key as a client would.
    /// </summary>
    public bool IsValidReply(ReadOnlySpan<byte> reply, bool verify)
    {
        if (reply.Length <= NtpHeaderBytes + 4) return false;
        int leap = reply[0] >> 6, mode = reply[0] & 7, stratum = reply[1];
        if (mode != 4 || leap == 3 || stratum is < 1 or > 15) return false;
        if (!verify) return true;
        int offset = NtpHeaderBytes;
        while (offset + 4 <= reply.Length)
        {
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(reply[offset..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(reply[(offset + 2)..]);
            if (length < 4 || offset + length > reply.Length) return false;
            if (type == NtsFieldType.Authenticator)
            {
                Span<byte> plaintext = stackalloc byte[1024];
                return NtsFields.TryOpenAuthenticator(reply, offset, length, _s2c, plaintext, out _);
            }
            offset += length;
        }
        return false;
    }

    public void Dispose()
    {
        _c2s.Dispose();
        _s2c.Dispose();
    }
}
