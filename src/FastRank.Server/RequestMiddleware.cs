using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastRank.Server;

/// <summary>
/// The one place where errors become the error body, the request log line is written (route, model,
/// method, documents, tokens, status, milliseconds; never document text or keys) and the request metrics
/// are counted.
/// </summary>
internal static class RequestMiddleware
{
    /// <summary>The status logged for a request whose client went away (nginx's convention; nothing is sent).</summary>
    public const int ClientClosedRequest = 499;

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        long start = Stopwatch.GetTimestamp();
        var record = new RequestRecord();
        http.Features.Set(record);
        var services = http.RequestServices;
        int status;
        try
        {
            await next(http).ConfigureAwait(false);
            status = http.Response.StatusCode;
            if (status >= 400 && !http.Response.HasStarted && http.Response.ContentLength is null && http.Response.ContentType is null)
            {
                var (code, message) = ErrorResponse.ForStatus(status);
                await ErrorResponse.WriteAsync(http, status, code, message).ConfigureAwait(false);
            }
        }
        catch (ApiException ex)
        {
            status = ex.Status;
            await ErrorResponse.WriteAsync(http, ex.Status, ex.Code, ex.Message, ex.RetryAfterSeconds).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex)
        {
            status = ex.StatusCode;
            var (code, _) = ErrorResponse.ForStatus(status);
            string message = status == StatusCodes.Status413PayloadTooLarge ? "the request body is larger than the server takes (--max-request-bytes)" : ex.Message;
            await ErrorResponse.WriteAsync(http, status, code, message).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            status = StatusCodes.Status400BadRequest;
            string where = ex.Path is { Length: > 0 } p ? $" at {p}" : "";
            await ErrorResponse.WriteAsync(http, status, ErrorCodes.InvalidRequest, $"malformed JSON{where} (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine})").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            status = ClientClosedRequest;
        }
        catch (Exception ex)
        {
            status = StatusCodes.Status500InternalServerError;
            services.GetRequiredService<ILoggerFactory>().CreateLogger("FastRank.Server").LogError(ex, "{Path} failed", http.Request.Path.Value);
            await ErrorResponse.WriteAsync(http, status, ErrorCodes.Internal, "the server failed to answer this request (see its log)").ConfigureAwait(false);
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        // Unmatched paths share one label: a label per path would let clients grow the metrics without bound.
        string route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
        services.GetRequiredService<ServerMetrics>().Request(route, status, seconds);
        if (route is "/metrics" or "/health" or "/health/ready") return; // probes and scrapes would drown the log
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("FastRank.Server.Requests");
        logger.LogInformation("{HttpMethod} {Route} model={Model} method={RankMethod} documents={Documents} tokens={Tokens} status={Status} {Ms:F1} ms",
            http.Request.Method, route, Printable(record.Model), record.Method ?? "-", record.Documents, record.Tokens, status, seconds * 1000);
    }

    /// <summary>A model name as the client sent it, made safe for a log line (no control characters, bounded).</summary>
    private static string Printable(string? name)
    {
        if (name is null) return "-";
        var chars = name.Length > 64 ? name[..64].ToCharArray() : name.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i])) chars[i] = '?';
        }
        return new string(chars);
    }
}
