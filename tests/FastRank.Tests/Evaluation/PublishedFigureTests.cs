using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Evaluation;

/// <summary>Runs only when <c>FASTRANK_EVAL_DATASET</c> and <c>FASTRANK_EVAL_MODEL</c> are set (long: a real model on a real dataset).</summary>
public sealed class LongEvalFactAttribute : FactAttribute
{
    public LongEvalFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("FASTRANK_EVAL_DATASET")) || string.IsNullOrEmpty(Environment.GetEnvironmentVariable("FASTRANK_EVAL_MODEL")))
            Skip = "long: set FASTRANK_EVAL_DATASET (a BEIR directory or name) and FASTRANK_EVAL_MODEL (a GGUF file or catalog name); optional FASTRANK_EVAL_METHOD, FASTRANK_EVAL_QUERIES, FASTRANK_EVAL_MIN_NDCG10";
    }
}

/// <summary>
/// A real model on a real BEIR dataset over BM25 (docs/readme/evaluation.md gives the published figures to compare
/// with). Asserts that reranking does not fall below BM25 (or below FASTRANK_EVAL_MIN_NDCG10 when given).
/// </summary>
public sealed class PublishedFigureTests(ITestOutputHelper output)
{
    [LongEvalFact]
    public void RealModelOnARealDatasetBeatsBm25()
    {
        string dataset = Environment.GetEnvironmentVariable("FASTRANK_EVAL_DATASET")!;
        string model = Environment.GetEnvironmentVariable("FASTRANK_EVAL_MODEL")!;
        string method = Environment.GetEnvironmentVariable("FASTRANK_EVAL_METHOD") ?? "pointwise";
        string queries = Environment.GetEnvironmentVariable("FASTRANK_EVAL_QUERIES") ?? "50";
        string outDir = TestModels.TempPath("eval-long");
        var (code, stdout, stderr) = Run("eval", "--dataset", dataset, "--model", model, "--method", method, "--queries", queries, "--top-k", "100",
            "--metrics", "ndcg@10,mrr@10,recall@100", "--out", outDir, "--json");
        Assert.True(code == 0, stderr);
        using var report = JsonDocument.Parse(stdout);
        var systems = report.RootElement.GetProperty("systems").EnumerateArray().ToList();
        double bm25 = systems[0].GetProperty("mean").GetProperty("ndcg@10").GetDouble();
        double reranked = systems[1].GetProperty("mean").GetProperty("ndcg@10").GetDouble();
        output.WriteLine(File.ReadAllText(Path.Combine(outDir, "report.md")));
        double min = double.TryParse(Environment.GetEnvironmentVariable("FASTRANK_EVAL_MIN_NDCG10"), NumberStyles.Float, CultureInfo.InvariantCulture, out double m) ? m : bm25;
        Assert.True(reranked >= min, $"nDCG@10 {reranked:F4} below {min:F4} (BM25 {bm25:F4})");
    }
}
