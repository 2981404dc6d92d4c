namespace FastRank.Ranking;

/// <summary>
/// One rerank call with per-call settings (what a server request carries): the query, the documents,
/// and optional overrides of the reranker's method, instruction and per-document token budget.
/// </summary>
/// <param name="Query">The query.</param>
/// <param name="Documents">The documents, ranked by relevance to <paramref name="Query"/>.</param>
public sealed record RerankRequest(string Query, IReadOnlyList<string> Documents)
{
    /// <summary>The method; null: the reranker's configured one.</summary>
    public RerankMethod? Method { get; init; }

    /// <summary>Return only the best N documents; null: all.</summary>
    public int? TopN { get; init; }

    /// <summary>
    /// The pointwise instruction (the task description in the prompt); null: the reranker's. A different
    /// instruction gives a different cached prompt head; scores are those of a reranker configured with it.
    /// </summary>
    public string? Instruction { get; init; }

    /// <summary>
    /// Per-document token budget of this call; null: the reranker's <see cref="RerankerOptions.MaxDocumentTokens"/>.
    /// A larger value than the reranker's is capped to it (the context is sized for that).
    /// </summary>
    public int? MaxDocumentTokens { get; init; }
}
