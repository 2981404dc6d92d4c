using System.Diagnostics;
using FastRank.Engine;
using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>Per-token attention of one chunk and the scores of its documents (prompt order).</summary>
/// <param name="Query">Attention each prefix position received from the real query (layers and heads summed, query tokens averaged).</param>
/// <param name="Calibration">The same for the content-free query (null without calibration).</param>
/// <param name="Scores">Score of the document at each prompt slot.</param>
/// <param name="RawScores">Uncalibrated score of the document at each prompt slot.</param>
internal sealed record IcrChunkScores(float[] Query, float[]? Calibration, double[] Scores, double[] RawScores);

/// <summary>
/// In-context reranking (ICR, Chen et al., ICLR 2025): the documents and then the query go into one
/// prompt; a document's score is the attention the query's tokens pay to its tokens, read from
/// llama.cpp's own graph (<see cref="AttentionCapture"/>), calibrated by the attention of a content-free
/// query over the same documents. No token is generated.
/// <para>
/// Passes per prompt: the documents (the prefix) are decoded once into sequence 0 with the callback
/// asking for nothing (full speed; the attention mask is still verified). For calibration the stream is
/// copied to sequence 1, and the real query span (on 0) and the <c>N/A</c> span (on 1) are decoded
/// together, one micro-batch holding both as two streams, with the callback reducing the
/// <c>kq_soft_max</c> rows of those spans in place. The documents' KV (sequence 0) and the calibration
/// scores are kept: a next call with the same documents decodes only its query span.
/// </para>
/// <para>
/// The context holds two sequences and no prefix-cache slots: ICR keeps its documents in sequences 0 and 1.
/// Flash attention is always off in this context (the attention probabilities exist only then).
/// </para>
/// </summary>
internal sealed class IcrMethod : IRankingMethod
{
    /// <summary>Sequence holding the documents, then the real query span.</summary>
    internal const int DocumentSequence = 0;

    /// <summary>Sequence holding a copy of the documents, then the calibration span.</summary>
    internal const int CalibrationSequence = 1;

    /// <summary>KV streams of an ICR context: the documents (then the query suffix) and the calibration suffix.</summary>
    private const int Streams = 2;

    /// <summary>Largest kq tensor (bytes) one micro-batch may need: bounds the compute buffer of long contexts.</summary>
    private const long MaxAttentionTensorBytes = 256L << 20;

    private readonly LlamaModel _model;
    private readonly RerankerOptions _options;
    private readonly IcrOptions _icr;
    private readonly ILogger _logger;
    private readonly IcrPromptBuilder _builder;
    private readonly AttentionCapture _capture;
    private readonly int[] _calibrationSuffix;
    private readonly ContextState _state;

    /// <summary>What the context's sequences hold, shared by the methods that run on one context (a call's variants).</summary>
    private sealed class ContextState
    {
        public Memo? Memo { get; set; }
    }

    /// <summary>What sequence 0 (and 1) hold from the last call.</summary>
    private sealed class Memo(int[] prefix)
    {
        public int[] Prefix { get; } = prefix;
        public float[]? Calibration { get; set; }
    }

    public IcrMethod(LlamaModel model, RerankerOptions options, ILogger logger)
        : this(model, options, logger, null)
    {
    }

    /// <summary>
    /// A method on the context of <paramref name="sameContext"/> (a call's variant with another instruction or token
    /// budget): it shares the attention capture the context was created with and what the context's sequences hold.
    /// </summary>
    internal IcrMethod(LlamaModel model, RerankerOptions options, ILogger logger, IcrMethod? sameContext)
    {
        ArgumentNullException.ThrowIfNull(model);
        _capture = sameContext?._capture ?? new AttentionCapture();
        _state = sameContext?._state ?? new ContextState();
        ArgumentNullException.ThrowIfNull(options);
        _model = model;
        _options = options;
        _icr = options.Icr ?? new IcrOptions();
        _icr.Validate();
        _logger = logger;
        GgmlTensor.VerifyLayout();
        _builder = new IcrPromptBuilder(model, _icr);
        _calibrationSuffix = _builder.QuerySuffix(_builder.CalibrationQuery);
        MaxDocumentTokens = _icr.MaxDocumentTokens ?? options.MaxDocumentTokens;
        Cells = ChooseCells(model, options, _icr);
        int frame = _builder.Head.Length + 2 * _builder.Separator.Length + MaxSuffixTokens(options) + 16;
        if (frame + 1 > Cells)
            throw new ArgumentException($"ICR's context of {Cells} tokens cannot hold the prompt around one document with a query of up to " +
                $"{options.MaxQueryTokens} tokens ({frame} tokens); raise Icr.MaxContextTokens or the KV budget, or lower MaxQueryTokens");
    }

    public RerankMethod Kind => RerankMethod.Icr;

    /// <summary>KV cells of each sequence: the longest prompt.</summary>
    public int Cells { get; }

    /// <summary>Per-document token budget.</summary>
    public int MaxDocumentTokens { get; }

    /// <summary>The layout in use.</summary>
    public IcrPromptLayout Layout => _builder.Layout;

    internal IcrPromptBuilder Builder => _builder;

    /// <summary>Whether calls decode the content-free calibration query too.</summary>
    internal bool Calibrates => _icr.Calibration != IcrCalibration.None;

    internal AttentionCapture Capture => _capture;

    private static int ChooseCells(LlamaModel model, RerankerOptions options, IcrOptions icr)
    {
        int want = RankingMethods.CellsFor(icr.MaxContextTokens);
        int train = model.TrainContextLength >= 256 ? model.TrainContextLength / 256 * 256 : want;
        long perCell = Math.Max(1, model.KvBytesPerCell * Streams);
        long fit = options.KvCacheBudgetBytes / perCell / 256 * 256;
        return (int)Math.Max(256, Math.Min(Math.Min(want, train), fit));
    }

    private int MaxSuffixTokens(RerankerOptions options) =>
        _builder.QueryFrameTokens + Math.Max(options.MaxQueryTokens, _calibrationSuffix.Length - _builder.QueryFrameTokens) + 2;

    public ContextConfig ContextConfig(RerankerOptions options)
    {
        // Flash attention off whatever the options say: kq_soft_max exists only then. The micro-batch is
        // bounded so that one layer's attention tensor (n_kv x tokens x heads, f32) stays within 256 MB.
        long perToken = 4L * Cells * Math.Max(1, _model.HeadCount);
        int cap = (int)Math.Clamp(MaxAttentionTensorBytes / perToken / 32 * 32, 32, int.MaxValue);
        int ubatch = Math.Min(options.MicroBatchSize, cap);
        return new ContextConfig(Streams, Cells, ubatch, ubatch, FlashAttention: false, RankingMethods.Threads(options))
        {
            PrefixSlots = 0,
            EvalCallback = AttentionCapture.CallbackPointer,
            EvalUserData = _capture.UserData,
        };
    }

    public MethodResult Rank(RankingEngine engine, string query, IReadOnlyList<string> documents, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        long t0 = Stopwatch.GetTimestamp();
        var ctx = engine.Context;
        long calls0 = ctx.DecodeCalls;
        if (documents.Count == 0)
            return new MethodResult([], new RerankUsage(), new RerankTimings { TokenizeMs = RankingMethods.Ms(Stopwatch.GetTimestamp() - t0) });

        var prompt = BuildPrompt(query, documents);
        long t1 = Stopwatch.GetTimestamp();
        var ranked = new RankedDocument[documents.Count];
        var stats = new PassStats();
        foreach (var chunk in prompt.Chunks)
        {
            var scores = ScoreChunkWithRetry(engine, chunk, prompt.QuerySuffix, stats, ct);
            for (int k = 0; k < chunk.Documents.Length; k++)
            {
                int index = chunk.Documents[k];
                ranked[index] = new RankedDocument(index, scores.Scores[k], scores.RawScores[k]);
            }
        }
        long t2 = Stopwatch.GetTimestamp();
        RankingMethods.SortByScore(ranked, byRawScore: false);
        var usage = new RerankUsage
        {
            PromptTokens = stats.PromptTokens,
            CachedTokens = stats.PromptTokens - stats.DecodedTokens,
            TruncatedDocuments = prompt.TruncatedDocuments,
            TruncatedQuery = prompt.TruncatedQuery,
            DecodeCalls = (int)(ctx.DecodeCalls - calls0),
        };
        var timings = new RerankTimings
        {
            TokenizeMs = RankingMethods.Ms(t1 - t0),
            PrefixMs = RankingMethods.Ms(stats.PrefixTicks),
            ScoreMs = RankingMethods.Ms(t2 - t1 - stats.PrefixTicks),
        };
        return new MethodResult(ranked, usage, timings);
    }

    /// <summary>Token accounting and time of the passes of one call.</summary>
    internal sealed class PassStats
    {
        public long PromptTokens { get; set; }
        public long DecodedTokens { get; set; }
        public long PrefixTicks { get; set; }
        public long QueryTicks { get; set; }
    }

    /// <summary>Tokenizes a call and plans its chunks.</summary>
    internal IcrPrompt BuildPrompt(string query, IReadOnlyList<string> documents)
    {
        ArgumentNullException.ThrowIfNull(query);
        int[] queryTokens = _model.TokenizeTextBounded(query, _options.MaxQueryTokens);
        bool queryTruncated = queryTokens.Length > _options.MaxQueryTokens;
        if (queryTruncated)
        {
            _logger.LogWarning("Query truncated to {Budget} tokens", _options.MaxQueryTokens);
            query = _model.CutToTokens(query, queryTokens, _options.MaxQueryTokens);
        }
        int[] querySuffix = _builder.QuerySuffix(query);

        int n = documents.Count;
        var texts = new string[n];
        var lengths = new int[n];
        var truncated = new bool[n];
        for (int i = 0; i < n; i++)
        {
            string doc = documents[i] ?? throw new ArgumentException($"document {i} is null", nameof(documents));
            int[] tokens = _model.TokenizeTextBounded(doc, MaxDocumentTokens);
            if (tokens.Length > MaxDocumentTokens)
            {
                doc = _model.CutToTokens(doc, tokens, MaxDocumentTokens);
                truncated[i] = true;
            }
            texts[i] = doc;
            lengths[i] = Math.Min(tokens.Length, MaxDocumentTokens);
        }

        // Chunk budget: the cells minus the head, the separator before the query span and the longer query span.
        int sep = _builder.Separator.Length;
        int suffix = Math.Max(querySuffix.Length, _calibrationSuffix.Length);
        int budget = Cells - _builder.Head.Length - sep - suffix;
        int maxPerChunk = _icr.MaxDocumentsPerChunk > 0 ? _icr.MaxDocumentsPerChunk : n;
        // A label ("[100] ") and one token of slack for where a document's end merges with what follows.
        int label = _model.TokenizeText("[" + Math.Min(n, maxPerChunk).ToString(System.Globalization.CultureInfo.InvariantCulture) + "] ").Length + 1;
        var costs = new int[n];
        for (int i = 0; i < n; i++)
        {
            int room = budget - sep - label;
            if (lengths[i] > room)
            {
                // Only with a context smaller than one document's budget: cut to what one prompt can hold.
                texts[i] = _model.CutToTokens(texts[i], _model.TokenizeText(texts[i]), Math.Max(0, room));
                lengths[i] = Math.Max(0, room);
                truncated[i] = true;
            }
            costs[i] = sep + label + lengths[i];
        }
        int truncatedCount = truncated.Count(t => t);
        if (truncatedCount > 0)
            _logger.LogWarning("{Count} of {Total} documents exceeded {Budget} tokens and were truncated", truncatedCount, n, MaxDocumentTokens);

        int[][] plan = IcrChunking.Plan(costs, budget, (n + maxPerChunk - 1) / maxPerChunk);
        if (plan.Length > 1)
            _logger.LogInformation("ICR: {Documents} documents in {Chunks} prompts (context {Cells} tokens)", n, plan.Length, Cells);
        var chunks = new IcrChunk[plan.Length];
        for (int j = 0; j < plan.Length; j++)
        {
            int[] order = plan[j];
            if (_icr.ReverseOrder) Array.Reverse(order);
            chunks[j] = _builder.BuildChunk(order, texts);
        }
        return new IcrPrompt(chunks, querySuffix, _calibrationSuffix, truncatedCount, queryTruncated);
    }

    private IcrChunkScores ScoreChunkWithRetry(RankingEngine engine, IcrChunk chunk, int[] querySuffix, PassStats stats, CancellationToken ct)
    {
        try
        {
            return ScoreChunk(engine, chunk, querySuffix, stats, ct);
        }
        catch (AttentionLayoutException ex)
        {
            // The cells of a sequence did not map to positions (or a micro-batch was split): start again
            // from an empty cache, where llama.cpp fills cells in order, once.
            _logger.LogWarning("ICR: {Message}; retrying from an empty KV cache", ex.Message);
            engine.Reset();
            engine.Context.ClearAll();
            return ScoreChunk(engine, chunk, querySuffix, stats, ct);
        }
    }

    /// <summary>Decodes one chunk's passes and scores its documents.</summary>
    /// <exception cref="AttentionLayoutException">Attention could not be mapped to tokens (the sequences are cleared).</exception>
    internal IcrChunkScores ScoreChunk(RankingEngine engine, IcrChunk chunk, int[] querySuffix, PassStats? stats, CancellationToken ct)
    {
        var ctx = engine.Context;
        _capture.Attach(ctx);
        int[] prefix = chunk.Prefix;
        int p = prefix.Length;
        if (p + Math.Max(querySuffix.Length, _calibrationSuffix.Length) > ctx.Config.CellsPerSequence)
            throw new ArgumentException($"an ICR prompt of {p + querySuffix.Length} tokens exceeds the {ctx.Config.CellsPerSequence} cells of its context");
        bool calibrate = _icr.Calibration != IcrCalibration.None;
        bool shared = calibrate && _icr.SharedCalibrationBatch && ctx.Config.Sequences > CalibrationSequence;
        stats ??= new PassStats();
        try
        {
            long t0 = Stopwatch.GetTimestamp();
            var memo = _state.Memo;
            bool reuse = memo is not null && ctx.MaxPosition(DocumentSequence) >= p - 1 && prefix.AsSpan().SequenceEqual(memo.Prefix);
            if (reuse)
            {
                ctx.Truncate(DocumentSequence, p);
            }
            else
            {
                _state.Memo = null;
                ctx.Clear(DocumentSequence);
                Decode(ctx, [new DecodeJob(DocumentSequence, 0, prefix, 0, false)], ct);
                stats.DecodedTokens += p;
                memo = _state.Memo = new Memo(prefix);
            }
            long t1 = Stopwatch.GetTimestamp();
            stats.PrefixTicks += t1 - t0;

            float[] query;
            float[]? calibration = calibrate ? memo!.Calibration : null;
            if (calibrate && calibration is null && shared)
            {
                ctx.CopyAll(DocumentSequence, CalibrationSequence);
                _capture.BeginCapture(p);
                Decode(ctx, [new DecodeJob(DocumentSequence, p, querySuffix, 0, false), new DecodeJob(CalibrationSequence, p, _calibrationSuffix, 1, false)], ct);
                _capture.EndCapture();
                query = Harvest(DocumentSequence, p, querySuffix.Length);
                calibration = Harvest(CalibrationSequence, p, _calibrationSuffix.Length);
                stats.DecodedTokens += querySuffix.Length + _calibrationSuffix.Length;
            }
            else if (calibrate && calibration is null)
            {
                _capture.BeginCapture(p);
                Decode(ctx, [new DecodeJob(DocumentSequence, p, _calibrationSuffix, 1, false)], ct);
                _capture.EndCapture();
                calibration = Harvest(DocumentSequence, p, _calibrationSuffix.Length);
                ctx.Truncate(DocumentSequence, p);
                query = QueryPass(ctx, p, querySuffix, ct);
                stats.DecodedTokens += querySuffix.Length + _calibrationSuffix.Length;
            }
            else
            {
                query = QueryPass(ctx, p, querySuffix, ct);
                stats.DecodedTokens += querySuffix.Length;
            }
            memo!.Calibration = calibration;
            stats.QueryTicks += Stopwatch.GetTimestamp() - t1;
            stats.PromptTokens += p + querySuffix.Length + (calibrate ? p + _calibrationSuffix.Length : 0);

            int n = chunk.Spans.Length;
            var scores = new double[n];
            var raw = new double[n];
            for (int k = 0; k < n; k++)
            {
                var span = chunk.Spans[k];
                var q = query.AsSpan(span.Start, span.Length);
                raw[k] = IcrScoring.Raw(q);
                scores[k] = calibration is null ? raw[k] : IcrScoring.Score(_icr.Calibration, q, calibration.AsSpan(span.Start, span.Length));
            }
            return new IcrChunkScores(query, calibration, scores, raw);
        }
        catch
        {
            _state.Memo = null;
            _capture.Reset();
            ctx.Clear(DocumentSequence);
            ctx.Clear(CalibrationSequence);
            throw;
        }
    }

    private float[] QueryPass(InferenceContext ctx, int p, int[] querySuffix, CancellationToken ct)
    {
        _capture.BeginCapture(p);
        Decode(ctx, [new DecodeJob(DocumentSequence, p, querySuffix, 0, false)], ct);
        _capture.EndCapture();
        return Harvest(DocumentSequence, p, querySuffix.Length);
    }

    /// <summary>Decodes jobs and makes sure the callback verified every micro-batch.</summary>
    private void Decode(InferenceContext ctx, DecodeJob[] jobs, CancellationToken ct)
    {
        long calls = ctx.DecodeCalls;
        long verified = _capture.VerifiedMicroBatches;
        SequenceBatcher.Run(ctx, jobs, null, ct);
        _capture.ThrowIfFailed();
        if (_capture.VerifiedMicroBatches - verified != ctx.DecodeCalls - calls)
            throw new AttentionLayoutException($"the attention callback saw {_capture.VerifiedMicroBatches - verified} of {ctx.DecodeCalls - calls} micro-batches (is flash attention on?)");
    }

    /// <summary>Per-position attention (prefix positions 0..p-1) from the real query's rows of <paramref name="seq"/>, averaged over its tokens.</summary>
    private float[] Harvest(int seq, int p, int rows)
    {
        _capture.ThrowIfFailed();
        if (!_capture.ReadoutEnabled) return new float[p];
        var r = _capture.Result(seq);
        if (r is null || r.Rows != rows || r.FirstPosition != p || r.LastPosition != p + rows - 1)
            throw new AttentionLayoutException($"captured {r?.Rows ?? 0} query rows of sequence {seq} at positions {r?.FirstPosition}..{r?.LastPosition}, expected {rows} at {p}..{p + rows - 1}");
        var result = new float[p];
        float scale = 1f / rows;
        System.Numerics.Tensors.TensorPrimitives.Multiply(r.Cells.AsSpan(0, p), scale, result);
        return result;
    }

    /// <summary>Forgets the documents kept from the last call.</summary>
    internal void ForgetDocuments() => _state.Memo = null;
}
