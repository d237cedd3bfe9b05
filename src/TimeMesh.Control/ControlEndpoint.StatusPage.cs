using System.Globalization;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using TimeMesh.Node.Control;
using TimeMesh.Control.StatusPage;
using TimeMesh.Node.StatusPage;

namespace TimeMesh.Control;

/// <summary>The status page on the monitoring endpoint: the page itself at "/" and the node's history as JSON.</summary>
public sealed partial class ControlEndpoint
{
    /// <summary>The status page's paths.</summary>
    public static class StatusPaths
    {
        public const string Page = "/";
        /// <summary>The history: <c>?window=SECONDS</c> (default: all of it), <c>?points=N</c> (default 600, at most 5000).</summary>
        public const string History = "/api/history";
    }

    public const int DefaultHistoryPoints = 600;
    public const int MaxHistoryPoints = 5000;

    partial void MapExtraRoutes(IEndpointRouteBuilder routes)
    {
        routes.MapGet(StatusPaths.Page, async context =>
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.CacheControl = "no-cache";
            // The page runs only its own inline script and talks only to this endpoint.
            context.Response.Headers.ContentSecurityPolicy =
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'";
            await context.Response.Body.WriteAsync(StatusPageResource.Html);
        });
        routes.MapGet(StatusPaths.History, async context =>
        {
            if (!TryReadHistoryQuery(context.Request.Query, out var window, out int points, out string? problem))
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                context.Response.ContentType = "application/json; charset=utf-8";
                await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, new ErrorDto(problem!), ControlJsonContext.Default.ErrorDto);
                return;
            }
            HistoryDto dto;
            try
            {
                dto = Queries.Actors.History is { } history
                    ? HistoryDto.From(await history.Ask<HistoryProtocol.History>(new HistoryProtocol.GetHistory(window, points), TimeSpan.FromSeconds(2)))
                    : HistoryDto.None(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            }
            catch (Exception e)
            {
                await WriteError(context, e);
                return;
            }
            context.Response.ContentType = "application/json; charset=utf-8";
            await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, dto, StatusPageJsonContext.Default.HistoryDto);
        });
    }

    /// <summary>Reads <c>window</c> (seconds, &gt; 0) and <c>points</c> (1 to <see cref="MaxHistoryPoints"/>).</summary>
    internal static bool TryReadHistoryQuery(IQueryCollection query, out TimeSpan? window, out int points, out string? problem)
    {
        window = null;
        points = DefaultHistoryPoints;
        problem = null;
        if (query.TryGetValue("window", out var w) && !string.IsNullOrEmpty(w))
        {
            if (!double.TryParse(w, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || !(seconds > 0) || seconds > 366 * 86400)
            {
                problem = $"window = {w}: allowed: seconds, more than 0 and at most a year";
                return false;
            }
            window = TimeSpan.FromSeconds(seconds);
        }
        if (query.TryGetValue("points", out var p) && !string.IsNullOrEmpty(p))
        {
            if (!int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out points) || points < 1 || points > MaxHistoryPoints)
            {
                problem = $"points = {p}: allowed: a whole number from 1 to {MaxHistoryPoints}";
                return false;
            }
        }
        return true;
    }
}
