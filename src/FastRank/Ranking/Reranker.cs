using System.Diagnostics;
using FastRank.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastRank.Ranking;

/// <summary>
/// Reranks documents for a query with a local GGUF model through llama.cpp. Load once, call many
/// times. Calls on one reranker are safe from any number of threads: a scheduler runs them on its
/// context. Pointwise calls that wait together share decode waves (their documents fill the same
/// llama_decode calls, each in its own KV stream, so scores equal those of a call alone); other methods'
/// calls run one at a time, in arrival order. Cancellation stops a call's work between llama_decode
/// calls (or inside a long one, when no other call shares it) and leaves the reranker usable.
/// </summary>
/// <example>
/// <code>
/// await using var ranker = await Reranker.LoadAsync("model.gguf");
/// var results = await ranker.RerankAsync("what is a llama?", documents, topN: 3);
/// foreach (var r in results) Console.WriteLine($"{r.Index}: {r.Score:F3}");
/// </code>
/// </example>
public sealed partial class Reranker : IDisposable, IAsyncDisposable
{
    private readonly LlamaModel _model;
    private readonly RerankerOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<RerankMethod, (IRankingMethod Method, RankingEngine? Engine)> _methods = [];
    private readonly Dictionary<(RerankMethod, string?, int), IRankingMethod> _variants = [];
    private bool _disposed;

    private Reranker(LlamaModel model, RerankerOptions options, ILogger logger)
    {
        _model = model;
        _options = options;
        _logger = logger;
    }

    /// <summary>Validates and loads a GGUF model and prepares the context of the configured method.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="Gguf.GgufFormatException">The file is not a valid GGUF file.</exception>
    /// <exception cref="ModelLoadException">llama.cpp could not load the model or create its context.</exception>
    /// <exception cref="ModelNotSupportedException">The model cannot serve the configured method.</exception>
    public static Reranker Load(string modelPath, RerankerOptions? options = null)
    {
        options ??= new RerankerOptions();
        options.Validate();
        var logger = options.LoggerFactory?.CreateLogger<Reranker>() ?? (ILogger)NullLogger.Instance;
        if (options.LoggerFactory is not null && LlamaRuntime.NativeLogger is NullLogger)
            LlamaRuntime.NativeLogger = options.LoggerFactory.CreateLogger("llama.cpp");
        var model = LlamaModel.Load(modelPath, new ModelLoadOptions { GpuLayers = options.GpuLayers }, logger);
        Kernels.RankKernels.LogDescription(logger);
        var ranker = new Reranker(model, options, logger);
        try
        {
            ranker.Prepare(options.Method);
            return ranker;
        }
        catch
        {
            ranker.Dispose();
            throw;
        }
    }

    /// <summary>Asynchronous twin of <see cref="Load"/> (loading runs on the thread pool).</summary>
    public static Task<Reranker> LoadAsync(string modelPath, RerankerOptions? options = null, CancellationToken ct = default) =>
        Task.Run(() => Load(modelPath, options), ct);

    /// <summary>The loaded model.</summary>
    public LlamaModel Model => _model;

    /// <summary>The options in use.</summary>
    public RerankerOptions Options => _options;

    /// <summary>Items (documents, windows) the configured method decodes together in one wave.</summary>
    public int ParallelSequences => Prepare(_options.Method).Engine.WorkSlots;

    /// <summary>
    /// Ranks <paramref name="documents"/> by relevance to <paramref name="query"/> with the configured
    /// method. The result is sorted by score, descending, ties broken by input index, and holds at most
    /// <paramref name="topN"/> entries (all when null).
    /// </summary>
    /// <exception cref="ArgumentNullException">query or documents (or one document) is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">topN is negative.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the reranker stays usable.</exception>
    public Task<RerankResult> RerankAsync(string query, IReadOnlyList<string> documents, int? topN = null, CancellationToken ct = default) =>
        RerankAsync(new RerankRequest(query, documents) { TopN = topN }, ct);

    /// <summary>Ranks with the given <paramref name="method"/> (its context is created on first use).</summary>
    public Task<RerankResult> RerankAsync(string query, IReadOnlyList<string> documents, RerankMethod method, int? topN = null, CancellationToken ct = default) =>
        RerankAsync(new RerankRequest(query, documents) { Method = method, TopN = topN }, ct);

    /// <summary>Ranks one <paramref name="request"/> (its per-call method, instruction and token budget applied).</summary>
    /// <exception cref="ArgumentNullException">The query or documents (or one document) is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">TopN is negative or MaxDocumentTokens below 1.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the reranker stays usable.</exception>
    public Task<RerankResult> RerankAsync(RerankRequest request, CancellationToken ct = default)
    {
        Check(request);
        return Schedule(request, ct);
    }

    /// <summary>Synchronous twin of <see cref="RerankAsync(string, IReadOnlyList{string}, int?, CancellationToken)"/>.</summary>
    public RerankResult Rerank(string query, IReadOnlyList<string> documents, int? topN = null, CancellationToken ct = default) =>
        Rerank(new RerankRequest(query, documents) { TopN = topN }, ct);

    /// <summary>Synchronous twin of <see cref="RerankAsync(string, IReadOnlyList{string}, RerankMethod, int?, CancellationToken)"/>.</summary>
    public RerankResult Rerank(string query, IReadOnlyList<string> documents, RerankMethod method, int? topN = null, CancellationToken ct = default) =>
        Rerank(new RerankRequest(query, documents) { Method = method, TopN = topN }, ct);

    /// <summary>Synchronous twin of <see cref="RerankAsync(RerankRequest, CancellationToken)"/>.</summary>
    public RerankResult Rerank(RerankRequest request, CancellationToken ct = default)
    {
        Check(request);
        return Schedule(request, ct).GetAwaiter().GetResult();
    }

    private void Check(RerankRequest request)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Query, nameof(request.Query));
        var documents = request.Documents;
        ArgumentNullException.ThrowIfNull(documents, nameof(request.Documents));
        if (request.TopN is < 0) throw new ArgumentOutOfRangeException(nameof(request), "topN must not be negative");
        if (request.MaxDocumentTokens is < 1) throw new ArgumentOutOfRangeException(nameof(request), "MaxDocumentTokens must be at least 1");
        for (int i = 0; i < documents.Count; i++)
        {
            if (documents[i] is null) throw new ArgumentNullException(nameof(request), $"document {i} is null");
        }
    }

    /// <summary>The call's result: cut to top-N, with its queue and total times.</summary>
    private RerankResult Complete(RerankMethod method, MethodResult result, int? topN, long queued, long started)
    {
        var ranked = result.Ranked;
        int take = Math.Min(topN ?? ranked.Length, ranked.Length);
        if (take < ranked.Length) ranked = ranked[..take];
        long end = Stopwatch.GetTimestamp();
        var timings = result.Timings with
        {
            QueueMs = RankingMethods.Ms(started - queued),
            TotalMs = RankingMethods.Ms(end - queued),
        };
        return new RerankResult(ranked, method, Path.GetFileName(_model.Path), result.Usage, timings);
    }

    /// <summary>The method and its engine, created on first use.</summary>
    private (IRankingMethod Method, RankingEngine Engine) Prepare(RerankMethod kind)
    {
        lock (_methods)
        {
            if (_methods.TryGetValue(kind, out var existing) && existing.Engine is not null) return (existing.Method, existing.Engine);
            var method = existing.Method ?? RankingMethods.Create(kind, _model, _options, _logger);
            _methods[kind] = (method, null);
            var config = method.ContextConfig(_options);
            var engine = new RankingEngine(_model, config);
            _methods[kind] = (method, engine);
            _logger.LogInformation("{Method} context: {Work} parallel sequences of {Cells} cells, micro-batch {Batch}, {Threads} threads, flash attention {Fa}, KV {Kv:F0} MB",
                kind, engine.WorkSlots, config.CellsPerSequence, config.MicroBatchSize, config.Threads, config.FlashAttention ? "on" : "off",
                (double)config.Sequences * config.CellsPerSequence * _model.KvBytesPerCell / 1e6);
            return (method, engine);
        }
    }

    /// <summary>
    /// The method of <paramref name="request"/>: the configured one, or one built with its instruction and
    /// token budget (they change prompt tokens only, so it runs on the same engine). Variants are kept,
    /// a bounded number of them, so a repeated instruction keeps its cached prompt head.
    /// </summary>
    private IRankingMethod Variant(IRankingMethod configured, RerankRequest request)
    {
        string? instruction = request.Instruction ?? _options.Instruction;
        int maxDoc = Math.Min(request.MaxDocumentTokens ?? _options.MaxDocumentTokens, _options.MaxDocumentTokens);
        if (instruction == _options.Instruction && maxDoc == _options.MaxDocumentTokens) return configured;
        var key = (configured.Kind, instruction, maxDoc);
        lock (_variants)
        {
            if (_variants.TryGetValue(key, out var variant)) return variant;
            if (_variants.Count >= MaxVariants) _variants.Clear();
            var options = _options with { Instruction = instruction, MaxDocumentTokens = maxDoc };
            // ICR's context carries its method's attention callback and memo: a variant shares them.
            variant = configured is IcrMethod icr ? new IcrMethod(_model, options, _logger, icr)
                : RankingMethods.Create(configured.Kind, _model, options, _logger);
            _variants[key] = variant;
            return variant;
        }
    }

    /// <summary>Per-call method variants kept (instructions and budgets seen); beyond it they are rebuilt.</summary>
    private const int MaxVariants = 32;

    internal IRankingMethod Method(RerankMethod kind) => Prepare(kind).Method;

    internal RankingEngine Engine(RerankMethod kind) => Prepare(kind).Engine;

    internal PointwiseMethod Pointwise => (PointwiseMethod)Method(RerankMethod.Pointwise);

    /// <summary>Frees the contexts and the model (after the call in progress; waiting calls are refused).</summary>
    public void Dispose()
    {
        if (!CloseScheduler()) return;
        foreach (var (_, engine) in _methods.Values) engine?.Dispose();
        _methods.Clear();
        _model.Dispose();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
