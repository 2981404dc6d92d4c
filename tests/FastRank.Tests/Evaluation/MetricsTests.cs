using FastRank.Evaluation.Formats;
using FastRank.Evaluation.Metrics;

namespace FastRank.Tests.Evaluation;

/// <summary>Hand-computed cases of trec_eval's definitions: ties, gains, ideal lists, cutoffs, unjudged and non-relevant queries.</summary>
public sealed class MetricsTests
{
    private static TrecRun Run(params (string Q, string Doc, double Score)[] lines) =>
        new("t", lines.GroupBy(l => l.Q).ToDictionary(g => g.Key, g => (IReadOnlyList<RunEntry>)g.Select(l => new RunEntry(l.Doc, l.Score)).ToList()));

    private static Qrels Judgments(params (string Q, string Doc, int Rel)[] lines) =>
        new(lines.GroupBy(l => l.Q).ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, int>)g.ToDictionary(l => l.Doc, l => l.Rel)));

    private static double One(string metric, TrecRun run, Qrels qrels) => RetrievalEvaluator.Evaluate(run, qrels, [MetricSpec.Parse(metric)]).Means[0];

    [Fact]
    public void TiesAreBrokenByDocumentIdDescendingNotByInputOrderOrRank()
    {
        // Same score: trec_eval puts "b" before "a" (docid descending), so the relevant "a" is second.
        var run = Run(("q", "a", 1.0), ("q", "b", 1.0));
        var qrels = Judgments(("q", "a", 1), ("q", "b", 0));
        Assert.Equal(["b", "a"], run.Ranked("q").Select(e => e.DocId));
        Assert.Equal(0.5, One("rr", run, qrels), 12);
        // Ids compare as bytes: "d10" < "d9", so "d9" ranks first on a tie.
        var run2 = Run(("q", "d10", 2), ("q", "d9", 2));
        Assert.Equal(["d9", "d10"], run2.Ranked("q").Select(e => e.DocId));
    }

    [Fact]
    public void NdcgUsesRelevanceAsGainLog2DiscountAndTheIdealFromTheQrels()
    {
        // Ranking: x (rel 1), y (rel 3), z (unjudged); a rel-2 document is judged but not retrieved.
        var run = Run(("q", "x", 3), ("q", "y", 2), ("q", "z", 1));
        var qrels = Judgments(("q", "x", 1), ("q", "y", 3), ("q", "w", 2), ("q", "v", 0));
        double dcg = 1 / Math.Log2(2) + 3 / Math.Log2(3);
        double ideal3 = 3 / Math.Log2(2) + 2 / Math.Log2(3) + 1 / Math.Log2(4);
        Assert.Equal(dcg / ideal3, One("ndcg@3", run, qrels), 12);
        Assert.Equal(dcg / ideal3, One("ndcg", run, qrels), 12);
        // At 1: dcg 1, ideal 3.
        Assert.Equal(1.0 / 3, One("ndcg@1", run, qrels), 12);
        // Ideal at 10 is the same three gains (only three relevant documents).
        Assert.Equal(dcg / ideal3, One("ndcg@10", run, qrels), 12);
    }

    [Fact]
    public void PrecisionDividesByTheCutoffRecallByTheRelevantCountMapByTheRelevantCount()
    {
        var run = Run(("q", "a", 5), ("q", "b", 4), ("q", "c", 3));
        var qrels = Judgments(("q", "a", 0), ("q", "b", 2), ("q", "c", 1), ("q", "d", 1), ("q", "e", -1));
        Assert.Equal(2.0 / 10, One("p@10", run, qrels), 12);
        Assert.Equal(1.0 / 2, One("p@2", run, qrels), 12);
        Assert.Equal(2.0 / 3, One("recall@5", run, qrels), 12); // relevant: b, c, d (e is unjudged, a non-relevant)
        Assert.Equal((1.0 / 2 + 2.0 / 3) / 3, One("map", run, qrels), 12);
        Assert.Equal(1.0 / 2 / 3, One("map@2", run, qrels), 12);
        Assert.Equal(0.5, One("mrr@10", run, qrels), 12);
        Assert.Equal(0.0, One("mrr@1", run, qrels), 12);
    }

    [Fact]
    public void JudgedQueriesWithoutRelevantDocumentsCountAsZeroAndUnjudgedRunQueriesAreIgnored()
    {
        var run = Run(("q1", "a", 1), ("q2", "a", 1), ("q3", "a", 1));
        // q2 is judged, but nothing is relevant: trec_eval evaluates it (0) and counts it in the mean; q3 has no judgments.
        var qrels = Judgments(("q1", "a", 1), ("q2", "a", 0), ("q2", "b", 0));
        var result = RetrievalEvaluator.Evaluate(run, qrels, [MetricSpec.Parse("ndcg@10"), MetricSpec.Parse("recall@10")]);
        Assert.Equal(["q1", "q2"], result.PerQuery.Select(q => q.QueryId));
        Assert.Equal(0.5, result.Means[0], 12);
        Assert.Equal(0.5, result.Means[1], 12);
        Assert.Equal(["q3"], result.MissingFromQrels);
    }

    [Theory]
    [InlineData("ndcg@10", MetricKind.Ndcg, 10)]
    [InlineData("NDCG@10", MetricKind.Ndcg, 10)]
    [InlineData("ndcg_cut_10", MetricKind.Ndcg, 10)]
    [InlineData("ndcg_cut.20", MetricKind.Ndcg, 20)]
    [InlineData("ndcg", MetricKind.Ndcg, null)]
    [InlineData("mrr@10", MetricKind.ReciprocalRank, 10)]
    [InlineData("recip_rank", MetricKind.ReciprocalRank, null)]
    [InlineData("recall@100", MetricKind.Recall, 100)]
    [InlineData("recall_100", MetricKind.Recall, 100)]
    [InlineData("P_10", MetricKind.Precision, 10)]
    [InlineData("map", MetricKind.AveragePrecision, null)]
    [InlineData("map_cut_100", MetricKind.AveragePrecision, 100)]
    public void MeasureNamesParse(string text, MetricKind kind, int? cutoff)
    {
        var m = MetricSpec.Parse(text);
        Assert.Equal(kind, m.Kind);
        Assert.Equal(cutoff, m.Cutoff);
        Assert.Equal(m, MetricSpec.Parse(m.Name));
        // trec_eval's name reads back as the same measure (recip_rank has no cutoff there: -M does it).
        if (kind != MetricKind.ReciprocalRank || cutoff is null) Assert.Equal(m, MetricSpec.Parse(m.TrecEvalName));
    }

    [Theory]
    [InlineData("bleu@4", "unknown measure")]
    [InlineData("ndcg@0", "positive integer")]
    [InlineData("ndcg@x", "positive integer")]
    [InlineData("recall", "needs a cutoff")]
    [InlineData("", "no measures")]
    public void BadMeasuresAreRefusedClearly(string text, string message)
    {
        var ex = Assert.Throws<FormatException>(() => MetricSpec.ParseList(text));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }
}
