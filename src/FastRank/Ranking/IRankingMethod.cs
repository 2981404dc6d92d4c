using FastRank.Engine;
using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>What a method's ranking of one call produced.</summary>
/// <param name="Ranked">Every document, in final rank order (best first).</param>
/// <param name="Usage">Token accounting.</param>
/// <param name="Timings">Time spent, without queueing (the reranker adds it).</param>
internal sealed record MethodResult(RankedDocument[] Ranked, RerankUsage Usage, RerankTimings Timings);

/// <summary>
/// A ranking method: it declares the context it needs, turns a call into prompt tokens (shared
/// prefixes, per-item suffixes), and turns readouts into a ranking. Batching, the prefix cache and the
/// KV layout belong to <see cref="RankingEngine"/>; a method never schedules decodes itself.
/// </summary>
internal interface IRankingMethod
{
    RerankMethod Kind { get; }

    /// <summary>The context this method needs for <paramref name="options"/>.</summary>
    ContextConfig ContextConfig(RerankerOptions options);

    /// <summary>Ranks <paramref name="documents"/> for <paramref name="query"/> on <paramref name="engine"/>.</summary>
    MethodResult Rank(RankingEngine engine, string query, IReadOnlyList<string> documents, CancellationToken ct);
}

/// <summary>Creates ranking methods by kind.</summary>
internal static class RankingMethods
{
    public static IRankingMethod Create(RerankMethod kind, LlamaModel model, RerankerOptions options, ILogger logger) => kind switch
    {
        RerankMethod.Pointwise => new PointwiseMethod(model, options, logger),
        RerankMethod.Icr => new IcrMethod(model, options, logger),
        RerankMethod.First => new FirstMethod(model, options, logger),
        RerankMethod.ListwiseGenerate => new ListwiseGenerateMethod(model, options, logger),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown ranking method"),
    };

    /// <summary>Milliseconds of <paramref name="ticks"/> <see cref="System.Diagnostics.Stopwatch"/> ticks (the timings of a call).</summary>
    public static double Ms(long ticks) => ticks * 1000.0 / System.Diagnostics.Stopwatch.Frequency;

    /// <summary>Sorts by score, descending, ties by input index (the order every method returns).</summary>
    public static void SortByScore(RankedDocument[] ranked, bool byRawScore) =>
        Array.Sort(ranked, byRawScore
            ? static (a, b) => b.RawScore != a.RawScore ? b.RawScore.CompareTo(a.RawScore) : a.Index.CompareTo(b.Index)
            : static (a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Index.CompareTo(b.Index));

    /// <summary>KV cells per sequence for prompts of up to <paramref name="tokens"/> tokens (a multiple of 256, as llama.cpp pads).</summary>
    public static int CellsFor(int tokens) => (tokens + 255) / 256 * 256;

    /// <summary>CPU threads for <paramref name="options"/>.</summary>
    public static int Threads(RerankerOptions options) => options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
}
