using System.Globalization;
using System.Net;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Import;

/// <summary>Who is served: port, bindaddress, allow/deny, and the command port (cmdport, bindcmdaddress, cmdallow/cmddeny).</summary>
public static partial class ChronyConfImporter
{
    private sealed partial class Translation
    {
        private readonly ChronyAccessTable _access = new();
        private readonly List<(int Line, string Text)> _accessLines = new();
        private int? _ntpPort;
        private int _ntpPortLine;
        private (int Line, string Text, IPAddress Address)? _bind4, _bind6;
        // The command port: cmdallow/cmddeny in their own table, bindcmdaddress kept per family as chronyd does.
        private readonly ChronyAccessTable _cmdAccess = new();
        private readonly List<(int Line, string Text)> _cmdAccessLines = new();
        private (int Line, string Text, IPAddress Address)? _cmdBind4, _cmdBind6;


        private void ParseAllowDeny(int line, string text, bool allow, string[] args, bool command = false)
        {
            string verb = (command ? "cmd" : "") + (allow ? "allow" : "deny");
            var table = command ? _cmdAccess : _access;
            var accessLines = command ? _cmdAccessLines : _accessLines;
            bool all = false;
            int at = 0;
            // chrony compares "all" case-sensitively; "ALL" would be a host name to it.
            if (args.Length > 0 && args[0] == "all")
            {
                all = true;
                at = 1;
            }
            if (args.Length - at > 1)
            {
                Invalid(line, text, $"{verb} takes at most one subnet");
                return;
            }
            if (args.Length == at)
            {
                table.Apply(line, allow, all, null, 0);
                accessLines.Add((line, text));
                return;
            }
            string spec = args[at];
            int? bits = null;
            string net = spec;
            int slash = spec.IndexOf('/');
            if (slash >= 0)
            {
                if (!int.TryParse(spec[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int b))
                {
                    Invalid(line, text, $"'{spec}' has no valid prefix length");
                    return;
                }
                bits = b;
                net = spec[..slash];
            }
            IPAddress? address = ParseChronyAddress(net, out int defaultBits);
            if (address is null)
            {
                if (bits is null && net.Length > 0 && !net.All(c => char.IsAsciiDigit(c) || c == '.'))
                    Note(line, text, $"not translated: '{net}' is a host name; chronyd resolves it once at start, TimeMesh takes addresses and subnets only (write its address)");
                else
                    Invalid(line, text, $"'{spec}' is not an address or subnet");
                return;
            }
            if (address.IsIPv4MappedToIPv6)
            {
                Note(line, text, "not translated: TimeMesh matches IPv4 clients by their IPv4 address, not by an IPv4-mapped IPv6 subnet");
                return;
            }
            if (!table.Apply(line, allow, all, address, bits ?? defaultBits))
            {
                Invalid(line, text, $"prefix length {bits} is too long for the address");
                return;
            }
            accessLines.Add((line, text));
        }

        /// <summary>chrony's address forms: a full IPv4 or IPv6 address, or 1-3 dotted IPv4 numbers ("192.168" = /16).</summary>
        private static IPAddress? ParseChronyAddress(string text, out int defaultBits)
        {
            defaultBits = 0;
            if (text.Contains(':'))
            {
                if (!IPAddress.TryParse(text, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || v6.ScopeId != 0)
                    return null;
                defaultBits = 128;
                return v6;
            }
            string[] parts = text.Split('.');
            if (parts.Length is < 1 or > 4) return null;
            var octets = new byte[4];
            for (int i = 0; i < parts.Length; i++)
            {
                if (parts[i].Length == 0 || !parts[i].All(char.IsAsciiDigit)) return null;
                if (!uint.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out uint octet) || octet > 255) return null;
                // A full dotted quad goes through inet_pton, which refuses leading zeros.
                if (parts.Length == 4 && parts[i].Length > 1 && parts[i][0] == '0') return null;
                octets[i] = (byte)octet;
            }
            defaultBits = parts.Length * 8;
            return new IPAddress(octets);
        }


        private void ParseBindAddress(int line, string text, string[] args)
        {
            if (args.Length != 1 || ParseChronyAddress(args[0], out int bits) is not { } address || bits is not (32 or 128))
            {
                Invalid(line, text, "bindaddress takes one IP address");
                return;
            }
            KeepLastOfFamily("bindaddress", line, text, address, ref _bind4, ref _bind6);
        }

        /// <summary>chronyd keeps the last address of each family a bind directive names; an earlier one is noted as overridden.</summary>
        private void KeepLastOfFamily(string directive, int line, string text, IPAddress address,
            ref (int Line, string Text, IPAddress Address)? v4, ref (int Line, string Text, IPAddress Address)? v6)
        {
            bool ipv4 = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
            ref var kept = ref ipv4 ? ref v4 : ref v6;
            if (kept is { } earlier) Note(earlier.Line, earlier.Text, $"overridden by line {line} (chronyd keeps the last IPv{(ipv4 ? 4 : 6)} {directive})");
            kept = (line, text, address);
        }

        /// <summary>chrony's bindcmdaddress: an IP address (the last of each family wins) or a Unix socket path.</summary>
        private void ParseBindCmdAddress(int line, string text, string[] args)
        {
            if (args.Length == 1 && args[0].StartsWith('/'))
            {
                Note(line, text, "not translated: TimeMesh's Unix socket is timemesh.control.socket (HTTP, read by the timemesh CLI); chronyc reads the node over UDP (cmdport)");
                return;
            }
            if (args.Length != 1 || ParseChronyAddress(args[0], out int bits) is not { } address || bits is not (32 or 128))
            {
                Invalid(line, text, "bindcmdaddress takes one IP address or a socket path");
                return;
            }
            KeepLastOfFamily("bindcmdaddress", line, text, address, ref _cmdBind4, ref _cmdBind6);
        }

        private void RenderCommandPort(List<string> body)
        {
            if (_singles.TryGetValue("cmdport", out var port) && port.Hocon.Count > 0) Emit(body, port);
            if (_cmdBind4 is not null || _cmdBind6 is not null)
            {
                if (_cmdBind4 is { } b4) Comment(body, b4.Line, b4.Text);
                if (_cmdBind6 is { } b6) Comment(body, b6.Line, b6.Text);
                body.Add($"bindcmdaddress = [{HoconText.Quote(_cmdBind4?.Address.ToString() ?? "127.0.0.1")}, {HoconText.Quote(_cmdBind6?.Address.ToString() ?? "::1")}]");
            }
            if (_cmdAccessLines.Count == 0) return;
            foreach (var (line, text) in _cmdAccessLines)
            {
                Comment(body, line, text);
                if (_cmdAccess.OverriddenBy(line) is { } by)
                    Note(line, text, $"no effect: line {by} overrides it (chronyd applies cmdallow/cmddeny in order)");
            }
            var rules = _cmdAccess.Rules();
            body.Add("# chronyd's cmdallow/cmddeny applied in file order, as most-specific-wins lists (127.0.0.1 and ::1 may always ask).");
            body.Add("cmdallow = [" + string.Join(", ", rules.Where(r => r.Allow).Select(r => HoconText.Quote(r.Subnet))) + "]");
            body.Add("cmddeny = [" + string.Join(", ", rules.Where(r => !r.Allow).Select(r => HoconText.Quote(r.Subnet))) + "]");
        }

        private static void Comment(List<string> body, int line, string text) => body.Add($"# line {line}: {text}");


        private void RenderAccess(List<string> body)
        {
            if (_accessLines.Count == 0) return;
            foreach (var (line, text) in _accessLines)
            {
                body.Add($"# line {line}: {text}");
                if (_access.OverriddenBy(line) is { } by)
                    Note(line, text, $"no effect: line {by} overrides it (chronyd applies allow/deny in order)");
            }
            var rules = _access.Rules();
            body.Add("# chronyd's allow/deny applied in file order, written as TimeMesh's most-specific-wins lists.");
            body.Add("allow = [" + string.Join(", ", rules.Where(r => r.Allow).Select(r => HoconText.Quote(r.Subnet))) + "]");
            body.Add("deny = [" + string.Join(", ", rules.Where(r => !r.Allow).Select(r => HoconText.Quote(r.Subnet))) + "]");
        }

        /// <summary>allow, deny, port, bindaddress and their command-port counterparts.</summary>
        private bool AccessDirective(int line, string name, string[] args, string text)
        {
            switch (name)
            {
                case "allow":
                case "deny":
                    ParseAllowDeny(line, text, name == "allow", args);
                    return true;
                case "cmdallow":
                case "cmddeny":
                    ParseAllowDeny(line, text, name == "cmdallow", args, command: true);
                    return true;
                case "cmdport":
                    if (Int(line, text, args) is not { } cmdPort) return true;
                    if (cmdPort is < 0 or > 65535)
                        Keep(line, text, "cmdport", [], "not translated: not a UDP port; TimeMesh's default 323 applies");
                    else
                        Keep(line, text, "cmdport", [$"cmdport = {cmdPort}"]);
                    return true;
                case "bindcmdaddress":
                    ParseBindCmdAddress(line, text, args);
                    return true;
                case "port":
                    if (Int(line, text, args) is not { } port) return true;
                    if (port is < 0 or > 65535)
                    {
                        Note(line, text, "not translated: not a UDP port (chronyd 4.3 takes it anyway, later versions refuse it); the listen port is unchanged");
                        return true;
                    }
                    if (_ntpPort is not null) Note(_ntpPortLine, $"port {_ntpPort}", $"overridden by line {line} (chronyd keeps the last)");
                    _ntpPort = (int)port;
                    _ntpPortLine = line;
                    return true;
                case "bindaddress":
                    ParseBindAddress(line, text, args);
                    return true;
            }
            return false;
        }

        /// <summary>Listening: chrony's port and bindaddress directives together, then allow/deny.</summary>
        private void RenderListen(List<string> body)
        {
            void Comment(int line, string text) => body.Add($"# line {line}: {text}");
            // Listening: chrony's port and bindaddress directives together.
            if (_ntpPort == 0)
            {
                Comment(_ntpPortLine, "port 0");
                body.Add("# chronyd opens no server port; TimeMesh always has one, so it listens on a free loopback port and answers no one.");
                body.Add("listen = [\"127.0.0.1:0\"]");
                body.Add("allow = []");
                body.Add("deny = []");
                Note(_ntpPortLine, "port 0", "translated as a closed server: listen on a free loopback port with allow = [] (TimeMesh cannot run without a server socket)");
                foreach (var (line, text) in _accessLines)
                    Note(line, text, $"no effect: port 0 (line {_ntpPortLine}) closes chronyd's server port");
                if (_bind4 is { } b4) Note(b4.Line, b4.Text, $"no effect: port 0 (line {_ntpPortLine}) closes chronyd's server port");
                if (_bind6 is { } b6) Note(b6.Line, b6.Text, $"no effect: port 0 (line {_ntpPortLine}) closes chronyd's server port");
            }
            else
            {
                if (_ntpPort is not null || _bind4 is not null || _bind6 is not null)
                {
                    int port = _ntpPort ?? 123;
                    if (_ntpPort is not null) Comment(_ntpPortLine, $"port {port}");
                    if (_bind4 is { } b4) Comment(b4.Line, b4.Text);
                    if (_bind6 is { } b6) Comment(b6.Line, b6.Text);
                    string v4 = _bind4?.Address.ToString() ?? "0.0.0.0";
                    string v6 = _bind6?.Address.ToString() ?? "::";
                    body.Add($"listen = [\"{v4}:{port}\", \"[{v6}]:{port}\"]");
                }
                RenderAccess(body);
            }

        }
    }
}
