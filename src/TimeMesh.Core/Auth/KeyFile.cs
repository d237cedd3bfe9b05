using System.Text;

namespace TimeMesh.Core.Auth;

/// <summary>
/// chrony's keyfile format (chrony.conf(5), keyfile; what `chronyc keygen` prints), so one file serves
/// chronyd and TimeMesh alike. A line is <c>ID [TYPE] KEY</c>: ID from 1 to 2^32−1, TYPE as chrony spells
/// it (MD5 when left out), KEY as <c>HEX:…</c>, <c>ASCII:…</c> or bare ASCII. Lines whose first non-blank
/// character is one of <c>! ; # %</c> are comments, as in chrony. Where chrony logs a warning and skips
/// a bad line, TimeMesh refuses the whole file: a key silently missing is an outage found late.
/// </summary>
public static class KeyFile
{
    /// <summary>chrony's limit for a line.</summary>
    public const int MaxLineLength = 2047;
    /// <summary>chrony warns about keys shorter than this (bits).</summary>
    public const int MinSecureKeyBits = 80;

    /// <summary>Parses the bytes of a keyfile; <paramref name="path"/> only names it in messages.</summary>
    public static KeyRing Parse(ReadOnlySpan<byte> content, string path)
    {
        var keys = new List<SymmetricKey>();
        var definedOn = new Dictionary<uint, int>();
        var warnings = new List<string>();
        int lineNumber = 0;
        try
        {
            while (!content.IsEmpty)
            {
                lineNumber++;
                int end = content.IndexOf((byte)'\n');
                ReadOnlySpan<byte> line = end < 0 ? content : content[..end];
                content = end < 0 ? [] : content[(end + 1)..];
                if (line.Length > MaxLineLength)
                    throw new KeyFileException(path, lineNumber, $"the line is {line.Length} characters long; chrony allows at most {MaxLineLength}");
                var key = ParseLine(line, path, lineNumber);
                if (key is null) continue;
                if (definedOn.TryGetValue(key.Id, out int first))
                {
                    key.Dispose();
                    throw new KeyFileException(path, lineNumber, $"key {key.Id} is already defined on line {first}");
                }
                definedOn[key.Id] = lineNumber;
                keys.Add(key);
                if (key.LengthBits < MinSecureKeyBits)
                    warnings.Add($"{path}:{lineNumber}: key {key.Id} is only {key.LengthBits} bits long (chrony warns below {MinSecureKeyBits}; use `chronyc keygen` for random 160-bit or longer keys)");
            }
        }
        catch
        {
            foreach (var k in keys) k.Dispose();
            throw;
        }
        return new KeyRing(keys, path, warnings);
    }

    /// <summary>Parses one line; null for blank and comment lines.</summary>
    public static SymmetricKey? ParseLine(ReadOnlySpan<byte> line, string path, int lineNumber)
    {
        Span<Range> words = stackalloc Range[4];
        int count = SplitWords(line, words);
        if (count == 0) return null;
        if (line[words[0].Start] is (byte)'!' or (byte)';' or (byte)'#' or (byte)'%') return null;
        if (count > 3)
            throw new KeyFileException(path, lineNumber, "expected `ID [TYPE] KEY` but found more than three words");
        if (count == 1)
            throw new KeyFileException(path, lineNumber, "expected `ID [TYPE] KEY` but found one word; the key is missing");

        string idText = Ascii(line[words[0]]);
        if (!TryParseId(idText, out uint id))
            throw new KeyFileException(path, lineNumber, $"the key id '{idText}' is not a number from 1 to 4294967295");

        string typeName = count == 3 ? Ascii(line[words[1]]) : "MD5";
        if (!MacAlgorithms.TryParse(typeName, out var algorithm))
        {
            string why = MacAlgorithms.IsKnownToChronyOnly(typeName)
                ? $"type {typeName} is known to chrony but not supported by TimeMesh"
                : $"unknown type '{typeName}' (names are case-sensitive, as in chrony)";
            throw new KeyFileException(path, lineNumber, $"key {id}: {why}; supported: {MacAlgorithms.SupportedNames}");
        }
        if (!MacAlgorithms.IsSupported(algorithm))
            throw new KeyFileException(path, lineNumber, $"key {id}: type {typeName} is not available on this platform; supported here: {MacAlgorithms.SupportedNames}");

        byte[] value = DecodeValue(line[words[count - 1]], path, lineNumber, id);
        try
        {
            int required = MacAlgorithms.RequiredKeyLength(algorithm);
            if (required != 0 && value.Length != required)
                throw new KeyFileException(path, lineNumber,
                    $"key {id}: {typeName} takes a {required * 8}-bit key, this one has {value.Length * 8} bits (HEX: with {required * 2} hex digits)");
            return new SymmetricKey(id, algorithm, value);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(value);
        }
    }

    /// <summary>Renders one key as a keyfile line, in `chronyc keygen`'s form.</summary>
    public static string FormatLine(uint id, MacAlgorithm algorithm, ReadOnlySpan<byte> value) =>
        $"{id} {MacAlgorithms.Name(algorithm)} HEX:{Convert.ToHexString(value)}";

    private static bool TryParseId(string text, out uint id)
    {
        id = 0;
        if (text.Length is 0 or > 10) return false;
        foreach (char c in text)
        {
            if (c is < '0' or > '9') return false;
        }
        return ulong.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong value)
            && value is >= 1 and <= uint.MaxValue
            && (id = (uint)value) != 0;
    }

    private static byte[] DecodeValue(ReadOnlySpan<byte> word, string path, int lineNumber, uint id)
    {
        ReadOnlySpan<byte> asciiPrefix = "ASCII:"u8;
        ReadOnlySpan<byte> hexPrefix = "HEX:"u8;
        if (word.StartsWith(hexPrefix))
        {
            var digits = word[hexPrefix.Length..];
            if (digits.IsEmpty) throw new KeyFileException(path, lineNumber, $"key {id}: HEX: is followed by no digits");
            if (digits.Length % 2 != 0)
                throw new KeyFileException(path, lineNumber, $"key {id}: HEX: needs an even number of hex digits, found {digits.Length}");
            var value = new byte[digits.Length / 2];
            for (int i = 0; i < value.Length; i++)
            {
                int high = HexValue(digits[2 * i]), low = HexValue(digits[2 * i + 1]);
                if (high < 0 || low < 0)
                    throw new KeyFileException(path, lineNumber, $"key {id}: '{(char)digits[high < 0 ? 2 * i : 2 * i + 1]}' is not a hex digit");
                value[i] = (byte)(high << 4 | low);
            }
            return value;
        }
        var ascii = word.StartsWith(asciiPrefix) ? word[asciiPrefix.Length..] : word;
        if (ascii.IsEmpty) throw new KeyFileException(path, lineNumber, $"key {id}: ASCII: is followed by no key");
        return ascii.ToArray();
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Splits on C's isspace characters (as chrony does); returns the word count, at most words.Length.</summary>
    private static int SplitWords(ReadOnlySpan<byte> line, Span<Range> words)
    {
        int count = 0, i = 0;
        while (i < line.Length && count < words.Length)
        {
            while (i < line.Length && IsSpace(line[i])) i++;
            if (i == line.Length) break;
            int start = i;
            while (i < line.Length && !IsSpace(line[i])) i++;
            words[count++] = new Range(start, i);
        }
        return count;
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';

    private static string Ascii(ReadOnlySpan<byte> bytes) => Encoding.ASCII.GetString(bytes);
}
