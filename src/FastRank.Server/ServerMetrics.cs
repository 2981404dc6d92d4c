using FastRank.Models;
using FastRank.Ranking;
using Prometheus;

namespace FastRank.Server;

/// <summary>
/// The server's Prometheus metrics (prometheus-net), in a registry of its own per server so that several
/// servers in one process (tests) keep separate counts. Served as text at <c>GET /metrics</c>.
/// </summary>
internal sealed class ServerMetrics
{
    private readonly Counter _requests;
    private readonly Histogram _latency;
    private readonly Gauge _queue;
    private readonly Counter _rejected;
    private readonly Counter _documents;
    private readonly Counter _promptTokens;
    private readonly Counter _cachedTokens;
    private readonly Counter _loads;
    private readonly Counter _swaps;
    private readonly Counter _evictions;
    private readonly Gauge _loaded;

    public ServerMetrics(ModelPool pool)
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        _requests = factory.CreateCounter("fastrank_http_requests_total", "HTTP requests by route and status.", "route", "status");
        _latency = factory.CreateHistogram("fastrank_http_request_duration_seconds", "HTTP request latency by route.",
            new HistogramConfiguration { LabelNames = ["route"], Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });
        _queue = factory.CreateGauge("fastrank_queue_depth", "Rerank requests admitted and not finished (running or waiting); scale out on it.");
        _rejected = factory.CreateCounter("fastrank_rejected_requests_total", "Rerank requests refused because the queue was full (429).");
        _documents = factory.CreateCounter("fastrank_documents_total", "Documents ranked, by model and method.", "model", "method");
        _promptTokens = factory.CreateCounter("fastrank_prompt_tokens_total", "Prompt tokens of ranked documents, by model.", "model");
        _cachedTokens = factory.CreateCounter("fastrank_prefix_cache_tokens_total", "Prompt tokens served from the prefix cache (hits), by model.", "model");
        _loads = factory.CreateCounter("fastrank_model_loads_total", "Model versions loaded.");
        _swaps = factory.CreateCounter("fastrank_model_swaps_total", "Model swaps.");
        _evictions = factory.CreateCounter("fastrank_model_evictions_total", "Models evicted to make room.");
        _loaded = factory.CreateGauge("fastrank_model_loaded", "1 when the pool name has a loaded version.", "model");
        Registry.AddBeforeCollectCallback(() =>
        {
            _loads.IncTo(pool.Loads);
            _swaps.IncTo(pool.Swaps);
            _evictions.IncTo(pool.Evictions);
            foreach (var m in pool.Snapshot()) _loaded.WithLabels(m.Name).Set(m.Loaded ? 1 : 0);
        });
    }

    public CollectorRegistry Registry { get; }

    public void Request(string route, int status, double seconds)
    {
        _requests.WithLabels(route, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        _latency.WithLabels(route).Observe(seconds);
    }

    public void QueueDepth(int depth) => _queue.Set(depth);

    public void Rejected() => _rejected.Inc();

    public void Ranked(string model, string method, int documents, RerankResult result)
    {
        _documents.WithLabels(model, method).Inc(documents);
        _promptTokens.WithLabels(model).Inc(result.Usage.PromptTokens);
        _cachedTokens.WithLabels(model).Inc(result.Usage.CachedTokens);
    }
}
