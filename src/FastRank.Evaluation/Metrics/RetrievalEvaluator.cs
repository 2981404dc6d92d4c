using FastRank.Evaluation.Formats;

namespace FastRank.Evaluation.Metrics;

/// <summary>The measures of one query.</summary>
/// <param name="QueryId">The query.</param>
/// <param name="Values">One value per measure, in the order of <see cref="EvaluationResult.Metrics"/>.</param>
/// <param name="Relevant">Relevant documents in the qrels (relevance &gt;= 1).</param>
/// <param name="Retrieved">Documents in the run.</param>
public sealed record QueryEvaluation(string QueryId, IReadOnlyList<double> Values, int Relevant, int Retrieved);

/// <summary>The evaluation of a run: per-query values and their means.</summary>
/// <param name="Metrics">The measures.</param>
/// <param name="PerQuery">The evaluated queries, in ordinal order of their ids.</param>
/// <param name="Means">Mean of each measure over <see cref="PerQuery"/> (0 when no query was evaluated).</param>
/// <param name="MissingFromRun">Judged queries the run has no results for: skipped, or scored 0 with <c>complete</c>.</param>
/// <param name="MissingFromQrels">Queries of the run without judgments (not evaluated, as in trec_eval).</param>
public sealed record EvaluationResult(
    IReadOnlyList<MetricSpec> Metrics,
    IReadOnlyList<QueryEvaluation> PerQuery,
    IReadOnlyList<double> Means,
    IReadOnlyList<string> MissingFromRun,
    IReadOnlyList<string> MissingFromQrels)
{
    /// <summary>The mean of <paramref name="metric"/>.</summary>
    public double Mean(MetricSpec metric) => Means[IndexOf(metric)];

    /// <summary>Per-query values of <paramref name="metric"/>, by query id.</summary>
    public IReadOnlyDictionary<string, double> Values(MetricSpec metric)
    {
        int i = IndexOf(metric);
        return PerQuery.ToDictionary(q => q.QueryId, q => q.Values[i], StringComparer.Ordinal);
    }

    private int IndexOf(MetricSpec metric)
    {
        for (int i = 0; i < Metrics.Count; i++)
        {
            if (Metrics[i] == metric) return i;
        }
        throw new ArgumentException($"{metric} was not evaluated", nameof(metric));
    }
}

/// <summary>
/// Scores runs against qrels exactly as trec_eval (10.0) defines its measures: each query's results ordered by
/// score, then document id (both descending; the rank column ignored); relevant means relevance &gt;= 1;
/// documents the qrels do not judge are non-relevant; gains are the relevance values; queries of the run
/// without judgments are not evaluated; judged queries are averaged whether or not they have a relevant document.
/// </summary>
public static class RetrievalEvaluator
{
    /// <summary>Evaluates <paramref name="run"/> against <paramref name="qrels"/>.</summary>
    /// <param name="run">The run.</param>
    /// <param name="qrels">The judgments.</param>
    /// <param name="metrics">The measures.</param>
    /// <param name="complete">
    /// Also evaluate judged queries the run lacks, as an empty ranking (trec_eval <c>-c</c>); otherwise they are
    /// skipped (trec_eval 9 skips them; trec_eval 10.0 stops with an error).
    /// </param>
    public static EvaluationResult Evaluate(TrecRun run, Qrels qrels, IReadOnlyList<MetricSpec> metrics, bool complete = false)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(qrels);
        ArgumentNullException.ThrowIfNull(metrics);
        var perQuery = new List<QueryEvaluation>();
        var missing = new List<string>();
        foreach (string q in qrels.QueryIds)
        {
            if (!run.Contains(q))
            {
                missing.Add(q);
                if (!complete) continue;
            }
            var judged = qrels.For(q)!;
            var ranked = run.Ranked(q);
            var rels = new int[ranked.Count];
            for (int i = 0; i < rels.Length; i++) rels[i] = judged.TryGetValue(ranked[i].DocId, out int r) ? r : -1;
            var values = new double[metrics.Count];
            for (int m = 0; m < metrics.Count; m++) values[m] = Compute(metrics[m], rels, judged);
            perQuery.Add(new QueryEvaluation(q, values, judged.Values.Count(r => r >= 1), ranked.Count));
        }
        var means = new double[metrics.Count];
        for (int m = 0; m < metrics.Count; m++)
        {
            // Summed in query order, as trec_eval accumulates.
            double sum = 0;
            foreach (var e in perQuery) sum += e.Values[m];
            means[m] = perQuery.Count > 0 ? sum / perQuery.Count : 0;
        }
        var unjudged = run.QueryIds.Where(q => qrels.For(q) is null).ToList();
        return new EvaluationResult(metrics, perQuery, means, missing, unjudged);
    }

    /// <summary>
    /// One measure of one query. <paramref name="rels"/>: the relevance of each retrieved document in ranked
    /// order (-1 when not judged); <paramref name="judged"/>: the query's judgments.
    /// </summary>
    public static double Compute(MetricSpec metric, ReadOnlySpan<int> rels, IReadOnlyDictionary<string, int> judged)
    {
        ArgumentNullException.ThrowIfNull(metric);
        ArgumentNullException.ThrowIfNull(judged);
        int numRel = 0;
        foreach (int r in judged.Values)
        {
            if (r >= 1) numRel++;
        }
        int depth = metric.Cutoff is { } k ? Math.Min(k, rels.Length) : rels.Length;
        switch (metric.Kind)
        {
            case MetricKind.Ndcg:
                {
                    double dcg = 0;
                    for (int i = 0; i < depth; i++)
                    {
                        if (rels[i] > 0) dcg += rels[i] / Math.Log2(i + 2);
                    }
                    var gains = judged.Values.Where(r => r > 0).OrderDescending().ToArray();
                    int idealDepth = metric.Cutoff is { } c ? Math.Min(c, gains.Length) : gains.Length;
                    double ideal = 0;
                    for (int i = 0; i < idealDepth; i++) ideal += gains[i] / Math.Log2(i + 2);
                    return ideal > 0 ? dcg / ideal : dcg;
                }
            case MetricKind.ReciprocalRank:
                for (int i = 0; i < depth; i++)
                {
                    if (rels[i] >= 1) return 1.0 / (i + 1);
                }
                return 0;
            case MetricKind.Recall:
                {
                    if (numRel == 0) return 0;
                    int found = 0;
                    for (int i = 0; i < depth; i++)
                    {
                        if (rels[i] >= 1) found++;
                    }
                    return (double)found / numRel;
                }
            case MetricKind.Precision:
                {
                    int found = 0;
                    for (int i = 0; i < depth; i++)
                    {
                        if (rels[i] >= 1) found++;
                    }
                    return (double)found / metric.Cutoff!.Value;
                }
            default:
                {
                    double sum = 0;
                    int found = 0;
                    for (int i = 0; i < depth; i++)
                    {
                        if (rels[i] >= 1)
                        {
                            found++;
                            sum += (double)found / (i + 1);
                        }
                    }
                    return found > 0 ? sum / numRel : 0;
                }
        }
    }
}
