using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>Options of a <see cref="Reranker"/>.</summary>
public sealed record RerankerOptions
{
    /// <summary>The ranking method used when a call does not name one.</summary>
    public RerankMethod Method { get; init; } = RerankMethod.Pointwise;

    /// <summary>
    /// Per-document token budget. Longer documents are truncated (their end is cut; the prompt's suffix
    /// stays intact), counted in <see cref="RerankUsage.TruncatedDocuments"/> and logged as a warning.
    /// </summary>
    public int MaxDocumentTokens { get; init; } = 512;

    /// <summary>Query token budget; a longer query is truncated with a warning.</summary>
    public int MaxQueryTokens { get; init; } = 256;

    /// <summary>Pointwise instruction (the <c>{instruction}</c> of the template). Null: the Qwen3-Reranker default.</summary>
    public string? Instruction { get; init; }

    /// <summary>
    /// A pointwise prompt template with <c>{query}</c> and <c>{document}</c> (and optionally
    /// <c>{instruction}</c>) placeholders. Null: the GGUF's own <c>rerank</c> template when it has one and
    /// no custom instruction is set, else the Qwen3-Reranker layout.
    /// </summary>
    public string? PromptTemplate { get; init; }

    /// <summary>
    /// Where pointwise scores come from: <see cref="ScoreHead.Auto"/> (default) reads the yes/no rank head of
    /// converted Qwen3-Reranker files, as llama.cpp, llama-server and LLamaSharp's LLamaReranker do, and the LM head's
    /// "yes"/"no" logits on other models. The two heads agree unquantized and can differ after quantization (see
    /// <see cref="Ranking.ScoreHead"/>). <see cref="ScoreHead.Rank"/> on a model without a yes/no rank head fails at load
    /// with <see cref="ModelNotSupportedException"/>.
    /// </summary>
    public ScoreHead ScoreHead { get; init; } = ScoreHead.Auto;

    /// <summary>
    /// Documents decoded together in parallel sequences (at most 253: llama.cpp's 256 sequences less the prefix cache's);
    /// 0 chooses from <see cref="KvCacheBudgetBytes"/>.
    /// </summary>
    public int ParallelSequences { get; init; }

    /// <summary>llama.cpp's limit of sequences in a context (LLAMA_MAX_SEQ) less the prefix cache's.</summary>
    internal const int MaxParallelSequences = 256 - Engine.RankingEngine.DefaultPrefixSlots;

    /// <summary>Memory the KV cache of one reranker may take when <see cref="ParallelSequences"/> is automatic.</summary>
    public long KvCacheBudgetBytes { get; init; } = 1L << 30;

    /// <summary>CPU threads for llama.cpp; 0 uses every core.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// Most tokens per llama_decode call (one micro-batch, n_batch = n_ubatch). Each sequence contributes
    /// runs of at least 64 tokens with flash attention on, so this bounds how many documents share a micro-batch.
    /// </summary>
    public int MicroBatchSize { get; init; } = 512;

    /// <summary>
    /// Flash attention (on by default, the faster kernel on the CPU). llama.cpp's CPU flash-attention kernel
    /// takes another path for runs of fewer than 64 rows, which moved a yes-no logit by up to 0.4; the
    /// engine plans every micro-batch run at 64 tokens or more (re-decoding cached tokens where a suffix is
    /// shorter), so scores stay identical to a lone decode of the prompt either way.
    /// </summary>
    public bool FlashAttention { get; init; } = true;

    /// <summary>
    /// Pointwise, with flash attention on: compute the attention of document runs shorter than 64 tokens in FastRank,
    /// bit for bit as llama.cpp's tiled kernel computes a whole prompt, instead of re-decoding the end of the cached
    /// prefix to make every run 64 tokens long. Scores are unchanged either way (equal to lone decodes); short documents
    /// cost less with it (on the 2-core AVX-512 development machine, 20 documents of 16 tokens: 1.17x the floor instead
    /// of 2.50x; see the README). On by default. Applies only where it can be exact (llama.cpp's AVX-512 CPU build, every
    /// layer on the CPU, f32/f16/bf16/q8_0 weights, head sizes a multiple of 16, plain softmax attention); elsewhere it
    /// is ignored and runs are padded.
    /// </summary>
    public bool ExactShortRunAttention { get; init; } = true;

    /// <summary>Layers offloaded to a GPU (GPU builds of llama.cpp only).</summary>
    public int GpuLayers { get; init; }

    /// <summary>Options of in-context reranking (<see cref="RerankMethod.Icr"/>).</summary>
    public IcrOptions Icr { get; init; } = new();

    /// <summary>Options of the listwise methods (FIRST, listwise-generate): window, stride, identifiers, passage budget, chat layout.</summary>
    public FirstOptions First { get; init; } = new();

    /// <summary>Where FastRank logs (load, truncation warnings, kernel choice). Null: nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    internal void Validate()
    {
        if (MaxDocumentTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxDocumentTokens), "must be at least 1");
        if (MaxQueryTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxQueryTokens), "must be at least 1");
        if (ParallelSequences is < 0 or > MaxParallelSequences)
            throw new ArgumentOutOfRangeException(nameof(ParallelSequences), ParallelSequences, $"must be in 0..{MaxParallelSequences} (0: automatic)");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), "must not be negative");
        if (MicroBatchSize < 32) throw new ArgumentOutOfRangeException(nameof(MicroBatchSize), "must be at least 32");
        if (!Enum.IsDefined(ScoreHead)) throw new ArgumentOutOfRangeException(nameof(ScoreHead), ScoreHead, "unknown score head");
        if (KvCacheBudgetBytes < 1) throw new ArgumentOutOfRangeException(nameof(KvCacheBudgetBytes), "must be positive");
        ArgumentNullException.ThrowIfNull(Icr);
        Icr.Validate();
        (First ?? throw new ArgumentNullException(nameof(First))).Validate();
    }
}
