using System.CommandLine;
using System.Net;
using TimeMesh.Cli.Certificates;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Cli.Commands;

/// <summary>
/// <c>timemesh cert init</c> (a mesh CA) and <c>timemesh cert issue</c> (a node certificate with its role, signed by
/// that CA), so that a mesh with cluster TLS needs no openssl. See docs/security.md.
/// </summary>
public static class CertCommand
{
    public const string DefaultCaDirectory = "timemesh-ca";

    /// <summary>The environment variable a PKCS#12 password may come from (a file is better: see --password-file).</summary>
    public const string PasswordVariable = "TIMEMESH_PFX_PASSWORD";

    public static Command Build()
    {
        var dir = new Option<string>("--dir") { Description = $"The CA's directory: {MeshCertificateAuthority.CertificateFile} and {MeshCertificateAuthority.KeyFile} (mode 0600). Keep it off the nodes.", DefaultValueFactory = _ => DefaultCaDirectory };
        var force = new Option<bool>("--force") { Description = "Replace files that exist." };

        var caName = new Option<string>("--name") { Description = "The CA certificate's common name.", DefaultValueFactory = _ => "TimeMesh mesh CA" };
        var caDays = new Option<int>("--days") { Description = "How long the CA is valid, in days.", DefaultValueFactory = _ => 3650 };
        var init = new Command("init", "Create a mesh CA: a private key (mode 0600) and a self-signed CA certificate.") { dir, caName, caDays, force };
        init.SetAction(parse => Run("init", () =>
        {
            var ca = MeshCertificateAuthority.Init(parse.GetValue(dir)!, parse.GetValue(caName)!, parse.GetValue(caDays), DateTimeOffset.UtcNow, parse.GetValue(force));
            Console.WriteLine($"wrote {ca.CertificatePath} (the CA certificate: copy it to every node as cluster-tls.ca)");
            Console.WriteLine($"wrote {ca.KeyPath} (mode 0600: the CA's private key; whoever holds it can make masters)");
        }));

        var role = new Option<string>("--role") { Description = "The node's role, signed into its certificate: master or member.", Required = true };
        role.AcceptOnlyFromAmong("master", "member");
        var name = new Option<string>("--name") { Description = "The node's name: its certificate's CN and the name of the files written.", Required = true };
        var ip = new Option<string[]>("--ip") { Description = "An IP address the node's cluster address uses (akka.remote.dot-netty.tcp.hostname); repeat for more.", AllowMultipleArgumentsPerToken = false };
        var dns = new Option<string[]>("--dns") { Description = "A DNS name the node's cluster address uses; repeat for more." };
        var days = new Option<int>("--days") { Description = "How long the certificate is valid, in days (never past the CA's end).", DefaultValueFactory = _ => 365 };
        var output = new Option<string>("--out") { Description = "The directory to write the node's files to.", DefaultValueFactory = _ => "." };
        var format = new Option<string>("--format") { Description = "pfx: NAME.pfx (PKCS#12, mode 0600) and its password; pem: NAME.pem and NAME-key.pem (mode 0600).", DefaultValueFactory = _ => "pfx" };
        format.AcceptOnlyFromAmong("pfx", "pem");
        var passwordFile = new Option<string?>("--password-file") { Description = $"Read the PKCS#12 password from this file (or from ${PasswordVariable}); without either, a random one is written to NAME.pfx.password (mode 0600)." };
        var issue = new Command("issue", "Issue a node certificate signed by the mesh CA, with its role, IP addresses and DNS names.")
        {
            dir, role, name, ip, dns, days, output, format, passwordFile, force,
        };
        issue.SetAction(parse => Run("issue", () =>
        {
            var addresses = new List<IPAddress>();
            foreach (string text in parse.GetValue(ip) ?? [])
                addresses.Add(IPAddress.TryParse(text, out var a) ? a : throw new CertificateToolException($"--ip {text}: not an IP address (use --dns for a name)"));
            var request = new MeshCertificateAuthority.NodeRequest(parse.GetValue(name)!, parse.GetValue(role) == "master" ? MeshRole.Master : MeshRole.Member,
                addresses, parse.GetValue(dns) ?? [], parse.GetValue(days));
            var written = Issue(MeshCertificateAuthority.Open(parse.GetValue(dir)!), request, parse.GetValue(output)!, parse.GetValue(format)!,
                parse.GetValue(passwordFile), Environment.GetEnvironmentVariable(PasswordVariable), parse.GetValue(force), DateTimeOffset.UtcNow);
            foreach (string line in written.Lines) Console.WriteLine(line);
        }));

        return new Command("cert", "Make the mesh CA and node certificates for cluster TLS (no openssl needed).") { init, issue };
    }

    /// <summary>What <see cref="Issue"/> wrote: the lines to print, and the config block for the node.</summary>
    public sealed record Written(IReadOnlyList<string> Lines, string ConfigBlock);

    /// <summary>Issues and writes a node's files; the password comes from the file, else the variable's value, else is generated.</summary>
    public static Written Issue(MeshCertificateAuthority ca, MeshCertificateAuthority.NodeRequest request, string outDir, string format,
        string? passwordFile, string? passwordVariable, bool force, DateTimeOffset now)
    {
        if (request.Name.Length == 0 || request.Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || request.Name.StartsWith('.'))
            throw new CertificateToolException($"--name {request.Name}: it names the files written, so it must be a plain file name (e.g. master-a)");
        System.IO.Directory.CreateDirectory(outDir);
        using var certificate = ca.Issue(request, now);
        var lines = new List<string>();
        string caPath = Path.GetFullPath(ca.CertificatePath);
        string block;
        if (format == "pem")
        {
            string certPath = Path.GetFullPath(Path.Combine(outDir, request.Name + ".pem")), keyPath = Path.GetFullPath(Path.Combine(outDir, request.Name + "-key.pem"));
            MeshCertificateAuthority.WritePem(certPath, keyPath, certificate, force);
            lines.Add($"wrote {certPath} (certificate) and {keyPath} (its private key, mode 0600)");
            block = $"cluster-tls {{ certificate = \"{certPath}\", key = \"{keyPath}\", ca = \"{caPath}\" }}";
        }
        else
        {
            string pfxPath = Path.GetFullPath(Path.Combine(outDir, request.Name + ".pfx"));
            string password;
            string passwordPath;
            if (passwordFile is not null)
            {
                password = File.ReadAllText(passwordFile).TrimEnd('\r', '\n');
                passwordPath = Path.GetFullPath(passwordFile);
                lines.Add($"password from {passwordPath}");
            }
            else
            {
                passwordPath = pfxPath + ".password";
                password = string.IsNullOrEmpty(passwordVariable) ? MeshCertificateAuthority.NewPassword() : passwordVariable;
                MeshCertificateAuthority.WriteAtomically(passwordPath, password + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite, force);
                lines.Add($"wrote {passwordPath} (mode 0600: the password{(string.IsNullOrEmpty(passwordVariable) ? ", generated" : $", from ${PasswordVariable}")})");
            }
            if (password.Length == 0) throw new CertificateToolException("the PKCS#12 password is empty");
            MeshCertificateAuthority.WritePkcs12(pfxPath, certificate, password, force);
            lines.Add($"wrote {pfxPath} (certificate and private key, PKCS#12, mode 0600)");
            block = $"cluster-tls {{ certificate = \"{pfxPath}\", password-file = \"{passwordPath}\", ca = \"{caPath}\" }}";
        }
        string names = string.Join(", ", request.Addresses.Select(a => a.ToString()).Concat(request.DnsNames));
        lines.Add($"{request.Role.ToString().ToLowerInvariant()} {request.Name} for {names}, valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd} UTC, signed by {certificate.Issuer}");
        lines.Add("in the node's timemesh { } block:");
        lines.Add("  " + block);
        return new Written(lines, block);
    }

    private static int Run(string verb, Action action)
    {
        try
        {
            action();
            return Cli.ExitOk;
        }
        catch (Exception e) when (e is CertificateToolException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            Console.Error.WriteLine($"timemesh cert {verb}: {e.Message}");
            return Cli.ExitConfigError;
        }
    }
}
