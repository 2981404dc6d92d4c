using FastRank.Ranking;
using FastRank.Synthetic;
using LLama;
using LLama.Common;

namespace FastRank.Tests.Ranking;

/// <summary>Shared prefixes, waves and batching must not change a document's score.</summary>
public sealed class PointwiseExactnessTests
{
    // Tolerance on the yes-no logit difference: the issue asks for 1e-4; measured differences are ~1e-6.
    private const double Tolerance = 1e-4;

    [Fact]
    public void SharedPrefixScoresEqualLoneDecodes()
    {
        var docs = SyntheticText.Documents(10, 60, seed: 3).Select((d, i) => d + string.Concat(Enumerable.Repeat(" more", i))).ToList();
        // The LM-head path (the rank head's twin is RankHeadScoringTests.ScoresEqualLoneDecodesOfTheHiddenState).
        using var ranker = Reranker.Load(TestModels.Small, new RerankerOptions { ParallelSequences = 4, ScoreHead = ScoreHead.Lm });
        const string query = "which plants grow best in cold climates";
        var result = ranker.Rerank(query, docs);
        var prompt = ranker.Pointwise.BuildPrompt(query, docs, ranker.Options);
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(TestModels.Small) { GpuLayerCount = 0 });
        foreach (var r in result)
        {
            float[] logits = LoneDecode.LastLogits(TestModels.Small, weights, [.. prompt.Prefix, .. prompt.Suffixes[r.Index]]);
            double lone = (double)logits[ranker.Pointwise.YesToken] - logits[ranker.Pointwise.NoToken];
            Assert.InRange(r.RawScore - lone, -Tolerance, Tolerance);
            Assert.Equal(1.0 / (1.0 + Math.Exp(-lone)), r.Score, 1e-5);
        }
    }

    [Fact]
    public void ScoresDoNotDependOnWaveSize()
    {
        // Lengths differing by one token are the case where a naive batch split would evaluate a
        // lone trailing token on other kernels.
        var docs = Enumerable.Range(0, 14).Select(i => SyntheticText.Sentence(new Random(i), 30 + i % 3)).ToList();
        Dictionary<int, double>? reference = null;
        foreach (int parallel in new[] { 1, 7, 16 })
        {
            using var ranker = Reranker.Load(TestModels.Small, new RerankerOptions { ParallelSequences = parallel });
            var scores = ranker.Rerank("a question about the weather", docs).ToDictionary(r => r.Index, r => r.RawScore);
            if (reference is null)
            {
                reference = scores;
                continue;
            }
            foreach (var (i, s) in scores) Assert.InRange(s - reference[i], -Tolerance, Tolerance);
        }
    }

    [Fact]
    public void ScoresDoNotDependOnTheOtherDocuments()
    {
        var docs = SyntheticText.Documents(9, 40, seed: 11).ToList();
        using var ranker = Reranker.Load(TestModels.Small, new RerankerOptions { ParallelSequences = 4 });
        const string query = "history of the railway";
        var all = ranker.Rerank(query, docs).ToDictionary(r => r.Index, r => r.RawScore);
        // Each document alone, and with different companions.
        for (int i = 0; i < docs.Count; i += 3)
        {
            double alone = ranker.Rerank(query, [docs[i]])[0].RawScore;
            Assert.InRange(alone - all[i], -Tolerance, Tolerance);
            var others = new List<string> { "short", docs[i], SyntheticText.Sentence(new Random(99), 80) };
            double mixed = ranker.Rerank(query, others).Single(r => r.Index == 1).RawScore;
            Assert.InRange(mixed - all[i], -Tolerance, Tolerance);
        }
    }

    [Fact]
    public void QueriesAfterTheFirst_StartFromTheCachedHead_ThoughItIsShorterThanARun_AndScoreAsLoneDecodes()
    {
        // Qwen3's pointwise head is 60 tokens: shorter than a run of llama.cpp's tiled attention (64), so it is not cached
        // on its own and its cells come from an earlier query's prefix. Each later query must decode only its own tokens
        // (many documents, and one document alone), and every score must still equal a lone decode.
        var docs = SyntheticText.Documents(5, 8, seed: 5).ToList();
        using var ranker = Reranker.Load(TestModels.Small, new RerankerOptions { ScoreHead = ScoreHead.Lm });
        var engine = ranker.Engine(RerankMethod.Pointwise);
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(TestModels.Small) { GpuLayerCount = 0 });
        int[]? previous = null;
        string[] queries = ["where do the ferries leave from", "opening hours of the museum", "a third question", "and a fourth one"];
        for (int q = 0; q < queries.Length; q++)
        {
            var batch = q == 3 ? docs.Take(1).ToList() : docs; // the last query: one document, the "score one pair" request
            var prompt = ranker.Pointwise.BuildPrompt(queries[q], batch, ranker.Options);
            long decoded0 = engine.Context.DecodedTokens, prefixDecoded0 = engine.Prefixes.DecodedTokens;
            var result = ranker.Rerank(queries[q], batch);
            long decoded = engine.Context.DecodedTokens - decoded0, prefixDecoded = engine.Prefixes.DecodedTokens - prefixDecoded0;
            if (previous is not null)
            {
                int head = previous.AsSpan().CommonPrefixLength(prompt.Prefix);
                Assert.InRange(head, 2, engine.Context.MinimumPrefix - 1);
                int query = prompt.Prefix.Length - head;
                if (batch.Count > 1)
                {
                    // The query once, on top of the head; then each document, shorter ones brought to the longest's run.
                    Assert.Equal(query, prefixDecoded);
                    Assert.InRange(decoded, query + prompt.Suffixes.Sum(s => (long)s.Length), query + batch.Count * (long)prompt.Suffixes.Max(s => s.Length));
                }
                else Assert.Equal(query + prompt.Suffixes[0].Length, decoded);
            }
            previous = prompt.Prefix;
            foreach (var r in result)
            {
                float[] logits = LoneDecode.LastLogits(TestModels.Small, weights, [.. prompt.Prefix, .. prompt.Suffixes[r.Index]]);
                double lone = (double)logits[ranker.Pointwise.YesToken] - logits[ranker.Pointwise.NoToken];
                Assert.InRange(r.RawScore - lone, -Tolerance, Tolerance);
            }
        }
    }
}
