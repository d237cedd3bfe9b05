using System.Globalization;
using System.Net;

namespace TimeMesh.Core.Access;

/// <summary>
/// An address prefix as chrony's <c>allow</c>/<c>deny</c> take it: "all", an address ("10.1.2.3" = /32),
/// a prefix ("10.0.0.0/8", "fd00::/8") or chrony's shortened IPv4 form ("192.168" = 192.168.0.0/16).
/// IPv4 subnets are kept in IPv4-mapped form; IPv6 subnets never match IPv4 clients.
/// </summary>
/// <param name="Network">
/// The network address with its host bits cleared; <see cref="Contains"/> never matches if host bits are set,
/// so build subnets through <see cref="Create"/> or the parse methods.
/// </param>
/// <param name="PrefixLength">Prefix length over the 128-bit value, so an IPv4 /24 is held as 120.</param>
/// <param name="IsIPv4">True for an IPv4 subnet, which only matches IPv4 (mapped) addresses.</param>
public readonly record struct Subnet(IpAddress128 Network, int PrefixLength, bool IsIPv4)
{
    /// <summary>Every IPv4 address (0.0.0.0/0); the IPv4 half of chrony's "all".</summary>
    public static readonly Subnet AllIPv4 = new(IpAddress128.FromIPv4(0), 96, true);
    /// <summary>Every IPv6 address (::/0); IPv4-mapped clients are not included, as for any IPv6 subnet.</summary>
    public static readonly Subnet AllIPv6 = new(new IpAddress128(0, 0), 0, false);

    /// <summary>Prefix length in the address's own family (0-32 for IPv4, 0-128 for IPv6).</summary>
    public int FamilyPrefixLength => IsIPv4 ? PrefixLength - 96 : PrefixLength;

    /// <summary>True when the address is of this subnet's family and its leading prefix bits equal the network's.</summary>
    public bool Contains(IpAddress128 address)
    {
        if (address.IsIPv4Mapped != IsIPv4) return false;
        var (maskHigh, maskLow) = Mask(PrefixLength);
        return (address.High & maskHigh) == Network.High && (address.Low & maskLow) == Network.Low;
    }

    private static (ulong High, ulong Low) Mask(int prefixLength) => prefixLength switch
    {
        0 => (0, 0),
        < 64 => (ulong.MaxValue << (64 - prefixLength), 0),
        64 => (ulong.MaxValue, 0),
        < 128 => (ulong.MaxValue, ulong.MaxValue << (128 - prefixLength)),
        _ => (ulong.MaxValue, ulong.MaxValue),
    };

    /// <summary>Parses one subnet; "all" yields two (IPv4 and IPv6).</summary>
    public static IReadOnlyList<Subnet> ParseSpec(string text)
    {
        if (TryParseSpec(text, out var subnets, out string? why)) return subnets;
        throw new FormatException(why);
    }

    /// <summary>
    /// Parses one subnet text without throwing. Accepts "all" (any case), an IPv4 address that may be shortened
    /// ("10" = 10.0.0.0/8; its octets are read as decimal even with leading zeros), or an IPv6 address, each with
    /// an optional "/prefix". Without a prefix a full IPv4 or IPv6 address is a single host.
    /// </summary>
    /// <param name="text">The text; surrounding white space is ignored.</param>
    /// <param name="subnets">The parsed subnets (two for "all", else one); empty on failure.</param>
    /// <param name="why">On failure, a message naming the bad text and what was expected; null on success.</param>
    /// <returns>True if the text was valid.</returns>
    public static bool TryParseSpec(string text, out IReadOnlyList<Subnet> subnets, out string? why)
    {
        subnets = [];
        why = null;
        string spec = text.Trim();
        if (spec.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            subnets = [AllIPv4, AllIPv6];
            return true;
        }
        string addressPart = spec;
        int? prefix = null;
        int slash = spec.IndexOf('/');
        if (slash >= 0)
        {
            addressPart = spec[..slash];
            if (!int.TryParse(spec[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int p))
            {
                why = $"'{text}' has no valid prefix length after '/'";
                return false;
            }
            prefix = p;
        }

        IPAddress? address;
        int defaultPrefix;
        if (!addressPart.Contains(':'))
        {
            // chrony accepts a shortened IPv4 address: "10" is 10/8, "192.168" is 192.168/16.
            string[] octets = addressPart.Split('.');
            if (octets.Length is < 1 or > 4 || octets.Any(o => !byte.TryParse(o, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                why = $"'{text}' is not an IPv4 or IPv6 address or subnet (examples: 192.168.1.0/24, 10.0.0.5, fd00::/8, all)";
                return false;
            }
            defaultPrefix = octets.Length * 8;
            // Built from the decimal octets, as chrony reads them: IPAddress.Parse would take "096" for octal
            // and throw (found by tests/fuzz, config target), or "010" for 8.
            uint value = 0;
            for (int i = 0; i < 4; i++)
                value = (value << 8) | (i < octets.Length ? byte.Parse(octets[i], NumberStyles.None, CultureInfo.InvariantCulture) : 0u);
            address = new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(value));
            if ((prefix ?? defaultPrefix) > 32)
            {
                why = $"'{text}': an IPv4 prefix length is 0-32";
                return false;
            }
        }
        else
        {
            if (!IPAddress.TryParse(addressPart, out address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                why = $"'{text}' is not a valid IPv6 address or subnet";
                return false;
            }
            defaultPrefix = 128;
            if ((prefix ?? defaultPrefix) > 128)
            {
                why = $"'{text}': an IPv6 prefix length is 0-128";
                return false;
            }
        }

        subnets = [Create(address, prefix ?? defaultPrefix)];
        return true;
    }

    /// <summary>A subnet from an address and a prefix length in that address's family; host bits are cleared.</summary>
    public static Subnet Create(IPAddress address, int familyPrefixLength)
    {
        var value = IpAddress128.FromIPAddress(address);
        bool isIPv4 = value.IsIPv4Mapped;
        int prefixLength = isIPv4 ? familyPrefixLength + 96 : familyPrefixLength;
        var (maskHigh, maskLow) = Mask(prefixLength);
        return new Subnet(new IpAddress128(value.High & maskHigh, value.Low & maskLow), prefixLength, isIPv4);
    }

    /// <summary>Network and family prefix length, e.g. "10.0.0.0/8" or "fd00::/8".</summary>
    public override string ToString() => $"{Network}/{FamilyPrefixLength}";
}
