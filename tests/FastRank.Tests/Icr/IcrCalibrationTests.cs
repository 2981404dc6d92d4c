using FastRank.Ranking;
using Xunit.Abstractions;

namespace FastRank.Tests.Icr;

/// <summary>The calibration pass: one shared batch, a separate pass, and reused documents give the same attention.</summary>
public sealed class IcrCalibrationTests(ITestOutputHelper output)
{
    private static (IcrPrompt Prompt, IcrChunkScores Scores) Score(Reranker ranker, string query, string[] docs)
    {
        var icr = (IcrMethod)ranker.Method(RerankMethod.Icr);
        var prompt = icr.BuildPrompt(query, docs);
        return (prompt, icr.ScoreChunk(ranker.Engine(RerankMethod.Icr), Assert.Single(prompt.Chunks), prompt.QuerySuffix, null, default));
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double d = 0;
        for (int i = 0; i < a.Length; i++) d = Math.Max(d, Math.Abs(a[i] - b[i]));
        return d;
    }

    [Theory]
    [InlineData("small")]
    [InlineData("match")]
    public void SharedBatchEqualsSeparatePass(string shape)
    {
        string path = shape == "match" ? IcrTestData.MatchModel : TestModels.Small;
        using var shared = Reranker.Load(path, IcrTestData.Options(new IcrOptions { MaxContextTokens = 1024 }));
        using var separate = Reranker.Load(path, IcrTestData.Options(new IcrOptions { MaxContextTokens = 1024, SharedCalibrationBatch = false }));
        var docs = IcrTestData.Filler(6, 40, seed: 3);
        docs[4] += " hydrogen dictator jester";
        var a = Score(shared, "hydrogen dictator jester", docs).Scores;
        var b = Score(separate, "hydrogen dictator jester", docs).Scores;
        double max = a.Query.Max();
        double dq = MaxDiff(a.Query, b.Query), dc = MaxDiff(a.Calibration!, b.Calibration!);
        output.WriteLine($"{shape}: max s(t) {max:G4}; shared vs separate: query {dq:G3}, calibration {dc:G3}");
        // Two streams in one micro-batch against one stream alone: only the matrix kernels' batch shapes differ.
        Assert.True(dq <= 1e-5 * max && dc <= 1e-5 * max, $"query {dq}, calibration {dc} (max {max})");
        for (int k = 0; k < a.Scores.Length; k++) Assert.Equal(a.Scores[k], b.Scores[k], 1e-5);
    }

    [Fact]
    public void SharedBatchDecodesBothQueryPassesInOneMicroBatch()
    {
        using var ranker = Reranker.Load(IcrTestData.MatchModel, IcrTestData.Options());
        var icr = (IcrMethod)ranker.Method(RerankMethod.Icr);
        var docs = IcrTestData.Filler(4, 20);
        var result = ranker.Rerank("walrus trumpet lantern", docs);
        // Documents in one micro-batch, then the two query spans: together while both have tokens left, the
        // longer one's rest alone (llama.cpp needs equal token counts per sequence in a micro-batch).
        var prompt = icr.BuildPrompt("walrus trumpet lantern", docs);
        int q = prompt.QuerySuffix.Length, na = prompt.CalibrationSuffix.Length;
        output.WriteLine($"decode calls {result.Usage.DecodeCalls}; query span {q} tokens, calibration span {na}");
        Assert.True(result.Usage.DecodeCalls <= 3, $"{result.Usage.DecodeCalls} decode calls");
        // The calibration prompt shares the documents: its prefix counts as cached.
        Assert.Equal(prompt.Chunks[0].Prefix.Length, result.Usage.CachedTokens);
    }

    [Fact]
    public void ReusedDocumentsEqualAFreshDecode()
    {
        // The second query over the same documents reuses their KV (the old query's cells are freed and
        // reused) and the remembered calibration: only the new query span is decoded.
        using var ranker = Reranker.Load(TestModels.Small, IcrTestData.Options());
        var icr = (IcrMethod)ranker.Method(RerankMethod.Icr);
        var docs = IcrTestData.Filler(6, 30, seed: 5);
        ranker.Rerank("a first and rather longer query about something else entirely", docs);
        var reused = ranker.Rerank("short query", docs);
        var prompt = icr.BuildPrompt("short query", docs);
        Assert.Equal(prompt.QuerySuffix.Length, reused.Usage.DecodedTokens);

        icr.ForgetDocuments();
        var fresh = ranker.Rerank("short query", docs);
        Assert.True(fresh.Usage.DecodedTokens > prompt.Chunks[0].Prefix.Length);
        var f = fresh.ToDictionary(r => r.Index);
        foreach (var r in reused)
        {
            output.WriteLine($"doc {r.Index}: reused {r.Score:F7} fresh {f[r.Index].Score:F7}");
            Assert.Equal(f[r.Index].Score, r.Score, 1e-6);
            Assert.Equal(f[r.Index].RawScore, r.RawScore, 1e-5);
        }
    }

    [Fact]
    public void StrategiesRelateAsDefined()
    {
        using var ranker = Reranker.Load(TestModels.Small, IcrTestData.Options());
        var docs = IcrTestData.Filler(5, 30, seed: 9);
        var (prompt, s) = Score(ranker, "what happened next", docs);
        var chunk = prompt.Chunks[0];
        for (int k = 0; k < chunk.Spans.Length; k++)
        {
            var span = chunk.Spans[k];
            var q = s.Query.AsSpan(span.Start, span.Length);
            var na = s.Calibration.AsSpan(span.Start, span.Length);
            Assert.Equal(IcrScoring.Masked(q, na), s.Scores[k], 1e-12);
            Assert.Equal(IcrScoring.Raw(q), s.RawScores[k], 1e-12);
            // Masking only drops tokens far below the document's mean, which raises the sum.
            Assert.True(IcrScoring.Masked(q, na) >= IcrScoring.Unmasked(q, na) - 1e-12);
        }
    }
}
