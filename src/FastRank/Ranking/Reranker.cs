using System.Diagnostics;
using FastRank.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastRank.Ranking;

/// <summary>
/// Reranks documents for a query with a local GGUF model through llama.cpp. Load once, call many
/// times. Calls on one reranker are safe from any number of threads: they queue and run one at a
/// time on its context (on two cores, running two at once would only halve each one's speed).
/// Cancellation stops work between llama_decode calls, or inside a long one, and leaves the reranker
/// usable.
/// </summary>
/// <example>
/// <code>
/// await using var ranker = await Reranker.LoadAsync("model.gguf");
/// var results = await ranker.RerankAsync("what is a llama?", documents, topN: 3);
/// foreach (var r in results) Console.WriteLine($"{r.Index}: {r.Score:F3}");
/// </code>
/// </example>
public sealed class Reranker : IDisposable, IAsyncDisposable
{
    private readonly LlamaModel _model;
    private readonly RerankerOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly PointwiseMethod _pointwise;
    private RankingEngine? _pointwiseEngine;
    private bool _disposed;

    private Reranker(LlamaModel model, RerankerOptions options, ILogger logger)
    {
        _model = model;
        _options = options;
        _logger = logger;
        _pointwise = new PointwiseMethod(model, options, logger);
        logger.LogInformation("Pointwise prompt: {Source}; yes={Yes} no={No}", _pointwise.TemplateSource, _pointwise.YesToken, _pointwise.NoToken);
    }

    /// <summary>Validates and loads a GGUF model and prepares the reranking context.</summary>
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
        try
        {
            var ranker = new Reranker(model, options, logger);
            ranker.EnsureEngine();
            return ranker;
        }
        catch
        {
            model.Dispose();
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

    internal PointwiseMethod Pointwise => _pointwise;

    internal RankingEngine Engine => EnsureEngine();

    /// <summary>Documents decoded together in one wave.</summary>
    public int ParallelSequences => EnsureEngine().WorkSlots;

    /// <summary>
    /// Ranks <paramref name="documents"/> by relevance to <paramref name="query"/>. The result is sorted by
    /// score, descending, ties broken by input index, and holds at most <paramref name="topN"/> entries
    /// (all when null).
    /// </summary>
    /// <exception cref="ArgumentNullException">query or documents (or one document) is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">topN is negative.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public async Task<RerankResult> RerankAsync(string query, IReadOnlyList<string> documents, int? topN = null, CancellationToken ct = default)
    {
        Check(query, documents, topN);
        long queued = Stopwatch.GetTimestamp();
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => RerankLocked(query, documents, topN, queued, ct), ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Synchronous twin of <see cref="RerankAsync"/>.</summary>
    public RerankResult Rerank(string query, IReadOnlyList<string> documents, int? topN = null, CancellationToken ct = default)
    {
        Check(query, documents, topN);
        long queued = Stopwatch.GetTimestamp();
        _gate.Wait(ct);
        try
        {
            return RerankLocked(query, documents, topN, queued, ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Check(string query, IReadOnlyList<string> documents, int? topN)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        if (topN is < 0) throw new ArgumentOutOfRangeException(nameof(topN), "topN must not be negative");
        for (int i = 0; i < documents.Count; i++)
        {
            if (documents[i] is null) throw new ArgumentNullException(nameof(documents), $"document {i} is null");
        }
    }

    private RerankResult RerankLocked(string query, IReadOnlyList<string> documents, int? topN, long queued, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long start = Stopwatch.GetTimestamp();
        var engine = EnsureEngine();
        RankedDocument[] scored;
        RerankUsage usage;
        RerankTimings timings;
        try
        {
            scored = _pointwise.Score(engine, _options, query, documents, ct, out usage, out timings);
        }
        catch (Exception ex) when (ex is OperationCanceledException or DecodeException)
        {
            engine.Reset();
            throw;
        }
        Array.Sort(scored, static (a, b) => b.RawScore != a.RawScore ? b.RawScore.CompareTo(a.RawScore) : a.Index.CompareTo(b.Index));
        int take = Math.Min(topN ?? scored.Length, scored.Length);
        var ranked = take == scored.Length ? scored : scored[..take];
        long end = Stopwatch.GetTimestamp();
        timings = timings with
        {
            QueueMs = (start - queued) * 1000.0 / Stopwatch.Frequency,
            TotalMs = (end - queued) * 1000.0 / Stopwatch.Frequency,
        };
        return new RerankResult(ranked, RerankMethod.Pointwise, Path.GetFileName(_model.Path), usage, timings);
    }

    private RankingEngine EnsureEngine()
    {
        if (_pointwiseEngine is not null) return _pointwiseEngine;
        int cells = RoundUp(_pointwise.MaxPromptTokens(_options), 256);
        int threads = _options.Threads > 0 ? _options.Threads : Environment.ProcessorCount;
        int work = _options.ParallelSequences;
        if (work == 0)
        {
            long perSeq = cells * _model.KvBytesPerCell;
            work = (int)Math.Clamp(_options.KvCacheBudgetBytes / Math.Max(1, perSeq) - RankingEngine.PrefixSlots, 1, DefaultParallelSequences);
        }
        // Every llama_decode call is one planned micro-batch (SequenceBatcher), so n_batch = n_ubatch.
        int batch = _options.MicroBatchSize;
        var config = new ContextConfig(RankingEngine.PrefixSlots + work, cells, batch, batch, _options.FlashAttention, threads);
        _pointwiseEngine = new RankingEngine(_model, config);
        _logger.LogInformation("Pointwise context: {Work} parallel sequences of {Cells} cells, batch {Batch}, {Threads} threads, KV {Kv:F0} MB",
            work, cells, batch, threads, (double)config.Sequences * cells * _model.KvBytesPerCell / 1e6);
        return _pointwiseEngine;
    }

    /// <summary>Default ceiling of parallel sequences (measured: wider waves gain nothing on CPU).</summary>
    internal const int DefaultParallelSequences = 16;

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>Frees the context and the model.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _gate.Wait();
        try
        {
            _disposed = true;
            _pointwiseEngine?.Dispose();
            _model.Dispose();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
