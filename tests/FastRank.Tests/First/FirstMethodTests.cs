using FastRank.Engine;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.First;

/// <summary>FIRST on real llama.cpp decodes of synthetic models.</summary>
public class FirstMethodTests
{
    /// <summary>
    /// Identifier logits of the cached path against a lone decode, flash attention on or off: with every
    /// micro-batch run planned at the context's minimum run length (SequenceBatcher), llama.cpp's CPU
    /// kernels take the same paths as for the whole prompt (measured: 0 difference); allowed 1e-3.
    /// </summary>
    private const double ExactTolerance = 1e-3;

    private static string[] Documents(int count, int words, int seed = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => SyntheticText.Sentence(random, words)).ToArray();
    }

    private static Reranker Load(string model, FirstOptions? first = null, RerankMethod method = RerankMethod.First) =>
        Reranker.Load(model, ListwiseTesting.Options(method, first));

    /// <summary>The prompt tokens of the window holding <paramref name="items"/> decoded alone in a fresh one-sequence context; the identifier logits.</summary>
    private static float[] LoneDecode(Reranker r, ListwiseMethod m, string query, string[] docs, int[] items, bool flashAttention = false)
    {
        var call = m.Prompt.Build(query, docs, m.PassageBudget, r.Options.MaxQueryTokens);
        int[] prompt = [.. call.Prefix(items.Length), .. call.WindowSuffix(items)];
        var logits = new float[items.Length];
        using var ctx = new InferenceContext(r.Model, new ContextConfig(1, RankingMethods.CellsFor(prompt.Length), 512, 512, flashAttention, RankingMethods.Threads(r.Options)));
        SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, prompt, 0, true)], (_, output) =>
        {
            var row = output.Logits;
            for (int k = 0; k < items.Length; k++) logits[k] = row[m.Identifiers.Tokens[k]];
        }, default);
        return logits;
    }

    [Theory]
    [InlineData("tiny", 7, false)]
    [InlineData("tiny", 20, false)]
    [InlineData("small", 12, false)]
    [InlineData("tiny", 14, true)]
    [InlineData("small", 12, true)]
    public void OneWindow_IsTheArgsortOfTheIdentifierLogitsOfALoneUncachedDecode(string shape, int n, bool flashAttention)
    {
        string path = shape == "tiny" ? TestModels.Tiny : TestModels.Small;
        using var r = Load(path, new FirstOptions { MaxPassageTokens = 64, FlashAttention = flashAttention });
        var m = (FirstMethod)r.Method(RerankMethod.First);
        Assert.Equal(flashAttention, r.Engine(RerankMethod.First).Context.Config.FlashAttention);
        string[] docs = Documents(n, 20, seed: n);
        const string Query = "where do penguins live";
        float[] lone = LoneDecode(r, m, Query, docs, [.. Enumerable.Range(0, n)], flashAttention);
        var expected = Enumerable.Range(0, n).OrderByDescending(k => lone[k]).ThenBy(k => k).ToArray();
        // Ranks are not decided by near-ties: the smallest gap between neighbours is well above the tolerance.
        var sorted = lone.OrderDescending().ToArray();
        Assert.True(sorted.Zip(sorted.Skip(1), (a, b) => a - b).Min() > 10 * ExactTolerance, "two identifier logits are within the tolerance");
        // Twice: cold, then with the head from the prefix cache.
        for (int call = 0; call < 2; call++)
        {
            var result = r.Rerank(Query, docs);
            Assert.Equal(expected, result.Select(d => d.Index));
            foreach (var d in result) Assert.InRange(Math.Abs(d.RawScore - lone[d.Index]), 0, ExactTolerance);
        }
    }

    [Fact]
    public void Scores_AreReciprocalRanks_AndRawScoresTheLastWindowsLogits()
    {
        using var r = Load(TestModels.Tiny, new FirstOptions { WindowSize = 6, Stride = 3, MaxPassageTokens = 32 });
        var m = (FirstMethod)r.Method(RerankMethod.First);
        string[] docs = Documents(14, 12);
        var result = r.Rerank("glacier ice", docs);
        Assert.Equal(Enumerable.Range(0, 14), result.Select(d => d.Index).Order());
        for (int k = 0; k < result.Count; k++) Assert.Equal(1.0 / (k + 1), result[k].Score, 12);
        // The top window (the last one ranked, [0,5)) holds the final first 5: their raw scores are its logits, highest first.
        var (start, end) = ListwiseWindows.Plan(14, 6, 3)[^1];
        Assert.Equal((0, 5), (start, end));
        for (int k = 1; k < end; k++) Assert.True(result[k - 1].RawScore >= result[k].RawScore);
        var topN = r.Rerank("glacier ice", docs, topN: 3);
        Assert.Equal(result.Take(3), topN);
    }

    [Fact]
    public void HundredDocuments_NineWindows_TheSharedHeadIsDecodedOnce()
    {
        using var r = Load(TestModels.Tiny, new FirstOptions { MaxPassageTokens = 48 });
        var m = (FirstMethod)r.Method(RerankMethod.First);
        var engine = r.Engine(RerankMethod.First);
        string[] docs = Documents(100, 10);
        const string Query = "which glacier moves fastest";
        var call = m.Prompt.Build(Query, docs, m.PassageBudget, r.Options.MaxQueryTokens);
        int prefix = call.Prefix(20).Length, head = call.Head(20).Length;
        Assert.True(head > 40 && prefix > head);

        long decoded0 = engine.Prefixes.DecodedTokens;
        int run = engine.Context.MinimumRun;
        var first = r.Rerank(Query, docs);
        Assert.Equal(9, m.LastWindowStats.Windows);
        // Cold cache: the prefix (head + query) is decoded for the first window only (a continuation shorter
        // than a micro-batch run re-decodes up to one run of cached tokens); the other 8 read it from the cache.
        long firstDecoded = engine.Prefixes.DecodedTokens - decoded0;
        Assert.InRange(firstDecoded, prefix, prefix + run);
        Assert.Equal(9L * prefix - firstDecoded, first.Usage.CachedTokens);
        Assert.True(first.Usage.PromptTokens > 9L * prefix);
        Assert.Equal(100, first.Count);

        // The same query again: every window's prefix from the cache.
        var again = r.Rerank(Query, docs);
        Assert.Equal(9L * prefix, again.Usage.CachedTokens);
        Assert.Equal(firstDecoded, engine.Prefixes.DecodedTokens - decoded0);
        Assert.Equal(first.Select(d => d.Index), again.Select(d => d.Index));
        Assert.Equal(first.Usage.PromptTokens, again.Usage.PromptTokens);

        // Another query: the head comes from the cache, only the query part (and at most one run) is decoded.
        var other = r.Rerank("how cold is the ice", docs);
        int otherPrefix = m.Prompt.Build("how cold is the ice", docs, m.PassageBudget, r.Options.MaxQueryTokens).Prefix(20).Length;
        long otherDecoded = engine.Prefixes.DecodedTokens - decoded0 - firstDecoded;
        Assert.InRange(otherDecoded, otherPrefix - head, Math.Max(otherPrefix - head, run));
        Assert.Equal(9L * otherPrefix - otherDecoded, other.Usage.CachedTokens);
    }

    [Fact]
    public void AShorterTopWindow_NamesItsOwnPassageCount_AndStillRanksEveryDocument()
    {
        // 25 documents, windows of 20 by 10: [5,25) then [0,15); the second prompt says 15 passages.
        using var r = Load(TestModels.Tiny, new FirstOptions { MaxPassageTokens = 32 });
        var m = (FirstMethod)r.Method(RerankMethod.First);
        string[] docs = Documents(25, 12);
        var result = r.Rerank("ice", docs);
        Assert.Equal(2, m.LastWindowStats.Windows);
        Assert.Equal(Enumerable.Range(0, 25), result.Select(d => d.Index).Order());
        var call = m.Prompt.Build("ice", docs, m.PassageBudget, r.Options.MaxQueryTokens);
        Assert.Contains("provide you with 15 passages", r.Model.Detokenize(call.Prefix(15)));
        // Prompt tokens: both windows whole.
        int[] order20 = [.. Enumerable.Range(5, 20)];
        Assert.True(result.Usage.PromptTokens > call.Prefix(20).Length + call.WindowSuffix(order20).Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void TinyLists_AreRanked(int n)
    {
        using var r = Load(TestModels.Tiny);
        var result = r.Rerank("q", Documents(n, 8));
        Assert.Equal(n, result.Count);
        if (n == 0)
        {
            Assert.Equal(0, result.Usage.PromptTokens);
            return;
        }
        Assert.Equal(1.0, result[0].Score);
        Assert.True(double.IsFinite(result[0].RawScore));
    }

    [Fact]
    public void EmptyAndWhitespaceDocuments_AreRanked()
    {
        using var r = Load(TestModels.Tiny);
        var result = r.Rerank("", ["", "   ", "\n\t", "text"]);
        Assert.Equal(4, result.Count);
    }

    [Fact]
    public void Numbers_RankLikeLetters_OnTheSameWindow()
    {
        using var r = Load(TestModels.Tiny, new FirstOptions { Identifiers = ListwiseIdentifiers.Numbers, MaxPassageTokens = 32, FlashAttention = false });
        var m = (FirstMethod)r.Method(RerankMethod.First);
        string[] docs = Documents(9, 12);
        var result = r.Rerank("ice", docs);
        float[] lone = LoneDecode(r, m, "ice", docs, [.. Enumerable.Range(0, 9)]);
        Assert.Equal(Enumerable.Range(0, 9).OrderByDescending(k => lone[k]).ThenBy(k => k), result.Select(d => d.Index));
    }

    [Fact]
    public void Cancellation_LeavesTheRerankerUsable()
    {
        using var r = Load(TestModels.Tiny, new FirstOptions { MaxPassageTokens = 32 });
        string[] docs = Documents(60, 20);
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => r.Rerank("ice", docs, ct: cancelled.Token));
        }
        // Cancelled in the middle of the windows (or not at all on a fast run): either way the reranker stays consistent.
        using (var midway = new CancellationTokenSource(TimeSpan.FromMilliseconds(40)))
        {
            try { r.Rerank("ice", docs, ct: midway.Token); }
            catch (OperationCanceledException) { }
        }
        var expected = Load(TestModels.Tiny, new FirstOptions { MaxPassageTokens = 32 });
        using (expected)
            Assert.Equal(expected.Rerank("ice", docs).Select(d => d.Index), r.Rerank("ice", docs).Select(d => d.Index));
    }

    [Fact]
    public void OrderByLogits_IsStableAndPutsNaNLast()
    {
        var perm = new int[5];
        FirstMethod.OrderByLogits([1f, 3f, float.NaN, 3f, -2f], perm);
        Assert.Equal([1, 3, 0, 4, 2], perm);
    }
}
