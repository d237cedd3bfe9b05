using System.Text;

namespace TimeMesh.Node.Config;

/// <summary>One thing wrong with a configuration file, where it is and which key it concerns.</summary>
public sealed record ConfigProblem(int Line, int Column, string Key, string Message)
{
    /// <summary>"FILE:LINE:COLUMN: KEY: MESSAGE", as compilers print it (line 0: the file as a whole).</summary>
    public string Format(string source)
    {
        string where = Line > 0 ? $"{source}:{Line}:{Column}" : source;
        return Key.Length > 0 ? $"{where}: {Key}: {Message}" : $"{where}: {Message}";
    }
}

/// <summary>Where a key was written: its full path ("timemesh.server[0].port"), line and column (1-based).</summary>
public sealed record KeyOrigin(string Path, int Line, int Column, bool IsObject);

/// <summary>What <see cref="HoconLint.Read"/> found: the problems, every key written with its place, and the text to parse.</summary>
public sealed record HoconLintResult(
    IReadOnlyList<ConfigProblem> Problems,
    IReadOnlyList<KeyOrigin> Keys,
    string NormalisedText,
    IReadOnlyList<string> Notes);

/// <summary>
/// Reads HOCON text as written, before Akka's parser does, to find what that parser would read differently
/// or not at all: two settings on one line that it joins into one value (<c>data-dir = "x" allow = [...]</c>),
/// a list item without a comma (<c>["a" "b"]</c> is one item "a b"), a block that ends early or never, a
/// string that is not closed, text after the file's outer block, a key set twice. It also records where each
/// key was written, for unknown-key checks and for the origin of each value. It does not build values: Akka's
/// parser does that afterwards, on <see cref="HoconLintResult.NormalisedText"/>, which differs from the text
/// only where a comma follows an object (<c>local { stratum = 10 }, data-dir = "x"</c>): valid HOCON that
/// Akka 1.5 refuses, so that comma becomes a newline (the same meaning).
/// </summary>
public sealed class HoconLint
{
    private const string NotInUnquoted = "$\"{}[]:=,+#`^?!@*&\\";
    private readonly string _text;
    private readonly List<int> _lineStarts = [0];
    private readonly List<ConfigProblem> _problems = [];
    private readonly List<KeyOrigin> _keys = [];
    private readonly Dictionary<string, KeyOrigin> _leaves = new(StringComparer.Ordinal);
    private readonly List<int> _commasAfterObjects = [];
    private int _pos;

    private HoconLint(string text)
    {
        _text = text;
        for (int i = 0; i < text.Length; i++)
            if (text[i] == '\n') _lineStarts.Add(i + 1);
    }

    /// <summary>Reads the text; never throws on any input.</summary>
    public static HoconLintResult Read(string text)
    {
        var lint = new HoconLint(text);
        lint.ReadRoot();
        var notes = new List<string>();
        var normalised = new StringBuilder(text);
        foreach (int comma in lint._commasAfterObjects)
        {
            normalised[comma] = '\n';
            var (line, column) = lint.Position(comma);
            notes.Add($"line {line}, column {column}: the comma after an object is read as a line break (Akka's parser refuses it; HOCON allows it)");
        }
        return new HoconLintResult(lint._problems, lint._keys, normalised.ToString(), notes);
    }

    private (int Line, int Column) Position(int index)
    {
        int line = _lineStarts.BinarySearch(index);
        if (line < 0) line = ~line - 1;
        return (line + 1, index - _lineStarts[line] + 1);
    }

    private void Problem(int index, string key, string message)
    {
        var (line, column) = Position(Math.Min(index, _text.Length));
        // One problem per place is enough: recovery may see the same spot twice.
        if (_problems.Any(p => p.Line == line && p.Column == column)) return;
        _problems.Add(new ConfigProblem(line, column, key, message));
    }

    private bool AtEnd => _pos >= _text.Length;
    private char Peek(int ahead = 0) => _pos + ahead < _text.Length ? _text[_pos + ahead] : '\0';
    private bool AtComment => Peek() == '#' || (Peek() == '/' && Peek(1) == '/');

    private void SkipSpaces()
    {
        while (!AtEnd && Peek() != '\n' && (char.IsWhiteSpace(Peek()) || Peek() == '\uFEFF')) _pos++;
        if (AtComment) SkipToLineEnd();
    }

    private void SkipBlank()
    {
        while (!AtEnd)
        {
            if (char.IsWhiteSpace(Peek()) || Peek() == '\uFEFF') _pos++;
            else if (AtComment) SkipToLineEnd();
            else break;
        }
    }

    private void SkipToLineEnd()
    {
        while (!AtEnd && Peek() != '\n') _pos++;
    }

    private bool AtLineEnd => AtEnd || Peek() == '\n' || Peek() == '\r' || AtComment;

    private void ReadRoot()
    {
        SkipBlank();
        if (Peek() == '{')
        {
            int open = _pos++;
            ReadObjectBody("", open);
            SkipBlank();
            if (!AtEnd)
                Problem(_pos, "", "text after the closing } of the file's outer block (opened at line " + Position(open).Line
                    + "); Akka's parser stops there and ignores the rest: remove the outer braces or this text");
            return;
        }
        ReadObjectBody("", null);
    }

    private static string Join(string prefix, string segment) => prefix.Length == 0 ? segment : prefix + "." + segment;

    /// <summary>Fields until the closing brace (or the end for the file's root).</summary>
    private void ReadObjectBody(string prefix, int? open)
    {
        while (true)
        {
            SkipBlank();
            if (AtEnd)
            {
                if (open is { } o)
                {
                    var (line, column) = Position(o);
                    Problem(_text.Length, prefix, $"the block opened at line {line}, column {column} is never closed: a }} is missing");
                }
                return;
            }
            char c = Peek();
            if (c == '}')
            {
                if (open is not null) { _pos++; return; }
                Problem(_pos, "", "this } closes no block: a block above ended early (one } too many, or a { missing); every key after it would be read outside timemesh { }");
                _pos++;
                continue;
            }
            if (c == ',')
            {
                Problem(_pos, prefix, "a comma with no setting before it");
                _pos++;
                continue;
            }
            if (MatchesWord("include"))
            {
                Problem(_pos, "", "include is not supported: put the settings in this file");
                SkipToLineEnd();
                continue;
            }
            ReadField(prefix);
        }
    }

    private bool MatchesWord(string word) =>
        string.CompareOrdinal(_text, _pos, word, 0, word.Length) == 0
        && _pos + word.Length < _text.Length && (_text[_pos + word.Length] is ' ' or '\t');

    /// <summary>A key path: unquoted segments split at dots, quoted segments kept whole. Null when no key starts here.</summary>
    private List<string>? ReadKey()
    {
        var segments = new List<string>();
        var current = new StringBuilder();
        bool any = false;
        while (!AtEnd)
        {
            char c = Peek();
            if (c == '"')
            {
                string? quoted = ReadQuoted("");
                if (quoted is null) return null;
                current.Append(quoted);
                any = true;
            }
            else if (c == '.')
            {
                segments.Add(current.ToString());
                current.Clear();
                _pos++;
            }
            else if (!char.IsWhiteSpace(c) && !NotInUnquoted.Contains(c) && !AtComment)
            {
                current.Append(c);
                _pos++;
                any = true;
            }
            else break;
        }
        if (!any) return null;
        segments.Add(current.ToString());
        return segments;
    }

    private void ReadField(string prefix)
    {
        int start = _pos;
        var segments = ReadKey();
        if (segments is null)
        {
            if (_pos == start)
            {
                Problem(_pos, prefix, $"expected a key, found '{Peek()}'");
                SkipToLineEnd();
            }
            return;
        }
        string keyText = _text[start.._pos];
        if (segments.Any(s => s.Length == 0))
        {
            Problem(start, Join(prefix, keyText), "a key with an empty part (two dots, or a dot at either end)");
            SkipToLineEnd();
            return;
        }
        string path = prefix;
        foreach (string segment in segments) path = Join(path, segment);
        SkipSpaces();
        var (line, column) = Position(start);
        char c = Peek();
        bool objectValue;
        if (c == '{')
        {
            Record(path, line, column, isObject: true, append: false);
            int open = _pos++;
            ReadObjectBody(path, open);
            objectValue = true;
        }
        else if (c is '=' or ':' || (c == '+' && Peek(1) == '='))
        {
            if (c == '+')
            {
                // Akka 1.5's parser drops the key (checked: allow += "10.0.0.0/8" leaves allow unset).
                Problem(_pos, path, $"+= is not supported by Akka's HOCON parser (it drops the key): write the whole list, {keyText} = [ ... ]");
                SkipToLineEnd();
                return;
            }
            bool append = false;
            _pos++;
            SkipBlank();
            if (AtEnd || Peek() is '}' or ',')
            {
                Problem(_pos, path, "the key has no value after =");
                Record(path, line, column, isObject: false, append);
                return;
            }
            objectValue = Peek() == '{';
            if (Peek() == '$' && Peek(1) == '{' && Peek(2) == '?')
            {
                // Checked against Akka 1.5.73: "data-dir = "/x"" then "data-dir = ${?UNSET}" leaves data-dir an empty object.
                Problem(_pos, path, "an optional substitution ${?...} is not read reliably by Akka's HOCON parser (an unset variable leaves an empty object): write the value itself");
                _keys.Add(new KeyOrigin(path, line, column, false));
                SkipToLineEnd();
                return;
            }
            Record(path, line, column, objectValue, append);
            if (ReadValue(path, inList: false) == ValueEnd.NewSettingOnSameLine) return;
        }
        else
        {
            Problem(_pos, path, AtLineEnd
                ? $"the key has no value: write {keyText} = value, or {keyText} {{ ... }}"
                : $"expected = or {{ after the key, found '{c}'");
            Record(path, line, column, isObject: false, append: false);
            SkipToLineEnd();
            return;
        }
        AfterValue(path, objectValue);
    }

    /// <summary>What may follow a field's value on its line: a comma, a comment, the line's end, or a closing brace.</summary>
    private void AfterValue(string path, bool objectValue)
    {
        SkipSpaces();
        if (AtEnd || Peek() is '\n' or '\r' or '}') return;
        if (Peek() == ',')
        {
            if (objectValue) _commasAfterObjects.Add(_pos);
            _pos++;
            return;
        }
        int next = _pos;
        string word = PeekWord();
        Problem(next, path, $"`{word}` starts a second setting on the same line with no comma before it; put a comma or a line break before `{word}`");
    }

    private string PeekWord()
    {
        int end = _pos;
        while (end < _text.Length && !char.IsWhiteSpace(_text[end]) && _text[end] is not ('=' or ':' or '{' or ',')) end++;
        return end > _pos ? _text[_pos..end] : _text[_pos].ToString();
    }

    private void Record(string path, int line, int column, bool isObject, bool append)
    {
        var origin = new KeyOrigin(path, line, column, isObject);
        _keys.Add(origin);
        if (isObject || append) return;
        if (_leaves.TryGetValue(path, out var earlier))
            Problem(_lineStarts[line - 1] + column - 1, path,
                $"set twice (line {earlier.Line} and line {line}); HOCON silently keeps the last: remove one");
        else _leaves[path] = origin;
    }

    private enum ValueEnd { Done, NewSettingOnSameLine }

    /// <summary>One value: an object, a list, or a run of strings, numbers and substitutions up to the line's end, a comma or a bracket.</summary>
    private ValueEnd ReadValue(string path, bool inList)
    {
        char c = Peek();
        if (c == '{')
        {
            int open = _pos++;
            ReadObjectBody(path, open);
            return ValueEnd.Done;
        }
        if (c == '[')
        {
            ReadList(path);
            return ValueEnd.Done;
        }
        return ReadSimple(path, inList);
    }

    private void ReadList(string path)
    {
        int open = _pos++;
        int index = 0;
        while (true)
        {
            int beforeBlank = _pos;
            SkipBlank();
            bool onNewLine = _text.AsSpan(beforeBlank, _pos - beforeBlank).Contains('\n');
            if (AtEnd)
            {
                var (line, column) = Position(open);
                Problem(_text.Length, path, $"the list opened at line {line}, column {column} is never closed: a ] is missing");
                return;
            }
            char c = Peek();
            if (c == ']') { _pos++; return; }
            if (c == ',')
            {
                Problem(_pos, path, "a comma with no list item before it");
                _pos++;
                continue;
            }
            if (c == '}')
            {
                var (line, column) = Position(open);
                // Akka's parser spins forever on this one (HoconText).
                Problem(_pos, path, $"a }} inside the list opened at line {line}, column {column}: a ] is missing before it");
                return;
            }
            if (c != '{' && c != '[' && c != '"' && NotInUnquoted.Contains(c) && !(c == '$' && Peek(1) == '{'))
            {
                Problem(_pos, path, $"'{c}' cannot start a list item; a list is [\"a\", \"b\"]");
                while (!AtEnd && Peek() is not (']' or '\n')) _pos++;
                if (Peek() == ']') _pos++;
                return;
            }
            if (onNewLine && c is not ('{' or '[' or '"') && LooksLikeNewSetting())
            {
                var (line, column) = Position(open);
                Problem(_pos, path, $"the list opened at line {line}, column {column} is not closed: a ] is missing before `{PeekWord()}`");
                return;
            }
            string itemPath = $"{path}[{index++}]";
            if (c == '{')
            {
                _keys.Add(new KeyOrigin(itemPath, Position(_pos).Line, Position(_pos).Column, true));
                ReadValue(itemPath, inList: true);
            }
            else if (ReadValue(itemPath, inList: true) == ValueEnd.NewSettingOnSameLine) return;
            SkipSpaces();
            if (AtEnd) continue;
            c = Peek();
            if (c == ',') { _pos++; continue; }
            if (c is ']' or '\n' or '\r') continue;
            if (c == '}') continue;
            Problem(_pos, path, "two list items with no comma between them; write [\"a\", \"b\"]");
        }
    }

    /// <summary>A substitution's body that is a path and nothing else: unquoted path characters and quoted segments.</summary>
    private static bool IsBarePath(ReadOnlySpan<char> body)
    {
        for (int i = 0; i < body.Length; i++)
        {
            char c = body[i];
            if (c == '"')
            {
                for (i++; i < body.Length && body[i] != '"'; i++)
                    if (body[i] == '\\') i++;
                if (i >= body.Length) return false;
                continue;
            }
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')) return false;
        }
        return true;
    }

    /// <summary>Strings, numbers, words and substitutions up to the end of the value.</summary>
    private ValueEnd ReadSimple(string path, bool inList)
    {
        int tokens = 0;
        int start = _pos;
        while (true)
        {
            int before = _pos;
            SkipSpacesOnly();
            bool spaced = _pos > before;
            if (AtLineEnd) break;
            char c = Peek();
            if (c is ',' or '}' or ']') break;
            if (tokens > 0 && spaced && inList && c is '"' or '[' or '{')
            {
                Problem(_pos, path, "two list items with no comma between them; HOCON joins them into one item: write [\"a\", \"b\"]");
                // Read on as the parser would, so that the list's end is still found.
            }
            if (tokens > 0 && spaced && LooksLikeNewSetting())
            {
                string word = PeekWord();
                string owner = path.Contains('[') ? path[..path.IndexOf('[')] : path;
                Problem(_pos, owner, $"`{word}` starts a second setting on the same line with no comma before it: "
                    + $"Akka's parser would join it into the value of {owner} ({_text[start..before].Trim()} {word} ...) and lose the setting; put a comma or a line break before `{word}`");
                return ValueEnd.NewSettingOnSameLine;
            }
            if (c == '"')
            {
                if (ReadQuoted(path) is null) { SkipToLineEnd(); return ValueEnd.Done; }
            }
            else if (c == '$' && Peek(1) == '{')
            {
                int open = _pos;
                while (!AtEnd && Peek() is not ('}' or '\n')) _pos++;
                if (Peek() != '}')
                {
                    Problem(open, path, "the substitution ${ is not closed on its line");
                    return ValueEnd.Done;
                }
                _pos++;
                // Inside a list Akka's parser never returns on a substitution that is not a bare path: ${?a}, ${ a },
                // ${a = 1} (found by tests/fuzz, configcheck target; checked against Akka 1.5.73, where [${a}] and
                // [${"a"}] read fine).
                if (inList && !IsBarePath(_text.AsSpan(open + 2, _pos - open - 3)))
                {
                    Problem(open, path, $"`{_text[open.._pos]}` inside a list: Akka's HOCON parser reads only a bare path there, like ${{a.b}} (no spaces, no ?, no =); write the value itself");
                    while (!AtEnd && Peek() is not (']' or '\n')) _pos++;
                    if (Peek() == ']') _pos++;
                    return ValueEnd.Done;
                }
            }
            else if (c is '{' or '[')
            {
                if (tokens > 0)
                {
                    Problem(_pos, path, $"'{c}' after a value on the same line; is a comma or a line break missing?");
                    SkipToLineEnd();
                    return ValueEnd.Done;
                }
                ReadValue(path, inList);
            }
            else if (NotInUnquoted.Contains(c))
            {
                Problem(_pos, path, $"'{c}' is not allowed in an unquoted value; write the value in quotes (\"...\")");
                if (inList) while (!AtEnd && Peek() is not (']' or '\n')) _pos++;
                else SkipToLineEnd();
                return ValueEnd.Done;
            }
            else
            {
                while (!AtEnd && !char.IsWhiteSpace(Peek()) && !NotInUnquoted.Contains(Peek()) && !AtComment) _pos++;
            }
            // Every round consumes something (a hang found by tests/fuzz, configcheck target: a vertical tab).
            if (_pos == before) _pos++;
            tokens++;
        }
        return ValueEnd.Done;
    }

    private void SkipSpacesOnly()
    {
        while (!AtEnd && Peek() is not ('\n' or '\r') && (char.IsWhiteSpace(Peek()) || Peek() == '\uFEFF')) _pos++;
    }

    /// <summary>A key (unquoted or quoted) followed by =, :, += or {.</summary>
    private bool LooksLikeNewSetting()
    {
        int save = _pos;
        try
        {
            if (Peek() == '"')
            {
                _pos++;
                while (!AtEnd && Peek() is not ('"' or '\n')) _pos += Peek() == '\\' ? 2 : 1;
                if (Peek() != '"') return false;
                _pos++;
            }
            else
            {
                int wordStart = _pos;
                while (!AtEnd && !char.IsWhiteSpace(Peek()) && !NotInUnquoted.Contains(Peek())) _pos++;
                if (_pos == wordStart) return false;
            }
            SkipSpacesOnly();
            return Peek() is '=' or ':' or '{' || (Peek() == '+' && Peek(1) == '=');
        }
        finally
        {
            _pos = save;
        }
    }

    /// <summary>A quoted string ("..." on one line, or """...""" over lines); null, with a problem, when it is not closed.</summary>
    private string? ReadQuoted(string path)
    {
        int open = _pos;
        if (Peek(1) == '"' && Peek(2) == '"')
        {
            int close = _text.IndexOf("\"\"\"", _pos + 3, StringComparison.Ordinal);
            if (close < 0)
            {
                Problem(open, path, "the \"\"\" string is never closed");
                _pos = _text.Length;
                return null;
            }
            _pos = close + 3;
            while (Peek() == '"') _pos++;
            return _text[(open + 3)..close];
        }
        _pos++;
        var value = new StringBuilder();
        while (!AtEnd && Peek() != '"' && Peek() != '\n')
        {
            if (Peek() == '\\' && _pos + 1 < _text.Length) { value.Append(_text[_pos + 1]); _pos += 2; }
            else value.Append(_text[_pos++]);
        }
        if (Peek() != '"')
        {
            Problem(open, path, "the string opened here is not closed on its line: a \" is missing");
            return null;
        }
        _pos++;
        return value.ToString();
    }
}
