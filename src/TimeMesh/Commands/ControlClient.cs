using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace TimeMesh.Cli.Commands;

/// <summary>A report could not be had from the node; the message says why, for the operator.</summary>
public sealed class ControlClientException(string message) : Exception(message);

/// <summary>Reads one report from a node's monitoring endpoint, over its Unix socket or over TCP.</summary>
public static class ControlClient
{
    public const string DefaultNode = "127.0.0.1:11130";

    /// <summary>timemesh.control.socket's default: used when neither --node nor --socket is given and it exists.</summary>
    public const string DefaultSocket = "/run/timemesh/timemesh.sock";

    /// <summary>
    /// Where to ask: --socket when given, else --node when given, else the default socket when it is there (it
    /// serves every report, and no one holding TCP connections can lock it out), else the default TCP port.
    /// </summary>
    public static (string? Node, string? Socket) Choose(string? node, string? socket, Func<string, bool>? exists = null)
    {
        if (socket is not null) return (null, socket);
        if (node is not null) return (node, null);
        return (exists ?? File.Exists)(DefaultSocket) ? (null, DefaultSocket) : (DefaultNode, null);
    }

    /// <summary>Checks a --node value: "HOST:PORT" or "[IPv6]:PORT". Returns an error message, or null when it is usable.</summary>
    public static string? ValidateNode(string node)
    {
        if (Uri.TryCreate("http://" + node + "/", UriKind.Absolute, out var uri)
            && uri.Authority.Length > 0 && node.Contains(':') && uri.Port is > 0 and <= 65535
            && uri.AbsolutePath == "/" && string.IsNullOrEmpty(uri.UserInfo)
            && (uri.HostNameType != UriHostNameType.IPv6 || node.StartsWith('[')))
            return null;
        return $"--node must be HOST:PORT, e.g. {DefaultNode} or [::1]:11130 (got '{node}')";
    }

    public static Task<T> GetAsync<T>(string node, string path, JsonTypeInfo<T> type, CancellationToken cancel) =>
        GetAsync(node, null, path, type, cancel);

    /// <summary>Reads <paramref name="path"/> over the Unix socket when <paramref name="socket"/> is set, else from <paramref name="node"/> over TCP.</summary>
    public static async Task<T> GetAsync<T>(string? node, string? socket, string path, JsonTypeInfo<T> type, CancellationToken cancel)
    {
        // One request per run: a handler of our own, no proxy (the endpoint is local; a proxy would only get in the way).
        using var handler = new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(3) };
        if (socket is not null)
        {
            handler.ConnectCallback = async (_, token) =>
            {
                var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await unix.ConnectAsync(new UnixDomainSocketEndPoint(socket), token);
                    return new NetworkStream(unix, ownsSocket: true);
                }
                catch
                {
                    unix.Dispose();
                    throw;
                }
            };
            node = "localhost";
        }
        string where = socket is not null ? "socket " + socket : node!;
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(new Uri("http://" + node + path), cancel);
        }
        catch (HttpRequestException e)
        {
            throw new ControlClientException($"cannot reach TimeMesh node at {where}: {Reason(e)}");
        }
        catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new ControlClientException($"cannot reach TimeMesh node at {where}: no answer within {http.Timeout.TotalSeconds:0} s");
        }
        using (response)
        {
            string body = await response.Content.ReadAsStringAsync(cancel);
            if (!response.IsSuccessStatusCode)
            {
                string detail = TryError(body) ?? response.ReasonPhrase ?? "";
                throw new ControlClientException($"TimeMesh node at {where} answered {(int)response.StatusCode}{(detail.Length > 0 ? ": " + detail : "")}"
                    + (response.StatusCode == HttpStatusCode.NotFound ? " (is this a TimeMesh monitoring endpoint?)" : ""));
            }
            try
            {
                return JsonSerializer.Deserialize(body, type) ?? throw new JsonException("empty");
            }
            catch (JsonException)
            {
                throw new ControlClientException($"the answer from {where} {path} is not a TimeMesh report (is this a TimeMesh monitoring endpoint?)");
            }
        }
    }

    private static string Reason(HttpRequestException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException s)
            {
                return s.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.TimedOut => "connection timed out",
                    SocketError.HostNotFound or SocketError.NoData => "unknown host",
                    SocketError.HostUnreachable or SocketError.NetworkUnreachable => "host unreachable",
                    SocketError.AddressNotAvailable when e.InnerException is SocketException => "no such socket",
                    SocketError.AccessDenied => "permission denied (the socket is for the node's user and group)",
                    _ => s.Message,
                };
            }
        }
        return e.Message;
    }

    private static string? TryError(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, Node.Control.ControlJsonContext.Default.ErrorDto)?.Error;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
