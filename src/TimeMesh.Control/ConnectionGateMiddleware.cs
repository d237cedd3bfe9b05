using Microsoft.AspNetCore.Connections;
using TimeMesh.Node.Control;

namespace TimeMesh.Control;

/// <summary>A <see cref="ConnectionGate"/> in front of a Kestrel listener.</summary>
public static class ConnectionGateMiddleware
{
    /// <summary>The gate as Kestrel connection middleware (<c>ListenOptions.Use</c>).</summary>
    public static ConnectionDelegate AsMiddleware(this ConnectionGate gate, ConnectionDelegate next) => async connection =>
    {
        var client = ConnectionGate.ClientOf(connection.RemoteEndPoint);
        if (!gate.TryEnter(client))
        {
            // Closed before a byte is read: the cost of an excess connection is one accept and one close.
            connection.Abort(new ConnectionAbortedException("connection cap reached"));
            return;
        }
        try
        {
            await next(connection);
        }
        finally
        {
            gate.Leave(client);
        }
    };
}
