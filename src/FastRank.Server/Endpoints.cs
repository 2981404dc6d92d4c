using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FastRank.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Prometheus;

namespace FastRank.Server;

/// <summary>The routes. Each rerank route reads its dialect's body, calls <see cref="RerankService"/>, writes its dialect's answer.</summary>
internal static class Endpoints
{
    public static void Map(WebApplication app, ServerOptions options)
    {
        // Cohere v1, which Jina and llama-server share (their answers are merged into one superset).
        MapRerank(app, "/v1/rerank", ApiDialect.CohereV1, "Rerank (Cohere v1, Jina, llama-server)");
        MapRerank(app, "/v1/reranking", ApiDialect.CohereV1, "Rerank (llama-server alias of /v1/rerank)");
        MapRerank(app, "/v2/rerank", ApiDialect.CohereV2, "Rerank (Cohere v2)");
        // llama-server's body ("documents") or TEI's ("texts"), told apart by their fields.
        MapRerank(app, "/rerank", dialect: null, "Rerank (llama-server / Jina with documents, TEI with texts)");
        MapRerank(app, "/reranking", dialect: null, "Rerank (llama-server alias of /rerank)");

        app.MapGet("/v1/models", (HttpContext http, ModelPool pool, IOptions<ServerOptions> o) =>
        {
            RequireKey(http, o.Value.ApiKey);
            string def = o.Value.DefaultModel;
            var data = pool.Snapshot().Select(m => new ModelJson(m.Name, "model", "fastrank", m.Loaded, m.Version, m.Pinned, m.Name == def, m.ActiveLeases));
            return Results.Json(new ModelListJson("list", [.. data]), RerankDialects.Json);
        }).WithSummary("The models of the pool");

        app.MapGet("/health", () => Results.Json(new StatusJson("ok"), RerankDialects.Json)).WithSummary("Liveness");
        app.MapGet("/health/ready", (ModelPool pool, IOptions<ServerOptions> o, IHostApplicationLifetime life) =>
        {
            if (life.ApplicationStopping.IsCancellationRequested)
                throw new ApiException(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, "the server is stopping");
            string def = o.Value.DefaultModel;
            bool loaded = pool.Snapshot().Any(m => m.Name == def && m.Loaded);
            return loaded
                ? Results.Json(new StatusJson("ready"), RerankDialects.Json)
                : throw new ApiException(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, $"the default model '{def}' is not loaded yet");
        }).WithSummary("Readiness: the default model is loaded");

        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        app.MapMetrics("/metrics", metrics.Registry);
        app.MapOpenApi("/openapi/{documentName}.json");

        if (options.AdminKey is not null) MapAdmin(app);
    }

    private static void MapRerank(WebApplication app, string pattern, ApiDialect? dialect, string summary)
    {
        // No Accepts(...) metadata: it would turn away bodies sent without a JSON content type (curl -d), which parse fine.
        app.MapPost(pattern, (HttpContext http, RerankService service, IOptions<ServerOptions> o) => RerankAsync(http, service, o.Value, dialect))
            .WithSummary(summary)
            .Produces(StatusCodes.Status200OK, dialect == ApiDialect.CohereV2 ? typeof(CohereV2Response) : typeof(RerankResponse), "application/json")
            .Produces(StatusCodes.Status400BadRequest)
            .Produces(StatusCodes.Status401Unauthorized)
            .Produces(StatusCodes.Status404NotFound)
            .Produces(StatusCodes.Status413PayloadTooLarge)
            .Produces(StatusCodes.Status429TooManyRequests)
            .Produces(StatusCodes.Status504GatewayTimeout);
    }

    private static async Task RerankAsync(HttpContext http, RerankService service, ServerOptions options, ApiDialect? dialect)
    {
        RequireKey(http, options.ApiKey);
        var ct = http.RequestAborted;
        // Not JsonDocument.ParseAsync: its pooled read buffers, kept by the shared pool, grew the server's memory (RequestJson).
        // A declared length over the limit is refused there (413) before a byte is read.
        using var body = await RequestJson.ParseAsync(http.Request, options.MaxRequestBytes, ct).ConfigureAwait(false);
        var kind = dialect ?? RerankDialects.Detect(body.RootElement);
        var request = RerankDialects.Parse(body.RootElement, kind, options.MaxDocuments);
        var record = http.Features.Get<RequestRecord>() ?? new RequestRecord();
        var (result, model) = await service.RerankAsync(request, record, ct).ConfigureAwait(false);
        object answer = RerankDialects.Answer(kind, request, result, model);
        await http.Response.WriteAsJsonAsync(answer, answer.GetType(), RerankDialects.Json, ct).ConfigureAwait(false);
    }

    private static void MapAdmin(WebApplication app)
    {
        var admin = app.MapGroup("/admin/models");
        admin.MapPost("/{name}/load", async (HttpContext http, string name, ModelPool pool, IOptions<ServerOptions> o) =>
        {
            RequireKey(http, o.Value.AdminKey);
            await Admin(() => pool.LoadAsync(name, http.RequestAborted), name).ConfigureAwait(false);
            var info = pool.Snapshot().First(m => m.Name == name);
            return Results.Json(new AdminModelJson(name, info.Loaded, info.Version), RerankDialects.Json);
        }).WithSummary("Load a pool name (admin key)");
        admin.MapPost("/{name}/swap", async (HttpContext http, string name, ModelPool pool, IOptions<ServerOptions> o) =>
        {
            RequireKey(http, o.Value.AdminKey);
            using var body = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted).ConfigureAwait(false);
            if (body.RootElement.ValueKind != JsonValueKind.Object || !body.RootElement.TryGetProperty("model", out var m) || m.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(m.GetString()))
                throw ApiException.BadRequest("'model' (a GGUF path, catalog name, hf:// reference or URL) is required");
            SwapResult? swap = null;
            await Admin(async () => swap = await pool.SwapAsync(name, m.GetString()!, ct: http.RequestAborted).ConfigureAwait(false), name).ConfigureAwait(false);
            return Results.Json(new AdminSwapJson(name, swap!.OldVersion, swap.NewVersion, Math.Round(swap.LoadTime.TotalMilliseconds, 1)), RerankDialects.Json);
        }).WithSummary("Swap the model behind a pool name while it serves (admin key)");
        admin.MapPost("/{name}/unload", (HttpContext http, string name, ModelPool pool, IOptions<ServerOptions> o) =>
        {
            RequireKey(http, o.Value.AdminKey);
            bool unloaded;
            try
            {
                unloaded = pool.Unload(name);
            }
            catch (ModelNotRegisteredException)
            {
                throw new ApiException(StatusCodes.Status404NotFound, ErrorCodes.ModelNotFound, $"no model named '{name}'");
            }
            return Results.Json(new AdminModelJson(name, false, 0) { Unloaded = unloaded }, RerankDialects.Json);
        }).WithSummary("Unload a pool name (admin key)");
    }

    /// <summary>Runs an admin action, its failures as error bodies (the admin names files: their errors are the caller's).</summary>
    private static async Task Admin(Func<Task> action, string name)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (ModelNotRegisteredException)
        {
            throw new ApiException(StatusCodes.Status404NotFound, ErrorCodes.ModelNotFound, $"no model named '{name}'");
        }
        catch (PoolBudgetExceededException ex)
        {
            throw new ApiException(StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable, ex.Message);
        }
        catch (Exception ex) when (ex is FastRankException or FileNotFoundException or Gguf.GgufFormatException or ArgumentException)
        {
            throw ApiException.BadRequest(ex.Message);
        }
    }

    /// <summary>Checks <c>Authorization: Bearer KEY</c> (in constant time) when a key is configured.</summary>
    private static void RequireKey(HttpContext http, string? key)
    {
        if (key is null) return;
        string header = http.Request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        bool ok = header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim()), Encoding.UTF8.GetBytes(key));
        if (ok) return;
        throw new ApiException(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, header.Length == 0 ? "this server needs 'Authorization: Bearer <key>'" : "wrong key");
    }
}

internal sealed record ModelJson(string Id, string Object, string OwnedBy, bool Loaded, int Version, bool Pinned, bool Default, int ActiveRequests);

internal sealed record ModelListJson(string Object, ModelJson[] Data);

internal sealed record StatusJson(string Status);

internal sealed record AdminModelJson(string Name, bool Loaded, int Version)
{
    public bool? Unloaded { get; init; }
}

internal sealed record AdminSwapJson(string Name, int? OldVersion, int NewVersion, double LoadMs);
