using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Import;

/// <summary>
/// Symmetric keys and the authentication policy: <c>keyfile</c>, the sources' <c>key N</c>, <c>authselectmode</c>.
/// A source keeps its key only with a keyfile (TimeMesh reads the same file format); a key that cannot be kept,
/// or a selection that would give unauthenticated sources more say than chronyd does, is insecure.
/// </summary>
public static partial class ChronyConfImporter
{
    private sealed partial class Translation
    {
        private (int Line, string Text, string Path)? _keyFile;
        private (int Line, string Text, string Mode)? _authSelectMode;

        /// <summary>keyfile, authselectmode.</summary>
        private bool KeyDirective(int line, string name, string[] args, string text)
        {
            switch (name)
            {
                case "keyfile":
                    if (args.Length != 1)
                    {
                        Invalid(line, text, "keyfile takes one argument");
                        return true;
                    }
                    if (_keyFile is { } earlier) Note(earlier.Line, earlier.Text, $"overridden by line {line} (chronyd keeps the last)");
                    _keyFile = (line, text, args[0]);
                    return true;
                case "authselectmode":
                    string? mode = args.Length == 1 ? args[0].ToLowerInvariant() : null;
                    // chronyd compares the mode case-sensitively.
                    if (args.Length != 1 || args[0] != mode || mode is not ("require" or "prefer" or "mix" or "ignore"))
                    {
                        Invalid(line, text, "authselectmode takes require, prefer, mix or ignore");
                        return true;
                    }
                    if (_authSelectMode is { } earlierMode) Note(earlierMode.Line, earlierMode.Text, $"overridden by line {line} (chronyd keeps the last)");
                    _authSelectMode = (line, text, mode);
                    return true;
            }
            return false;
        }

        /// <summary>A source's key is kept when chrony.conf names a keyfile; without one chronyd cannot authenticate it either.</summary>
        private void ResolveKeys()
        {
            foreach (var source in _sources.Where(s => s.KeyId is not null))
            {
                if (_keyFile is not null)
                {
                    source.Authenticated = true;
                    continue;
                }
                Insecure(source.Line, $"key {source.KeyId} ({source.Describe})",
                    "chrony.conf names no keyfile, so TimeMesh has no key to authenticate this source with; it would be polled unauthenticated (add the keyfile line, or drop key to poll it unauthenticated on purpose)");
            }
        }

        /// <summary>
        /// chronyd's authselectmode (default mix) when authenticated and unauthenticated sources are mixed: require and
        /// prefer make the unauthenticated ones noselect (left out here, as noselect is); mix lets them count only when
        /// they agree with the authenticated ones (require and trust), which TimeMesh's selection cannot say.
        /// </summary>
        private void ResolveAuthSelectMode()
        {
            string mode = _authSelectMode?.Mode ?? "mix";
            int modeLine = _authSelectMode?.Line ?? 0;
            var selectable = _sources.Where(s => s.Selectable).ToList();
            foreach (var s in selectable) s.Authenticated |= s.Nts;
            var unauthenticated = selectable.Where(s => !s.Authenticated).ToList();
            bool mixed = unauthenticated.Count > 0 && unauthenticated.Count < selectable.Count;
            if (mode == "require" || (mode == "prefer" && mixed))
            {
                foreach (var s in unauthenticated)
                {
                    s.Selectable = false;
                    Note(s.Line, s.Text, $"not translated: authselectmode {mode} (line {modeLine}) makes this unauthenticated source noselect in chronyd; it is left out");
                }
                return;
            }
            if (mode == "ignore" || !mixed) return;
            var authenticated = selectable.Where(a => a.Authenticated).Select(a => a.Line).ToList();
            string authenticatedLines = (authenticated.Count == 1 ? "line " : "lines ") + string.Join(", ", authenticated);
            string where = _authSelectMode is null ? "chronyd's default authselectmode mix" : $"authselectmode mix (line {modeLine})";
            foreach (var s in unauthenticated)
                Insecure(s.Line, s.Text,
                    $"{where} lets this unauthenticated source count only when it agrees with the authenticated sources ({authenticatedLines}); " +
                    "TimeMesh selects among all sources alike, so it could outvote them (remove it, or add `authselectmode prefer` to leave it out)");
        }

        private void RenderKeys(List<string> body)
        {
            if (_keyFile is not { } keyFile) return;
            if (!_sources.Any(s => s.KeyId is not null && s.Selectable))
            {
                // chronyd also answers clients' MACs under these keys; without the keyfile TimeMesh answers no request
                // that carries a MAC, which refuses those clients rather than serving them unauthenticated.
                Note(keyFile.Line, keyFile.Text, "not translated: no source uses a key, and TimeMesh answers no request carrying a MAC without a keyfile (it never answers one unauthenticated); set timemesh.keyfile to this file to serve such clients (docs/security.md)");
                return;
            }
            body.Add($"# line {keyFile.Line}: {keyFile.Text}");
            body.Add("# The same file, unchanged: TimeMesh reads chrony's key format. It must be readable by the node's user only");
            body.Add("# (chmod 600; chrony's usual 0640 root:_chrony is refused at start, docs/security.md).");
            body.Add($"keyfile = {HoconText.Quote(keyFile.Path)}");
            _machineFileKeys.Add("timemesh.keyfile");
        }

        /// <summary>The source's authentication keys, written after its other fields.</summary>
        private IEnumerable<string> AuthenticationFields(Source s)
        {
            if (s.Nts)
            {
                yield return "nts = on";
                if (s.NtsKePort is { } port) yield return $"ntsport = {port}";
            }
            else if (s.KeyId is { } id && _keyFile is not null)
            {
                yield return $"key = {id}";
            }
        }
    }
}
