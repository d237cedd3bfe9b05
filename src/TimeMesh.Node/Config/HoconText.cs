using System.Globalization;
using System.Text;
using Akka.Configuration;

namespace TimeMesh.Node.Config;

/// <summary>
/// Reads and writes HOCON text for the node. Parsing is bounded in time: Akka 1.5's parser never returns on some malformed input: a
/// character that starts no value inside a list (<c>allow = [ "10.0.0.0/8", } </c>, <c>x = [:]</c>,
/// <c>x = [^]</c>) makes its array loop spin without consuming anything, allocating as it goes. Found by
/// tests/fuzz (config target); a node given such a file must stop with an error, not hang at start.
/// </summary>
public static class HoconText
{
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(10);

    /// <param name="text">The HOCON text.</param>
    /// <param name="source">What to name in an error: the file path, or a description.</param>
    /// <param name="limit">How long the parser may take; a real configuration parses in milliseconds.</param>
    public static Akka.Configuration.Config Parse(string text, string source, TimeSpan limit)
    {
        if (!TryParseWithin(text, limit, out var config, out var error))
        {
            throw new TimeMeshConfigException("--config", source,
                $"the HOCON parser did not finish within {limit.TotalSeconds:0.#} s; look for a character that starts no value inside a list, e.g. [ \"a\", }} or [:]");
        }
        if (error is not null) throw new TimeMeshConfigException("--config", source, "the file is not valid HOCON: " + error.Message);
        return config!;
    }

    /// <summary>
    /// False when the parser did not finish within <paramref name="limit"/>; otherwise true with either the
    /// config or the parser's exception.
    /// </summary>
    public static bool TryParseWithin(string text, TimeSpan limit, out Akka.Configuration.Config? config, out Exception? error)
    {
        Akka.Configuration.Config? result = null;
        Exception? failure = null;
        // A thread of its own, because a stuck parse cannot be cancelled: it is left behind as a background
        // thread and the caller stops the process on the configuration error.
        var parser = new Thread(() =>
        {
            try { result = ConfigurationFactory.ParseString(text); }
            catch (Exception e) { failure = e; }
        })
        { IsBackground = true, Name = "hocon-parse" };
        parser.Start();
        bool finished = parser.Join(limit);
        config = finished ? result : null;
        error = finished ? failure : null;
        return finished;
    }

    /// <summary>
    /// <paramref name="s"/> as a HOCON quoted string (JSON's escapes), so that Akka's parser reads back exactly
    /// <paramref name="s"/> whatever it holds: quotes, backslashes, '#', "//", '$', braces or control characters.
    /// </summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
