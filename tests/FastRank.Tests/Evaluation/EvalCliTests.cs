using System.Text.Json;
using FastRank.Tests.Models;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Evaluation;

/// <summary>fastrank eval metrics (no model) and the eval command's errors, run in-process as the other CLI tests do.</summary>
public sealed class EvalCliTests
{
    [Fact]
    public void MetricsPrintsTrecEvalsFiguresForAnExistingRun()
    {
        var (code, stdout, stderr) = Run("eval", "metrics", EvalFixtures.Trec("run-a.trec"), EvalFixtures.Trec("qrels.txt"),
            "--metrics", "ndcg_cut_10,map,P_5,recall_100", "--per-query", "--trec-names");
        Assert.True(code == 0, stderr);
        var expected = File.ReadAllLines(EvalFixtures.Expected("run-a.txt"));
        // The same lines as trec_eval -q (measure, query, 4 decimals), for the measures asked.
        foreach (string measure in new[] { "ndcg_cut_10", "map", "P_5", "recall_100" })
        {
            var want = expected.Where(l => l.Split('\t')[0].Trim() == measure).Select(l => l.Replace(" ", "", StringComparison.Ordinal)).Order().ToArray();
            var got = stdout.Split('\n').Where(l => l.Split('\t')[0].Trim() == measure).Select(l => l.Replace(" ", "", StringComparison.Ordinal).TrimEnd('\r')).Order().ToArray();
            Assert.Equal(want, got);
        }
        Assert.Contains("num_q", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void MetricsJsonWithABaselineReportsSignificanceAndSkippedQueries()
    {
        var (code, stdout, stderr) = Run("eval", "metrics", EvalFixtures.Trec("run-missing.trec"), EvalFixtures.Trec("qrels.txt"),
            "--metrics", "ndcg@10,mrr@10", "--json", "--baseline", EvalFixtures.Trec("run-b.trec"));
        Assert.True(code == 0, stderr);
        Assert.Contains("2 judged queries have no results in the run and are skipped", stderr, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(6, root.GetProperty("num_q").GetInt32());
        Assert.Equal(["q4", "q7"], root.GetProperty("missing_from_run").EnumerateArray().Select(e => e.GetString()));
        var vs = root.GetProperty("versus_baseline").GetProperty("ndcg@10");
        Assert.Equal(6, vs.GetProperty("queries").GetInt32());
        Assert.InRange(vs.GetProperty("p_randomization").GetDouble(), 0, 1);
        Assert.Equal(0, vs.GetProperty("permutations").GetInt32()); // 6 queries: enumerated exactly
    }

    [Theory]
    [InlineData("run-duplicate.trec", "qrels.txt", "run-duplicate.trec:3: document 'd01' is listed twice")]
    [InlineData("run-a.trec", "missing.txt", "not found")]
    public void MetricsErrorsAreOneLineWithTheFileAndLine(string run, string qrels, string message)
    {
        var (code, _, stderr) = Run("eval", "metrics", EvalFixtures.Trec(run), EvalFixtures.Trec(qrels));
        Assert.Equal(1, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "eval", "metrics", "a", "b", "--metrics", "bleu" }, "unknown measure")]
    [InlineData(new[] { "eval", "--corpus", "c.jsonl" }, "give --dataset DIR|NAME, or all of --corpus, --topics and --qrels")]
    [InlineData(new[] { "eval", "--dataset", "x", "--method", "sideways" }, "unknown method 'sideways'")]
    [InlineData(new[] { "eval", "--dataset", "x", "--top-k", "0" }, "--top-k must be at least 1")]
    [InlineData(new[] { "eval", "--dataset", "x", "--bm25-b", "1.5" }, "--bm25-b must be between 0 and 1")]
    [InlineData(new[] { "eval", "--dataset", "x", "--score-head", "logits" }, "unknown score head 'logits'")]
    [InlineData(new[] { "eval", "--dataset", "x", "--max-doc-tokens", "0" }, "--max-doc-tokens must be at least 1")]
    [InlineData(new[] { "eval", "--dataset", "x", "--icr-max-context", "100" }, "--icr-max-context must be at least 256")]
    public void UsageErrorsExitWithTwo(string[] args, string message)
    {
        var (code, _, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void RerankersScoreHeadAndTemplateApplyToEval()
    {
        var known = KnownAnswerDataset.Create(TestModels.Get("match", "f32"), queries: 2, candidates: 3);
        // Each reranked (query, document)'s score in the pointwise run eval writes.
        Dictionary<string, string> Scores(string model, params string[] options)
        {
            string outDir = TestModels.TempPath("eval-options");
            var (code, _, stderr) = Run(["eval", "--dataset", known.Directory, "--run", known.NoisyRun, "--model", model, "--method", "pointwise",
                "--top-k", "3", "--threads", "1", "--out", outDir, "--json", .. options]);
            Assert.True(code == 0, stderr);
            string run = Directory.GetFiles(outDir, "*.pointwise.trec").Single();
            return File.ReadLines(run).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .ToDictionary(f => $"{f[0]} {f[2]}", f => f[4], StringComparer.Ordinal);
        }

        // --score-head: on a model with a yes/no rank head, the rank head and the LM head score differently.
        var rank = Scores(TestModels.Small, "--score-head", "rank");
        Assert.Equal(6, rank.Count);
        Assert.NotEqual(rank, Scores(TestModels.Small, "--score-head", "lm"));
        // A model without a yes/no rank head: rank is refused as rerank refuses it.
        var (refused, _, error) = Run("eval", "--dataset", known.Directory, "--run", known.NoisyRun, "--model", TestModels.Tiny, "--score-head", "rank",
            "--top-k", "3", "--threads", "1", "--out", TestModels.TempPath("eval-refused"));
        Assert.Equal(1, refused);
        Assert.Contains("rank head", error, StringComparison.Ordinal);

        // --template: another prompt, other scores.
        Assert.NotEqual(Scores(TestModels.Tiny), Scores(TestModels.Tiny, "--template", "Query: {query}\nDocument: {document}\nRelevant:"));
    }

    [Fact]
    public void OfflineDatasetNameNotCachedFailsWithoutNetwork()
    {
        var (code, _, stderr) = Run("eval", "--dataset", "scifact", "--offline", "--cache-dir", TestModels.TempPath("cache"), "--model", TestModels.Tiny);
        Assert.Equal(1, code);
        Assert.Contains("dataset 'scifact' is not in the cache", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ARunWhoseQueriesMatchNoJudgedQueryIsRefusedBeforeLoadingAModel()
    {
        var known = KnownAnswerDataset.Create(TestModels.Get("match", "f32"), queries: 2, candidates: 3);
        string run = TestModels.TempPath("other.trec");
        File.WriteAllText(run, "x1 Q0 doc0000 1 1.0 other\n");
        var (code, _, stderr) = Run("eval", "--dataset", known.Directory, "--run", run, "--model", TestModels.TempPath("never-loaded.gguf"));
        Assert.Equal(1, code);
        Assert.Contains("the run has no results for any of the 2 judged queries", stderr, StringComparison.Ordinal);

        // Replacing the split's qrels: the judged queries are the new file's.
        string qrels = TestModels.TempPath("q.txt");
        File.WriteAllText(qrels, "q00 0 doc0000 1\n");
        File.WriteAllText(run, "q00 Q0 doc0001 1 2.0 r\nq00 Q0 doc0000 2 1.0 r\n");
        (code, _, stderr) = Run("eval", "--dataset", known.Directory, "--qrels", qrels, "--run", run, "--model", TestModels.TempPath("never-loaded.gguf"));
        Assert.Equal(1, code);
        Assert.Contains("not found", stderr, StringComparison.Ordinal); // got as far as the model
    }

    [Fact]
    public async Task DatasetByNameWithBm25FirstStageEndToEnd()
    {
        // A generated dataset zip on loopback stands in for BEIR's server ($FASTRANK_BEIR_URL, as a mirror would).
        var known = KnownAnswerDataset.Create(TestModels.Get("match", "f32"), queries: 4, candidates: 6);
        string zipPath = TestModels.TempPath("known.zip");
        System.IO.Compression.ZipFile.CreateFromDirectory(known.Directory, zipPath);
        await using var server = new LoopbackHttpServer();
        server.Serve("/beir/known.zip", new ServedFile { Body = await File.ReadAllBytesAsync(zipPath) });
        string cache = TestModels.TempPath("cache"), outDir = TestModels.TempPath("out");
        Environment.SetEnvironmentVariable(FastRank.Evaluation.Datasets.BeirDatasets.BaseUrlVariable, server.Url("/beir/").AbsoluteUri);
        try
        {
            var (code, stdout, stderr) = Run("eval", "--dataset", "known", "--cache-dir", cache, "--model", TestModels.Tiny, "--method", "pointwise",
                "--top-k", "5", "--metrics", "ndcg@10,recall@5", "--threads", "1", "--out", outDir);
            Assert.True(code == 0, stderr);
            Assert.Contains("bm25: built index of 24 documents", stderr, StringComparison.Ordinal);
            Assert.Contains("bm25", stdout, StringComparison.Ordinal);
            Assert.Contains("Report:", stdout, StringComparison.Ordinal);
            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "report.json")));
            var bm25 = report.RootElement.GetProperty("systems")[0];
            Assert.Equal("bm25", bm25.GetProperty("name").GetString());
            // BM25 finds the rare words: every relevant document within the top 5.
            Assert.Equal(1.0, bm25.GetProperty("mean").GetProperty("recall@5").GetDouble(), 12);

            // Second run: the dataset and the index come from the cache (no request, no rebuild), offline.
            int requests = server.Requests.Count;
            (code, _, stderr) = Run("eval", "--dataset", "known", "--cache-dir", cache, "--offline", "--model", TestModels.Tiny, "--top-k", "5", "--threads", "1", "--out", outDir, "--queries", "2");
            Assert.True(code == 0, stderr);
            Assert.Contains("bm25: cached index", stderr, StringComparison.Ordinal);
            Assert.Equal(requests, server.Requests.Count);
        }
        finally
        {
            Environment.SetEnvironmentVariable(FastRank.Evaluation.Datasets.BeirDatasets.BaseUrlVariable, null);
        }
    }
}
