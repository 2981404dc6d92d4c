using System.Collections;

namespace FastRank.Ranking;

/// <summary>The ranking methods.</summary>
public enum RerankMethod
{
    /// <summary>Yes/no scoring of each document (Qwen3-Reranker style), with shared prompt prefixes.</summary>
    Pointwise,

    /// <summary>
    /// In-context reranking (ICR): every document in one prompt, scored by the attention the query pays to
    /// it, calibrated against a content-free query; no generation. Score: the calibrated attention sum;
    /// raw score: the uncalibrated one. Options: <see cref="RerankerOptions.Icr"/>.
    /// </summary>
    Icr,

    /// <summary>FIRST: listwise windows ranked by the identifier logits of the first generated token (one forward pass per window).</summary>
    First,

    /// <summary>Listwise windows ranked by generating the permutation (RankGPT / RankZephyr style); FIRST's baseline.</summary>
    ListwiseGenerate,
}

/// <summary>The names of the methods in text (CLI, JSON, catalogs): kebab case, such as <c>listwise-generate</c>.</summary>
public static class RerankMethodNames
{
    /// <summary>Parses a method name: case-insensitive, dashes and underscores optional.</summary>
    public static bool TryParse(string? text, out RerankMethod method)
    {
        method = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string compact = text.Trim().Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal);
        return compact.Length > 0 && !char.IsDigit(compact[0]) && Enum.TryParse(compact, ignoreCase: true, out method) && Enum.IsDefined(method);
    }

    /// <summary>The kebab-case name (<c>ListwiseGenerate</c> gives <c>listwise-generate</c>).</summary>
    public static string Name(RerankMethod method)
    {
        string s = method.ToString();
        var sb = new System.Text.StringBuilder(s.Length + 4);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0 && char.IsLower(s[i - 1])) sb.Append('-');
            sb.Append(char.ToLowerInvariant(s[i]));
        }
        return sb.ToString();
    }
}

/// <summary>One ranked document.</summary>
/// <param name="Index">Position of the document in the input list.</param>
/// <param name="Score">The method's score (pointwise: P(yes), in [0, 1]); higher is more relevant.</param>
/// <param name="RawScore">The method's raw value (pointwise: the logit difference yes - no).</param>
public readonly record struct RankedDocument(int Index, double Score, double RawScore);

/// <summary>Token accounting of one rerank call.</summary>
public sealed record RerankUsage
{
    /// <summary>Tokens of all prompts as the model sees them (every document's prompt counted whole).</summary>
    public long PromptTokens { get; init; }

    /// <summary>Prompt tokens served from the prefix cache instead of being computed.</summary>
    public long CachedTokens { get; init; }

    /// <summary>Tokens actually evaluated: <see cref="PromptTokens"/> - <see cref="CachedTokens"/>.</summary>
    public long DecodedTokens => PromptTokens - CachedTokens;

    /// <summary>Documents cut to the per-document token budget.</summary>
    public int TruncatedDocuments { get; init; }

    /// <summary>Whether the query was cut to its token budget.</summary>
    public bool TruncatedQuery { get; init; }

    /// <summary>llama_decode calls made.</summary>
    public int DecodeCalls { get; init; }
}

/// <summary>Where the time of one rerank call went, in milliseconds.</summary>
public sealed record RerankTimings
{
    /// <summary>Waiting for the reranker (other calls in progress).</summary>
    public double QueueMs { get; init; }

    /// <summary>Tokenizing the query and documents and building prompts.</summary>
    public double TokenizeMs { get; init; }

    /// <summary>Decoding shared prefixes (zero when they came from the cache).</summary>
    public double PrefixMs { get; init; }

    /// <summary>Decoding the per-document parts and reading the scores.</summary>
    public double ScoreMs { get; init; }

    /// <summary>Whole call, queue included.</summary>
    public double TotalMs { get; init; }
}

/// <summary>
/// The result of a rerank call: the documents sorted by score, descending (ties by input index), cut to
/// top-N, with the call's usage and timings.
/// </summary>
public sealed class RerankResult : IReadOnlyList<RankedDocument>
{
    private readonly RankedDocument[] _ranked;

    internal RerankResult(RankedDocument[] ranked, RerankMethod method, string model, RerankUsage usage, RerankTimings timings)
    {
        _ranked = ranked;
        Method = method;
        Model = model;
        Usage = usage;
        Timings = timings;
    }

    /// <summary>The method that ranked.</summary>
    public RerankMethod Method { get; }

    /// <summary>The model's name (file name).</summary>
    public string Model { get; }

    /// <summary>Token accounting.</summary>
    public RerankUsage Usage { get; }

    /// <summary>Time spent.</summary>
    public RerankTimings Timings { get; }

    /// <inheritdoc />
    public RankedDocument this[int index] => _ranked[index];

    /// <inheritdoc />
    public int Count => _ranked.Length;

    /// <inheritdoc />
    public IEnumerator<RankedDocument> GetEnumerator() => ((IEnumerable<RankedDocument>)_ranked).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
