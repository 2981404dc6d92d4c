namespace FastRank.Ranking;

/// <summary>How listwise passages are labelled.</summary>
public enum ListwiseIdentifiers
{
    /// <summary><c>[A]</c>, <c>[B]</c>, ... (FIRST); windows of at most 26 passages.</summary>
    Letters,

    /// <summary><c>[1]</c>, <c>[2]</c>, ... (RankZephyr, RankVicuna); the model must have every number up to the window size as one token.</summary>
    Numbers,
}

/// <summary>
/// Options of the listwise methods (<see cref="RerankMethod.First"/> and
/// <see cref="RerankMethod.ListwiseGenerate"/>). The defaults follow FIRST: windows of 20 passages,
/// stride 10, letter identifiers, passages cut to about 300 words.
/// </summary>
public sealed record FirstOptions
{
    /// <summary>Passages per window (one prompt); 2..26 with letters, 2..100 with numbers.</summary>
    public int WindowSize { get; init; } = 20;

    /// <summary>How far the window moves up the list between windows; 1..<see cref="WindowSize"/>.</summary>
    public int Stride { get; init; } = 10;

    /// <summary>Letters (default) or numbers.</summary>
    public ListwiseIdentifiers Identifiers { get; init; } = ListwiseIdentifiers.Letters;

    /// <summary>
    /// Per-passage token budget (about 300 words of English). Longer passages are cut, counted in
    /// <see cref="RerankUsage.TruncatedDocuments"/> and logged. Lowered automatically, with a log line,
    /// when a whole window would not fit the model's training context.
    /// </summary>
    public int MaxPassageTokens { get; init; } = 400;

    /// <summary>
    /// The chat layout: null or <c>auto</c> (the family of the GGUF's chat template, else what llama.cpp
    /// makes of that template, else ChatML when the vocabulary has its tokens); a built-in name
    /// (<c>chatml</c>, <c>qwen3</c>, <c>llama3</c>, <c>mistral</c>, <c>zephyr</c>); or a layout of one's own
    /// with <c>{user}</c> and optionally <c>{system}</c> placeholders (without <c>{system}</c> the prompt has no
    /// system text), for example
    /// <c>"&lt;|im_start|&gt;user\n{user}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n"</c>.
    /// </summary>
    public string? ChatLayout { get; init; }

    /// <summary>System text (tokenized as plain text). Null: FIRST's (<c>You are RankLLM, ...</c>).</summary>
    public string? SystemPrompt { get; init; }

    /// <summary>
    /// Listwise-generate only: most tokens generated per window. 0: the length of a complete permutation
    /// of the window (<c>[A] &gt; [B] &gt; ...</c>) plus one for the end-of-turn token.
    /// </summary>
    public int MaxGeneratedTokens { get; init; }

    /// <summary>
    /// Flash attention for the listwise contexts; null: on. A window is one long sequence, where flash
    /// attention's speed counts most (measured on the small synthetic model: a 2,300-token window's
    /// prefill took 1.3x to 1.8x as long without it). Either way a window's logits equal a lone decode of
    /// its prompt (the engine plans micro-batch runs of at least 64 tokens, see SequenceBatcher).
    /// <see cref="RerankerOptions.FlashAttention"/> applies to the pointwise method only.
    /// </summary>
    public bool? FlashAttention { get; init; }

    internal int MaxWindow => Identifiers == ListwiseIdentifiers.Letters ? 26 : 100;

    internal void Validate()
    {
        if (WindowSize < 2 || WindowSize > MaxWindow)
            throw new ArgumentOutOfRangeException(nameof(WindowSize), WindowSize, $"must be in 2..{MaxWindow} with {Identifiers.ToString().ToLowerInvariant()} identifiers");
        if (Stride < 1 || Stride > WindowSize)
            throw new ArgumentOutOfRangeException(nameof(Stride), Stride, $"must be in 1..{WindowSize} (the window size)");
        if (MaxPassageTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxPassageTokens), MaxPassageTokens, "must be at least 1");
        if (MaxGeneratedTokens < 0 || MaxGeneratedTokens > 4096) throw new ArgumentOutOfRangeException(nameof(MaxGeneratedTokens), MaxGeneratedTokens, "must be in 0..4096");
        if (!Enum.IsDefined(Identifiers)) throw new ArgumentOutOfRangeException(nameof(Identifiers), Identifiers, "unknown identifier kind");
        if (ChatLayout is not null && !string.Equals(ChatLayout, "auto", StringComparison.OrdinalIgnoreCase)) _ = Prompts.ChatLayout.Parse(ChatLayout);
    }
}
