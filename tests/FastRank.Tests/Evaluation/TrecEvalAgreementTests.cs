using FastRank.Evaluation.Formats;
using FastRank.Evaluation.Metrics;

namespace FastRank.Tests.Evaluation;

/// <summary>
/// Our measures against trec_eval's own outputs on the committed fixtures (trec_eval 10.0, see
/// tests/fixtures/eval/trec/expected/README.md). trec_eval prints four decimals, so each of our values must round to
/// the printed one: |ours - printed| &lt;= 0.00005 (plus 1e-12 for the binary representation).
/// </summary>
public sealed class TrecEvalAgreementTests
{
    private const double Printed = 0.00005 + 1e-12;

    private static readonly IReadOnlyList<MetricSpec> Measures = MetricSpec.ParseList(
        "ndcg@5,ndcg@10,ndcg@20,ndcg@100,ndcg,rr,recall@5,recall@10,recall@100,p@5,p@10,p@20,map,map@10,map@100");

    [Theory]
    [InlineData("run-a", "qrels.txt")]
    [InlineData("run-b", "qrels.txt")]
    [InlineData("run-a", "qrels-beir.tsv")]
    public void EveryMeasurePerQueryAndMeanMatchesTrecEval(string run, string qrels)
    {
        var expected = EvalFixtures.ReadTrecEval(EvalFixtures.Expected(run + ".txt"));
        var result = RetrievalEvaluator.Evaluate(TrecRun.Read(EvalFixtures.Trec(run + ".trec")), Qrels.Read(EvalFixtures.Trec(qrels)), Measures);
        AssertMatches(expected, result);
        // q9 has results but no judgments: not evaluated, as in trec_eval (num_q 8).
        Assert.Equal(["q9"], result.MissingFromQrels);
    }

    [Theory]
    [InlineData("run-a", 10)]
    [InlineData("run-b", 10)]
    [InlineData("run-a", 3)]
    [InlineData("run-b", 3)]
    public void MrrAtKMatchesTrecEvalOnTheRunCutAtK(string run, int k)
    {
        // trec_eval has no cutoff on recip_rank; -M k (k documents per query) gives MRR@k.
        var expected = EvalFixtures.ReadTrecEval(EvalFixtures.Expected($"{run}.M{k}.txt"));
        var result = RetrievalEvaluator.Evaluate(TrecRun.Read(EvalFixtures.Trec(run + ".trec")), Qrels.Read(EvalFixtures.Trec("qrels.txt")), [MetricSpec.Parse($"mrr@{k}")]);
        Assert.Equal(expected[("num_q", "all")], result.PerQuery.Count);
        foreach (var q in result.PerQuery) Assert.InRange(Math.Abs(q.Values[0] - expected[("recip_rank", q.QueryId)]), 0, Printed);
        Assert.InRange(Math.Abs(result.Means[0] - expected[("recip_rank", "all")]), 0, Printed);
        if (k == 3)
        {
            // The cutoff matters on these runs at 3 (so the test tells mrr@3 from rr).
            var full = RetrievalEvaluator.Evaluate(TrecRun.Read(EvalFixtures.Trec(run + ".trec")), Qrels.Read(EvalFixtures.Trec("qrels.txt")), [MetricSpec.Parse("rr")]);
            Assert.True(full.Means[0] > result.Means[0] + 0.01, $"rr {full.Means[0]} vs mrr@3 {result.Means[0]}");
        }
    }

    [Fact]
    public void CompleteScoresMissingQueriesZeroAsTrecEvalDashC()
    {
        var expected = EvalFixtures.ReadTrecEval(EvalFixtures.Expected("run-missing.c.txt"));
        var result = RetrievalEvaluator.Evaluate(TrecRun.Read(EvalFixtures.Trec("run-missing.trec")), Qrels.Read(EvalFixtures.Trec("qrels.txt")), Measures, complete: true);
        AssertMatches(expected, result);
        Assert.Equal(["q4", "q7"], result.MissingFromRun);
    }

    [Fact]
    public void WithoutCompleteMissingQueriesAreSkippedAsTrecEval9Does()
    {
        var expected = EvalFixtures.ReadTrecEval(EvalFixtures.Expected("run-missing.trec_eval-9.0.8.txt"));
        var result = RetrievalEvaluator.Evaluate(TrecRun.Read(EvalFixtures.Trec("run-missing.trec")), Qrels.Read(EvalFixtures.Trec("qrels.txt")), Measures);
        AssertMatches(expected, result);
        Assert.Equal(6, result.PerQuery.Count);
    }

    private static void AssertMatches(Dictionary<(string Measure, string Query), double> expected, EvaluationResult result)
    {
        Assert.Equal(expected[("num_q", "all")], result.PerQuery.Count);
        int compared = 0;
        for (int m = 0; m < result.Metrics.Count; m++)
        {
            string name = result.Metrics[m].TrecEvalName;
            foreach (var q in result.PerQuery)
            {
                double want = expected[(name, q.QueryId)];
                Assert.True(Math.Abs(q.Values[m] - want) <= Printed, $"{name} {q.QueryId}: ours {q.Values[m]:F6}, trec_eval {want:F4}");
                compared++;
            }
            double mean = expected[(name, "all")];
            Assert.True(Math.Abs(result.Means[m] - mean) <= Printed, $"{name} all: ours {result.Means[m]:F6}, trec_eval {mean:F4}");
            compared++;
        }
        Assert.Equal(result.Metrics.Count * (result.PerQuery.Count + 1), compared);
    }
}
