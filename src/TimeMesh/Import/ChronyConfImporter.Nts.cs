using System.Globalization;
using TimeMesh.Node.Config;

namespace TimeMesh.Cli.Import;

/// <summary>
/// NTS (RFC 8915): the client's trust (<c>ntstrustedcerts</c>, <c>nosystemcert</c>, a source's <c>certset</c>) and the
/// node's NTS-KE server (<c>ntsserverkey</c>, <c>ntsservercert</c>, <c>ntsport</c>, <c>ntsrotate</c>,
/// <c>maxntsconnections</c>, <c>ntsntpserver</c>), written as timemesh.nts. TimeMesh trusts one PEM file for every
/// NTS source, instead of the system's roots; trust it cannot express as narrowly as chronyd's is insecure.
/// </summary>
public static partial class ChronyConfImporter
{
    private sealed record NtsLine(int Line, string Text, string Value);

    private sealed partial class Translation
    {
        private readonly List<(int Line, string Text, uint Set, string Path)> _trustedCerts = new();
        private (int Line, string Text)? _noSystemCert;
        private readonly List<NtsLine> _serverKeys = new(), _serverCerts = new();
        private NtsLine? _ntsPort, _ntsRotate, _maxNtsConnections, _ntsNtpServer;
        private string? _trustedCertificatesFile;

        /// <summary>ntstrustedcerts, nosystemcert and the NTS server directives.</summary>
        private bool NtsDirective(int line, string name, string[] args, string text)
        {
            switch (name)
            {
                case "ntstrustedcerts":
                    // chrony: ntstrustedcerts [SET-ID] FILE|DIRECTORY; every line adds to its set.
                    if (args.Length == 1) _trustedCerts.Add((line, text, 0, args[0]));
                    else if (args.Length == 2 && uint.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint set))
                        _trustedCerts.Add((line, text, set, args[1]));
                    else Invalid(line, text, "ntstrustedcerts takes an optional set id and a file or directory");
                    return true;
                case "nosystemcert":
                    if (args.Length != 0) Invalid(line, text, "nosystemcert takes no arguments");
                    else _noSystemCert = (line, text);
                    return true;
                case "ntsserverkey":
                case "ntsservercert":
                    if (args.Length != 1) Invalid(line, text, $"{name} takes one argument");
                    else (name == "ntsserverkey" ? _serverKeys : _serverCerts).Add(new NtsLine(line, text, args[0]));
                    return true;
                case "ntsport":
                    if (Int(line, text, args) is { } port) _ntsPort = LastNts(_ntsPort, new NtsLine(line, text, port.ToString(CultureInfo.InvariantCulture)));
                    return true;
                case "ntsrotate":
                    if (Int(line, text, args) is { } rotate) _ntsRotate = LastNts(_ntsRotate, new NtsLine(line, text, rotate.ToString(CultureInfo.InvariantCulture)));
                    return true;
                case "maxntsconnections":
                    if (Int(line, text, args) is { } connections) _maxNtsConnections = LastNts(_maxNtsConnections, new NtsLine(line, text, connections.ToString(CultureInfo.InvariantCulture)));
                    return true;
                case "ntsntpserver":
                    if (args.Length != 1) Invalid(line, text, "ntsntpserver takes one argument");
                    else _ntsNtpServer = LastNts(_ntsNtpServer, new NtsLine(line, text, args[0]));
                    return true;
            }
            return false;
        }

        private NtsLine LastNts(NtsLine? earlier, NtsLine later)
        {
            if (earlier is not null) Note(earlier.Line, earlier.Text, $"overridden by line {later.Line} (chronyd keeps the last)");
            return later;
        }

        /// <summary>
        /// Which CAs the NTS sources trust. chronyd: set 0 is the system's roots (unless nosystemcert) plus its
        /// ntstrustedcerts files, set N only its files, each source the set of its certset. TimeMesh: one PEM file
        /// (replacing the system's roots) or, when none is set, the system's roots.
        /// </summary>
        private void ResolveNtsTrust()
        {
            var ntsSources = _sources.Where(s => s.Nts && s.Selectable).ToList();
            if (ntsSources.Count == 0)
            {
                foreach (var t in _trustedCerts) Note(t.Line, t.Text, "not translated: no source uses nts");
                if (_noSystemCert is { } nsc) Note(nsc.Line, nsc.Text, "not translated: no source uses nts");
                return;
            }
            uint set = ntsSources[0].CertSet;
            foreach (var other in ntsSources.Where(s => s.CertSet != set))
                Insecure(other.Line, $"certset {other.CertSet} ({other.Describe})",
                    $"TimeMesh trusts one set of CAs for every NTS source, and line {ntsSources[0].Line} uses set {set}: this source would accept certificates chronyd refuses for it");
            bool system = set == 0 && _noSystemCert is null;
            var files = _trustedCerts.Where(t => t.Set == set).ToList();
            foreach (var t in _trustedCerts.Where(t => t.Set != set))
                Note(t.Line, t.Text, $"not translated: none of the NTS sources uses set {t.Set}");
            if (files.Count == 0)
            {
                if (system) return;
                // chronyd trusts no CA at all for these sources (they never authenticate); TimeMesh would trust the system's.
                int where = set == 0 ? _noSystemCert!.Value.Line : ntsSources[0].Line;
                Insecure(where, set == 0 ? "nosystemcert" : $"certset {set}",
                    "chronyd trusts not one certificate for these NTS sources (ntstrustedcerts names nothing for that set), TimeMesh would trust the system's roots; add the CAs you mean with ntstrustedcerts");
                return;
            }
            var first = files[0];
            _trustedCertificatesFile = first.Path;
            if (system)
                Note(first.Line, first.Text, "translated as nts.trusted-certificates, which TimeMesh trusts instead of the system's roots, not as well: sources whose certificates chain to a public CA fail until their roots are appended to this file");
            foreach (var extra in files.Skip(1))
                Note(extra.Line, extra.Text, $"not translated: TimeMesh trusts one PEM file; append this file's CAs to {first.Path} (until then sources signed by them fail to authenticate)");
            if (_noSystemCert is { } noSystem && set != 0) Note(noSystem.Line, noSystem.Text, "no effect: it concerns set 0, which none of the NTS sources uses");
        }

        private void RenderNts(List<string> body)
        {
            var nts = new List<string>();
            if (_trustedCertificatesFile is { } trusted)
            {
                var line = _trustedCerts.First(t => t.Path == trusted);
                nts.Add($"# line {line.Line}: {line.Text}");
                nts.Add("# A PEM file of CAs (chronyd also takes a directory; TimeMesh needs the file).");
                nts.Add($"trusted-certificates = {HoconText.Quote(trusted)}");
                _machineFileKeys.Add("timemesh.nts.trusted-certificates");
            }
            RenderNtsServer(nts);
            if (nts.Count == 0) return;
            body.Add("nts {");
            body.AddRange(nts.Select(l => "  " + l));
            body.Add("}");
        }

        private void RenderNtsServer(List<string> nts)
        {
            var serverLines = new[] { _ntsPort, _ntsRotate, _maxNtsConnections, _ntsNtpServer }.OfType<NtsLine>().ToList();
            if (_serverKeys.Count == 0 || _serverCerts.Count == 0 || _serverKeys.Count != _serverCerts.Count)
            {
                // chronyd does not start its NTS-KE server then either.
                string why = _serverKeys.Count == _serverCerts.Count ? "neither ntsserverkey nor ntsservercert is given" : "chronyd needs as many ntsserverkey as ntsservercert lines and does not start its NTS server otherwise";
                foreach (var l in _serverKeys.Concat(_serverCerts).Concat(serverLines))
                    Note(l.Line, l.Text, $"not translated: the NTS server is not started ({why})");
                return;
            }
            nts.Add($"# line {_serverCerts[0].Line}: {_serverCerts[0].Text}");
            nts.Add($"# line {_serverKeys[0].Line}: {_serverKeys[0].Text}");
            nts.Add("enabled = on");
            nts.Add($"certificate = {HoconText.Quote(_serverCerts[0].Value)}");
            nts.Add($"key = {HoconText.Quote(_serverKeys[0].Value)}");
            _machineFileKeys.Add("timemesh.nts.certificate");
            _machineFileKeys.Add("timemesh.nts.key");
            for (int i = 1; i < _serverCerts.Count; i++)
                foreach (var l in new[] { _serverCerts[i], _serverKeys[i] })
                    Note(l.Line, l.Text, "not translated: TimeMesh serves one certificate; clients asking for this one's name get the first (and refuse it unless it also names them)");

            int port = _ntsPort is null ? NtsDefaultPort : int.Parse(_ntsPort.Value, CultureInfo.InvariantCulture);
            if (port is < 1 or > 65535)
            {
                Note(_ntsPort!.Line, _ntsPort.Text, $"not translated: not a TCP port; TimeMesh's default {NtsDefaultPort} applies");
                port = NtsDefaultPort;
            }
            // chronyd's NTS-KE server listens where its NTP server does (bindaddress).
            if (_ntsPort is not null) nts.Add($"# line {_ntsPort.Line}: {_ntsPort.Text}");
            string v4 = _bind4?.Address.ToString() ?? "0.0.0.0";
            var listen = new List<string> { HoconText.Quote($"{v4}:{port}") };
            if (_bind6 is { } b6) listen.Add(HoconText.Quote($"[{b6.Address}]:{port}"));
            nts.Add($"listen = [{string.Join(", ", listen)}]");
            if (_bind6 is null && (_ntsPort ?? _serverCerts[0]) is { } where)
                Note(where.Line, where.Text, $"chronyd's NTS-KE server also listens on IPv6 (::); TimeMesh's listens on {v4} only unless you add \"[::]:{port}\" to nts.listen");

            if (_ntsRotate is { } rotate)
            {
                long seconds = long.Parse(rotate.Value, CultureInfo.InvariantCulture);
                if (seconds is >= 1 and <= 365L * 86_400)
                {
                    nts.Add($"# line {rotate.Line}: {rotate.Text}");
                    nts.Add($"cookie-key-rotation = {seconds}s");
                }
                else
                    Note(rotate.Line, rotate.Text, seconds <= 0
                        ? "not translated: chronyd then never rotates its cookie key; TimeMesh always does, by default daily"
                        : "not translated: TimeMesh rotates its cookie key at least yearly; its default (daily) applies");
            }
            if (_maxNtsConnections is { } max)
            {
                long connections = long.Parse(max.Value, CultureInfo.InvariantCulture);
                if (connections is >= 1 and <= 10_000)
                {
                    nts.Add($"# line {max.Line}: {max.Text}");
                    nts.Add($"max-connections = {connections}");
                }
                else
                    Note(max.Line, max.Text, "not translated: TimeMesh allows nts.max-connections from 1 to 10000; its default 100 (chrony's too) applies");
            }
            if (_ntsNtpServer is { } ntpServer)
            {
                if (ntpServer.Value.Length <= 255)
                {
                    nts.Add($"# line {ntpServer.Line}: {ntpServer.Text}");
                    nts.Add($"ntp-server = {HoconText.Quote(ntpServer.Value)}");
                }
                else
                    Note(ntpServer.Line, ntpServer.Text, "not translated: longer than a host name (255 characters)");
            }
        }

        private const int NtsDefaultPort = 4460;
    }
}
