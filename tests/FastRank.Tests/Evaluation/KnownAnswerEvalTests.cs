using System.Text.Json;
using Xunit.Abstractions;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Evaluation;

/// <summary>
/// fastrank eval end to end on a dataset with a known answer: the constructed match model with ICR finds the
/// relevant document (nDCG@10 near 1, far above the noisy first stage), the random-weight tiny model stays near
/// chance. Real llama.cpp decoding of real synthetic GGUF files, through the CLI.
/// </summary>
public sealed class KnownAnswerEvalTests(ITestOutputHelper output)
{
    private const int Queries = 12, Candidates = 20;

    /// <summary>The report's systems by method (the first stage, which has none, as "first-stage").</summary>
    private static Dictionary<string, JsonElement> Systems(JsonDocument report) =>
        report.RootElement.GetProperty("systems").EnumerateArray().ToDictionary(s => s.TryGetProperty("method", out var m) ? m.GetString()! : "first-stage", s => s);

    [Fact]
    public void MatchModelWithIcrFindsTheRelevantDocumentAndTinyStaysNearChance()
    {
        string match = TestModels.Get("match", "f32");
        var data = KnownAnswerDataset.Create(match, Queries, Candidates);
        double chance = KnownAnswerDataset.ChanceNdcg10(Candidates);

        string outMatch = TestModels.TempPath("eval-match");
        var (code, stdout, stderr) = Run("eval", "--dataset", data.Directory, "--run", data.NoisyRun, "--model", match, "--method", "icr",
            "--top-k", Candidates.ToString(System.Globalization.CultureInfo.InvariantCulture), "--metrics", "ndcg@10,mrr@10,recall@1",
            "--icr-max-context", "2048", "--threads", "1", "--out", outMatch, "--json");
        Assert.True(code == 0, stderr);
        using var matchReport = JsonDocument.Parse(stdout);
        var systems = Systems(matchReport);
        var noisy = systems["first-stage"].GetProperty("mean");
        var icr = systems["icr"];
        double firstNdcg = noisy.GetProperty("ndcg@10").GetDouble(), icrNdcg = icr.GetProperty("mean").GetProperty("ndcg@10").GetDouble();
        output.WriteLine($"noisy first stage nDCG@10 {firstNdcg:F4} (chance {chance:F4}); match + ICR {icrNdcg:F4}, MRR@10 {icr.GetProperty("mean").GetProperty("mrr@10").GetDouble():F4}; " +
            $"{icr.GetProperty("latency_ms").GetProperty("mean").GetDouble():F0} ms/query, {icr.GetProperty("tokens").GetProperty("prompt").GetInt64() / Queries} prompt tokens/query");
        // Every relevant document first: nDCG@10 = MRR@10 = recall@1 = 1 (allow one miss in twelve queries).
        Assert.True(icrNdcg >= 1 - 1.0 / Queries, $"match + ICR nDCG@10 {icrNdcg}");
        Assert.True(icrNdcg - firstNdcg >= 0.4, $"match + ICR {icrNdcg} vs first stage {firstNdcg}");
        var vs = icr.GetProperty("versus_first_stage").GetProperty("ndcg@10");
        Assert.True(vs.GetProperty("p_randomization").GetDouble() < 0.01 && vs.GetProperty("p_t_test").GetDouble() < 0.01, vs.ToString());
        // Costs are reported per query.
        Assert.Equal(Queries, icr.GetProperty("per_query").GetArrayLength());
        Assert.True(icr.GetProperty("tokens").GetProperty("prompt").GetInt64() > Queries * Candidates * 30);
        Assert.True(icr.GetProperty("latency_ms").GetProperty("mean").GetDouble() > 0);
        // The files: runs, per-query table, Markdown and JSON reports; the ICR run puts each relevant document first.
        string icrRun = Path.Combine(outMatch, icr.GetProperty("name").GetString() + ".trec");
        foreach (string f in new[] { "first-stage.trec", icrRun, "per-query.tsv", "report.md", "report.json" })
            Assert.True(File.Exists(Path.Combine(outMatch, f)), f);
        var firsts = File.ReadLines(icrRun).Select(l => l.Split(' ')).Where(f => f[3] == "1").ToDictionary(f => f[0], f => f[2]);
        Assert.True(data.Relevant.Count(kv => firsts[kv.Key] == kv.Value) >= Queries - 1);
        Assert.Contains("| noisy.trec |", File.ReadAllText(Path.Combine(outMatch, "report.md")), StringComparison.Ordinal);

        // The random-weight tiny model, two methods on one first stage: near chance.
        string outTiny = TestModels.TempPath("eval-tiny");
        (code, stdout, stderr) = Run("eval", "--dataset", data.Directory, "--run", data.NoisyRun, "--model", TestModels.Tiny, "--method", "pointwise,icr",
            "--top-k", "20", "--metrics", "ndcg@10", "--icr-max-context", "2048", "--threads", "1", "--out", outTiny, "--json");
        Assert.True(code == 0, stderr);
        using var tinyReport = JsonDocument.Parse(stdout);
        var tiny = Systems(tinyReport);
        // Two methods: one comparison between them, per measure.
        var pair = Assert.Single(tinyReport.RootElement.GetProperty("comparisons").EnumerateArray());
        Assert.Equal(tiny["icr"].GetProperty("name").GetString(), pair.GetProperty("system").GetString());
        Assert.Equal(tiny["icr"].GetProperty("mean").GetProperty("ndcg@10").GetDouble() - tiny["pointwise"].GetProperty("mean").GetProperty("ndcg@10").GetDouble(),
            pair.GetProperty("ndcg@10").GetProperty("mean_difference").GetDouble(), 9);
        Assert.Contains("## Between methods", File.ReadAllText(Path.Combine(outTiny, "report.md")), StringComparison.Ordinal);
        foreach (string name in new[] { "pointwise", "icr" })
        {
            double ndcg = tiny[name].GetProperty("mean").GetProperty("ndcg@10").GetDouble();
            output.WriteLine($"{name}: nDCG@10 {ndcg:F4}, {tiny[name].GetProperty("latency_ms").GetProperty("mean").GetDouble():F0} ms/query");
            // Chance is 0.227; with 12 queries the mean's standard deviation is about 0.09: allow 0.3 above.
            Assert.InRange(ndcg, 0, chance + 0.3);
            Assert.True(icrNdcg - ndcg >= 0.4);
        }
    }
}

/// <summary>
/// Why pointwise and FIRST have no known answer on the match model: they read the last position's logits, and in
/// that model every position's residual stream is its own token embedding (V, attention output and feed-forward
/// are zero), so the documents cannot change the scores.
/// </summary>
public sealed class MatchModelLogitMethodsTests
{
    private static readonly string[] Docs = ["penguin telescope meteor and other words", "a plain filler sentence", "another sentence of filler words", "telescope"];

    [Fact]
    public void PointwiseGivesEveryDocumentTheSameScore()
    {
        using var ranker = FastRank.Ranking.Reranker.Load(TestModels.Get("match", "f32"), new FastRank.Ranking.RerankerOptions { Method = FastRank.Ranking.RerankMethod.Pointwise, Threads = 1 });
        var result = ranker.Rerank("penguin telescope meteor", Docs);
        Assert.Equal(Docs.Length, result.Count);
        foreach (var r in result) Assert.Equal(result[0].Score, r.Score, 6);
    }

    [Fact]
    public void FirstRanksByPositionNotByContent()
    {
        using var ranker = FastRank.Ranking.Reranker.Load(TestModels.Get("match", "f32"), new FastRank.Ranking.RerankerOptions { Method = FastRank.Ranking.RerankMethod.First, Threads = 1 });
        var asGiven = ranker.Rerank("penguin telescope meteor", Docs).Select(r => r.Index).ToArray();
        // The matching document moved from the first place to the last: the same positions win.
        string[] moved = [.. Docs[1..], Docs[0]];
        var afterMove = ranker.Rerank("penguin telescope meteor", moved).Select(r => r.Index).ToArray();
        Assert.Equal(asGiven, afterMove);
    }
}
