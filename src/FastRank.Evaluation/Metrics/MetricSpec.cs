using System.Globalization;

namespace FastRank.Evaluation.Metrics;

/// <summary>The retrieval measures, each defined as trec_eval defines it.</summary>
public enum MetricKind
{
    /// <summary>nDCG at a cutoff (trec_eval <c>ndcg_cut</c>; without one, <c>ndcg</c>): gain = relevance, discount log2(rank + 1), ideal from the qrels.</summary>
    Ndcg,

    /// <summary>Reciprocal rank of the first relevant document within the cutoff (trec_eval <c>recip_rank</c> on the run cut with <c>-M k</c>); its mean is MRR.</summary>
    ReciprocalRank,

    /// <summary>Relevant documents retrieved within the cutoff over all relevant documents (trec_eval <c>recall</c>).</summary>
    Recall,

    /// <summary>Relevant documents within the cutoff over the cutoff (trec_eval <c>P</c>).</summary>
    Precision,

    /// <summary>Average precision (trec_eval <c>map</c>; with a cutoff, <c>map_cut</c>).</summary>
    AveragePrecision,
}

/// <summary>
/// One measure and its cutoff, written <c>ndcg@10</c>, <c>mrr@10</c>, <c>recall@100</c>, <c>p@10</c>, <c>map</c>,
/// <c>map@100</c> (trec_eval's names are read too: <c>ndcg_cut_10</c>, <c>recip_rank</c>, <c>recall_100</c>, <c>P_10</c>,
/// <c>map_cut_100</c>).
/// </summary>
/// <param name="Kind">The measure.</param>
/// <param name="Cutoff">Documents considered; null: the whole ranking.</param>
public sealed record MetricSpec(MetricKind Kind, int? Cutoff)
{
    /// <summary>The measures reported when none are asked for.</summary>
    public static IReadOnlyList<MetricSpec> Defaults { get; } = ParseList("ndcg@10,mrr@10,recall@100,map");

    /// <summary>The name: <c>ndcg@10</c>, <c>mrr@10</c>, <c>recall@100</c>, <c>p@10</c>, <c>map</c>.</summary>
    public string Name => (Kind switch
    {
        MetricKind.Ndcg => "ndcg",
        MetricKind.ReciprocalRank => "mrr",
        MetricKind.Recall => "recall",
        MetricKind.Precision => "p",
        _ => "map",
    }) + (Cutoff is { } k ? "@" + k.ToString(CultureInfo.InvariantCulture) : "");

    /// <summary>trec_eval's name of the measure (<c>ndcg_cut_10</c>, <c>recip_rank</c>, <c>recall_100</c>, <c>P_10</c>, <c>map</c>, <c>map_cut_10</c>).</summary>
    public string TrecEvalName => Kind switch
    {
        MetricKind.Ndcg => Cutoff is { } k ? $"ndcg_cut_{k}" : "ndcg",
        MetricKind.ReciprocalRank => "recip_rank",
        MetricKind.Recall => $"recall_{Cutoff}",
        MetricKind.Precision => $"P_{Cutoff}",
        _ => Cutoff is { } k ? $"map_cut_{k}" : "map",
    };

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>Parses one measure.</summary>
    /// <exception cref="FormatException">Not a known measure, or a cutoff that is not a positive integer (recall and P need one).</exception>
    public static MetricSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        string name = t, cut = "";
        int at = t.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            name = t[..at];
            cut = t[(at + 1)..];
        }
        else
        {
            // trec_eval's names: ndcg_cut_10, ndcg_cut.10, recall_100, P_10, map_cut_10.
            int sep = t.LastIndexOfAny(['_', '.']);
            if (sep > 0 && sep < t.Length - 1 && t[(sep + 1)..].All(char.IsAsciiDigit))
            {
                name = t[..sep];
                cut = t[(sep + 1)..];
            }
        }
        MetricKind? kind = name.ToLowerInvariant() switch
        {
            "ndcg" or "ndcg_cut" => MetricKind.Ndcg,
            "mrr" or "rr" or "recip_rank" => MetricKind.ReciprocalRank,
            "recall" or "r" => MetricKind.Recall,
            "p" or "precision" => MetricKind.Precision,
            "map" or "ap" or "map_cut" => MetricKind.AveragePrecision,
            _ => null,
        };
        if (kind is null) throw new FormatException($"unknown measure '{text}'; known: ndcg@K, mrr@K, recall@K, p@K, map, map@K (or trec_eval's names: ndcg_cut_K, recip_rank, recall_K, P_K, map_cut_K)");
        int? cutoff = null;
        if (cut.Length > 0)
        {
            if (!int.TryParse(cut, NumberStyles.None, CultureInfo.InvariantCulture, out int k) || k < 1)
                throw new FormatException($"measure '{text}': the cutoff must be a positive integer");
            cutoff = k;
        }
        if (cutoff is null && kind is MetricKind.Recall or MetricKind.Precision)
            throw new FormatException($"measure '{text}' needs a cutoff, such as {name.ToLowerInvariant()}@10");
        return new MetricSpec(kind.Value, cutoff);
    }

    /// <summary>Parses a comma-separated list (repeated measures are kept once).</summary>
    /// <exception cref="FormatException">An unknown measure or an empty list.</exception>
    public static IReadOnlyList<MetricSpec> ParseList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var list = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).Distinct().ToList();
        if (list.Count == 0) throw new FormatException("no measures given");
        return list;
    }
}
