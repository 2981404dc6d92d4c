using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace FastRank.Server;

/// <summary>The stable error codes of the server's error body <c>{"error": {"code", "message"}}</c>.</summary>
public static class ErrorCodes
{
    /// <summary>400: malformed JSON, a missing field or a field of the wrong type (the message names it).</summary>
    public const string InvalidRequest = "invalid_request";

    /// <summary>401: a missing or wrong key.</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>404: no model of that name in the pool.</summary>
    public const string ModelNotFound = "model_not_found";

    /// <summary>404: no such route.</summary>
    public const string NotFound = "not_found";

    /// <summary>405: the route exists, the HTTP method does not.</summary>
    public const string MethodNotAllowed = "method_not_allowed";

    /// <summary>413: more documents than the server takes in one request.</summary>
    public const string TooManyDocuments = "too_many_documents";

    /// <summary>413: a body larger than the server takes.</summary>
    public const string PayloadTooLarge = "payload_too_large";

    /// <summary>415: a body that is not JSON.</summary>
    public const string UnsupportedMediaType = "unsupported_media_type";

    /// <summary>429: the request queue is full (see Retry-After).</summary>
    public const string QueueFull = "queue_full";

    /// <summary>504: the request took longer than the request timeout.</summary>
    public const string Timeout = "timeout";

    /// <summary>503: the model could not be loaded (memory budget) or the server is stopping.</summary>
    public const string Unavailable = "unavailable";

    /// <summary>500: a failure of the server (logged with details).</summary>
    public const string Internal = "internal_error";
}

/// <summary>A request that ends with an error response; thrown anywhere below an endpoint, written in one place.</summary>
internal sealed class ApiException(int status, string code, string message, int? retryAfterSeconds = null) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public int? RetryAfterSeconds { get; } = retryAfterSeconds;

    public static ApiException BadRequest(string message) => new(StatusCodes.Status400BadRequest, ErrorCodes.InvalidRequest, message);

    public static ApiException PayloadTooLarge(long bytes, long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, ErrorCodes.PayloadTooLarge, $"the body of {bytes} bytes is larger than the {maxBytes} bytes this server takes");
}

/// <summary>Writes the one error shape.</summary>
internal static class ErrorResponse
{
    public static async Task WriteAsync(HttpContext http, int status, string code, string message, int? retryAfterSeconds = null)
    {
        if (http.Response.HasStarted) return;
        http.Response.Clear();
        http.Response.StatusCode = status;
        if (retryAfterSeconds is { } s) http.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (status == StatusCodes.Status401Unauthorized) http.Response.Headers.WWWAuthenticate = "Bearer";
        // A body too large stays unread: close the connection after the answer rather than drain it.
        if (status == StatusCodes.Status413PayloadTooLarge) http.Response.Headers.Connection = "close";
        var buffer = new ArrayBufferWriter<byte>(256);
        // Relaxed escaping: messages quote field names ('query'), which the default encoder would write as \u0027.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("code", code);
            writer.WriteString("message", message);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.ContentLength = buffer.WrittenCount;
        await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The code of a bare status set by the framework (routing, Kestrel).</summary>
    public static (string Code, string Message) ForStatus(int status) => status switch
    {
        StatusCodes.Status404NotFound => (ErrorCodes.NotFound, "no such route"),
        StatusCodes.Status405MethodNotAllowed => (ErrorCodes.MethodNotAllowed, "this route does not take that HTTP method"),
        StatusCodes.Status413PayloadTooLarge => (ErrorCodes.PayloadTooLarge, "the request body is too large"),
        StatusCodes.Status415UnsupportedMediaType => (ErrorCodes.UnsupportedMediaType, "the body must be JSON"),
        StatusCodes.Status401Unauthorized => (ErrorCodes.Unauthorized, "a valid key is required"),
        StatusCodes.Status400BadRequest => (ErrorCodes.InvalidRequest, "bad request"),
        _ => (status >= 500 ? ErrorCodes.Internal : ErrorCodes.InvalidRequest, $"HTTP {status}"),
    };
}
