using FastRank.Models;
using FastRank.Ranking;
using Microsoft.Extensions.Options;

namespace FastRank.Server;

/// <summary>What one request did, for the request log line and the metrics (never document text or keys).</summary>
internal sealed class RequestRecord
{
    public string? Model { get; set; }

    public string? Method { get; set; }

    public int Documents { get; set; }

    public long Tokens { get; set; }
}

/// <summary>
/// The core every API dialect calls: admission (the queue bound), the request timeout, the model lease
/// from the pool (names only, never paths), and the reranker call, whose batching happens below, in the
/// library. Client disconnects cancel through the request's token.
/// </summary>
internal sealed class RerankService(ModelPool pool, IOptions<ServerOptions> options, ServerMetrics metrics)
{
    private readonly ServerOptions _options = options.Value;
    private int _admitted;

    /// <summary>Requests admitted and not finished (running or waiting for the model).</summary>
    public int InFlight => Volatile.Read(ref _admitted);

    /// <summary>The default model's name.</summary>
    public string DefaultModel => _options.DefaultModel;

    public async Task<(RerankResult Result, string Model)> RerankAsync(ServeRequest request, RequestRecord record, CancellationToken aborted)
    {
        string model = request.Model ?? _options.DefaultModel;
        record.Model = model;
        record.Documents = request.Request.Documents.Count;
        if (Interlocked.Increment(ref _admitted) > _options.Queue)
        {
            Interlocked.Decrement(ref _admitted);
            metrics.Rejected();
            throw new ApiException(StatusCodes429, ErrorCodes.QueueFull, $"the server's queue of {_options.Queue} requests is full; retry later", retryAfterSeconds: 1);
        }
        metrics.QueueDepth(InFlight);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(_options.RequestTimeout));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(aborted, timeout.Token);
        try
        {
            using var lease = await pool.AcquireAsync(model, linked.Token).ConfigureAwait(false);
            var method = request.Request.Method ?? lease.Reranker.Options.Method;
            record.Method = RerankMethodNames.Name(method);
            var result = await lease.Reranker.RerankAsync(request.Request, linked.Token).ConfigureAwait(false);
            record.Tokens = result.Usage.PromptTokens;
            metrics.Ranked(model, record.Method, record.Documents, result);
            return (result, lease.Name);
        }
        catch (ModelNotRegisteredException)
        {
            throw new ApiException(StatusCodes404, ErrorCodes.ModelNotFound, $"no model named '{model}' (GET /v1/models lists them)");
        }
        catch (PoolBudgetExceededException ex)
        {
            throw new ApiException(StatusCodes503, ErrorCodes.Unavailable, ex.Message, retryAfterSeconds: 5);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !aborted.IsCancellationRequested)
        {
            throw new ApiException(StatusCodes504, ErrorCodes.Timeout, $"the request took longer than the server's {_options.RequestTimeout:0.###} s timeout");
        }
        finally
        {
            Interlocked.Decrement(ref _admitted);
            metrics.QueueDepth(InFlight);
        }
    }

    private const int StatusCodes404 = 404;
    private const int StatusCodes429 = 429;
    private const int StatusCodes503 = 503;
    private const int StatusCodes504 = 504;
}
