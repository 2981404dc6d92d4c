using FastRank.Engine;
using FastRank.Gguf;
using LLama;
using LLama.Common;
using LLama.Native;

namespace FastRank.Cli.Bench;

/// <summary>
/// LLamaSharp's own <see cref="LLamaReranker"/> as a baseline: what a C# developer gets from LLamaSharp for a
/// GGUF with a rank head (pooling RANK and <c>cls.output.weight</c>, as llama.cpp's converter writes Qwen3
/// rerankers and FastRank's synthetic qwen3 models carry). It shares FastRank's loaded weights.
/// <para>
/// What differs from FastRank's pointwise prompt: LLamaReranker concatenates the query's tokens and each
/// document's tokens with no template (no instruction, no chat markers, no prefix sharing), packs whole
/// documents into one llama_decode call until the context is full (so the batch, the micro-batch and the
/// context are one size), and reads llama.cpp's pooled RANK output (for a yes/no head, the softmax of the
/// two logits) instead of a yes-minus-no logit. It decodes query + document for every document.
/// </para>
/// </summary>
internal sealed class LlamaSharpRerankerBaseline : IDisposable
{
    private readonly LLamaReranker _reranker;

    private LlamaSharpRerankerBaseline(LlamaModel model, int contextSize, int sequences, int threads)
    {
        ContextSize = contextSize;
        var p = new ModelParams(model.Path)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)contextSize,
            SeqMax = (uint)sequences,
            KVUnified = true,
            FlashAttention = true,
            PoolingType = LLamaPoolingType.Rank,
            Threads = threads,
            BatchThreads = threads,
        };
        _reranker = new LLamaReranker(model.Weights, p);
    }

    /// <summary>The context size (= batch = micro-batch) of this instance.</summary>
    public int ContextSize { get; }

    /// <summary>Why LLamaReranker cannot run on <paramref name="header"/>, or null when it can.</summary>
    public static string? Unsupported(GgufFile header)
    {
        if (header.GetArchInteger("pooling_type") != 4) return "the model is not marked pooling RANK (no rank head)";
        if (!header.Tensors.Any(t => t.Name == "cls.output.weight")) return "the model has no cls.output.weight rank head";
        return null;
    }

    /// <summary>
    /// Creates the reranker with a context of <paramref name="contextSize"/> tokens, raised to hold the longest
    /// query + document (LLamaReranker needs each document whole in one batch).
    /// </summary>
    public static LlamaSharpRerankerBaseline Create(LlamaModel model, int contextSize, int longestInput, int documents, int threads)
    {
        int size = Math.Max(contextSize, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(256, longestInput)));
        // One sequence id per document of a batch: at most this many documents fit (llama.cpp allows 256).
        int sequences = Math.Clamp(documents, 1, 256);
        return new LlamaSharpRerankerBaseline(model, size, sequences, threads);
    }

    /// <summary>
    /// The fastest of the context sizes <paramref name="contextSizes"/> (each raised to hold the longest input; sizes
    /// that come out equal are tried once), each timed once on <paramref name="query"/> (untimed for any report), the
    /// others disposed; chosen like a floor setting.
    /// </summary>
    public static LlamaSharpRerankerBaseline Fastest(LlamaModel model, IEnumerable<int> contextSizes, string query, IReadOnlyList<string> documents,
        int threads, Action<string>? progress = null)
    {
        int longest = LongestInput(model, query, documents);
        LlamaSharpRerankerBaseline? best = null;
        double bestMs = double.MaxValue;
        foreach (int size in contextSizes.Distinct())
        {
            var r = Create(model, size, longest, documents.Count, threads);
            if (best is not null && r.ContextSize == best.ContextSize)
            {
                r.Dispose();
                continue;
            }
            double ms = Contender.Time(() => r.Score(query, documents));
            progress?.Invoke(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"LLamaReranker context {r.ContextSize}: {ms:F0} ms"));
            if (ms < bestMs)
            {
                best?.Dispose();
                best = r;
                bestMs = ms;
            }
            else
            {
                r.Dispose();
            }
        }
        return best ?? throw new ArgumentException("no context size given", nameof(contextSizes));
    }

    /// <summary>Tokens LLamaReranker decodes for these inputs (query + document, each document).</summary>
    public long Tokens(string query, IReadOnlyList<string> documents)
    {
        long q = _reranker.Context.Tokenize(query).Length;
        return documents.Sum(d => q + _reranker.Context.Tokenize(d).Length);
    }

    /// <summary>The longest query + document input, in tokens.</summary>
    public static int LongestInput(LlamaModel model, string query, IReadOnlyList<string> documents) =>
        model.TokenizeText(query).Length + 1 + documents.Max(d => model.TokenizeText(d).Length);

    /// <summary>Scores every document (LLamaReranker's raw pooled output).</summary>
    public IReadOnlyList<float> Score(string query, IReadOnlyList<string> documents) =>
        _reranker.GetRelevanceScores(query, documents).GetAwaiter().GetResult();

    public override string ToString() => $"LLamaReranker, context = batch = micro-batch {ContextSize}, unified KV, flash attention on";

    public void Dispose() => _reranker.Dispose();
}
