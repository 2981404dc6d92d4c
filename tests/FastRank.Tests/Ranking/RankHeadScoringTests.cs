using System.Globalization;
using System.Text;
using FastRank.Cli.Bench;
using FastRank.Ranking;
using FastRank.Synthetic;
using LLama;
using LLama.Common;
using LLama.Native;
using Xunit.Abstractions;

namespace FastRank.Tests.Ranking;

/// <summary>
/// Pointwise scores from the rank head (<c>cls.output.weight</c>) equal llama.cpp's own RANK pooling on the same
/// file and tokens, and LLamaSharp's LLamaReranker on its own token sequence; the score head option chooses.
/// Synthetic qwen3 <c>small</c> files (8 layers, 512-dim) at f16, q8_0 and q4_k_m, decoded by real llama.cpp.
/// </summary>
public sealed class RankHeadScoringTests(ITestOutputHelper output)
{
    // P(yes) against llama.cpp's RANK pooling and LLamaReranker (the tolerance).
    private const double ProbabilityTolerance = 1e-3;

    // Every quantization is held to the 1e-3 (measured on the real-vocabulary small: f16 8e-6, q8_0 2e-8, q4_k_m
    // within 1e-3). Known gap, not covered here: on the invented-vocabulary small at q4_k_m the engine's prefix + suffix
    // decode is not equal to a lone decode (yes-no logits up to 0.18 apart; CPU weight repacking ruled out); see the README.
    private static double Tolerance(string quant) => ProbabilityTolerance;

    // Order: documents may swap only where the reference's scores (floats) are this close, or within the tolerance.
    private static double OrderSlack(string quant) => quant == "q4_k_m" ? Tolerance(quant) : 1e-6;

    // RawScore against a lone decode of the same prompt read through the same head (PointwiseExactnessTests).
    private const double LoneTolerance = 1e-4;

    private const string Query = "which plants grow best in cold climates";

    private static List<string> Docs(int count, int seed) =>
        [.. SyntheticText.Documents(count, 40, seed).Select((d, i) => d + string.Concat(Enumerable.Repeat(" more", i % 7)))];

    public static TheoryData<string> Quantizations => ["f16", "q8_0", "q4_k_m"];

    [Theory]
    [MemberData(nameof(Quantizations))]
    public void ScoresEqualLlamaCppRankPooling(string quant)
    {
        string path = TestModels.Get("small", quant);
        var docs = Docs(32, 5);
        using var ranker = Reranker.Load(path, new RerankerOptions { ParallelSequences = 8 });
        var pw = ranker.Pointwise;
        Assert.NotNull(pw.RankHead);
        var result = ranker.Rerank(Query, docs);
        var prompt = pw.BuildPrompt(Query, docs, ranker.Options);

        using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { GpuLayerCount = 0 });
        var reference = new double[docs.Count];
        using (var pooling = new RankPooling(path, weights, prompt.Prefix.Length + prompt.Suffixes.Max(s => s.Length)))
        {
            for (int i = 0; i < docs.Count; i++) reference[i] = pooling.Score([.. prompt.Prefix, .. prompt.Suffixes[i]]);
        }

        double maxDiff = 0, tolerance = Tolerance(quant);
        foreach (var r in result)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(r.Score - reference[r.Index]));
            Assert.InRange(r.Score - reference[r.Index], -tolerance, tolerance);
        }
        AssertSameOrder(reference, [.. result.Select(r => r.Index)], OrderSlack(quant));

        // The same hidden states through the dequantized-f32 fallback, for the report (not the default path).
        var fallback = RankHead.Load(ranker.Model, ggmlKernels: false);
        double fallbackDiff = MaxDifference(ranker, prompt, fallback, reference);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{quant}: head {pw.RankHead!.StorageType} ({pw.RankHead.Kernel}); max |P(yes) - llama.cpp RANK pooling| over {docs.Count} documents: " +
            $"{maxDiff:E2} (ggml kernels), {fallbackDiff:E2} (dequantized f32 fallback)"));
    }

    /// <summary>
    /// <paramref name="order"/> (best first) is the order of <paramref name="reference"/>, except that documents whose reference
    /// scores are within <paramref name="slack"/> of each other may come in either order.
    /// </summary>
    private static void AssertSameOrder(double[] reference, int[] order, double slack)
    {
        Assert.Equal(reference.Length, order.Distinct().Count());
        for (int a = 0; a < order.Length; a++)
        {
            for (int b = a + 1; b < order.Length; b++)
                Assert.True(reference[order[a]] >= reference[order[b]] - slack, $"documents {order[a]} and {order[b]} are out of order");
        }
    }

    [Theory]
    [MemberData(nameof(Quantizations))]
    public void RankHeadIsExactOnLlamaCppsHiddenState(string quant)
    {
        // The head alone: applied to the hidden state of llama.cpp's own decode of a prompt (an embeddings context, the
        // whole prompt in one batch), it gives the P(yes) llama.cpp's RANK pooling gives for that prompt.
        string path = TestModels.Get("small", quant);
        var docs = Docs(8, 21);
        using var ranker = Reranker.Load(path);
        var head = ranker.Pointwise.RankHead!;
        var prompt = ranker.Pointwise.BuildPrompt(Query, docs, ranker.Options);
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { GpuLayerCount = 0 });
        using var pooling = new RankPooling(path, weights, prompt.Prefix.Length + prompt.Suffixes.Max(s => s.Length));
        double maxDiff = 0;
        for (int i = 0; i < docs.Count; i++)
        {
            int[] tokens = [.. prompt.Prefix, .. prompt.Suffixes[i]];
            double p = 1 / (1 + Math.Exp(-head.LogitDifference(LastHiddenState(path, weights, tokens))));
            double pooled = pooling.Score(tokens);
            maxDiff = Math.Max(maxDiff, Math.Abs(p - pooled));
            Assert.InRange(p - pooled, -1e-5, 1e-5);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{quant}: head {head.StorageType}; max |P(yes) - RANK pooling| on llama.cpp's hidden states {maxDiff:E2}"));
    }

    /// <summary>Max |P(yes) - reference| of the prompt's documents decoded by the reranker's engine and read through <paramref name="head"/>.</summary>
    private static double MaxDifference(Reranker ranker, PointwiseMethod.Prompt prompt, RankHead head, double[] reference)
    {
        var engine = ranker.Engine(RerankMethod.Pointwise);
        int seq = engine.Prefixes.Acquire(prompt.Prefix, default, out _, out long generation);
        double max = 0;
        engine.DecodeSuffixes(seq, generation, prompt.Prefix.Length, prompt.Suffixes, (item, o) =>
            max = Math.Max(max, Math.Abs(1 / (1 + Math.Exp(-head.LogitDifference(o.HiddenState))) - reference[item])), default);
        return max;
    }

    [Theory]
    [MemberData(nameof(Quantizations))]
    public void ScoresEqualLoneDecodesOfTheHiddenState(string quant)
    {
        string path = TestModels.Get("small", quant);
        var docs = Docs(12, 3);
        using var ranker = Reranker.Load(path, new RerankerOptions { ParallelSequences = 4 });
        var head = ranker.Pointwise.RankHead!;
        var result = ranker.Rerank(Query, docs);
        var prompt = ranker.Pointwise.BuildPrompt(Query, docs, ranker.Options);
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { GpuLayerCount = 0 });
        double maxDiff = 0;
        foreach (var r in result)
        {
            float[] hidden = LastHiddenState(path, weights, [.. prompt.Prefix, .. prompt.Suffixes[r.Index]]);
            double lone = head.LogitDifference(hidden);
            maxDiff = Math.Max(maxDiff, Math.Abs(r.RawScore - lone));
            Assert.InRange(r.RawScore - lone, -LoneTolerance, LoneTolerance);
            Assert.Equal(1.0 / (1.0 + Math.Exp(-lone)), r.Score, 1e-5);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"max |RawScore - lone decode| {maxDiff:E2}"));
    }

    [Theory]
    [MemberData(nameof(Quantizations))]
    public void ScoresEqualLlamaSharpRerankerOnItsTokens(string quant)
    {
        // LLamaReranker decodes tokenize(query) + tokenize(document) (LLamaContext.Tokenize: BOS when the vocabulary
        // adds one, no special tokens) and returns llama.cpp's pooled RANK output: P(yes). FastRank's engine decodes
        // the same tokens (query as the shared prefix) and reads them through the rank head.
        string path = TestModels.Get("small", quant);
        var docs = Docs(32, 8);
        using var ranker = Reranker.Load(path, new RerankerOptions { ParallelSequences = 8 });
        var model = ranker.Model;
        int[] Tokens(string text) => [.. model.Weights.Tokenize(text, true, false, Encoding.UTF8).Select(t => (int)t)];
        int[] prefix = Tokens(Query);
        int[][] suffixes = [.. docs.Select(Tokens)];

        var engine = ranker.Engine(RerankMethod.Pointwise);
        int seq = engine.Prefixes.Acquire(prefix, default, out _, out long generation);
        var fast = new double[docs.Count];
        engine.DecodeSuffixes(seq, generation, prefix.Length, suffixes, (item, o) => fast[item] = 1 / (1 + Math.Exp(-ranker.Pointwise.RawScore(o))), default);

        // LLamaReranker one document per call (each a lone decode in its context), and all documents in one call (its
        // normal use: every document a sequence of one batch, in a unified KV cache).
        int longest = prefix.Length + suffixes.Max(s => s.Length);
        var single = new double[docs.Count];
        IReadOnlyList<float> batched;
        using (var reranker = LlamaSharpRerankerBaseline.Create(model, 1024, longest, docs.Count, Environment.ProcessorCount))
        {
            for (int i = 0; i < docs.Count; i++) single[i] = reranker.Score(Query, [docs[i]])[0];
            batched = reranker.Score(Query, docs);
        }

        double maxDiff = 0, maxBatched = 0, ownBatch = 0, tolerance = Tolerance(quant);
        for (int i = 0; i < docs.Count; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(fast[i] - single[i]));
            maxBatched = Math.Max(maxBatched, Math.Abs(fast[i] - batched[i]));
            ownBatch = Math.Max(ownBatch, Math.Abs(single[i] - batched[i]));
            Assert.InRange(fast[i] - single[i], -tolerance, tolerance);
        }
        var fastOrder = Enumerable.Range(0, docs.Count).OrderByDescending(i => fast[i]).ThenBy(i => i).ToArray();
        AssertSameOrder(single, fastOrder, OrderSlack(quant));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{quant}: max |P(yes) - LLamaReranker| over {docs.Count} documents (its tokens: query + document): {maxDiff:E2} one document per call, " +
            $"{maxBatched:E2} all in one call (LLamaReranker's own one-call vs per-document scores: {ownBatch:E2})"));
    }

    [Fact]
    public void AutoPicksTheRankHeadOnQwen3AndTheLmHeadWithoutOne()
    {
        using (var small = Reranker.Load(TestModels.Small))
            Assert.NotNull(small.Pointwise.RankHead);
        using (var tiny = Reranker.Load(TestModels.Tiny))
        {
            Assert.Null(tiny.Pointwise.RankHead);
            Assert.Equal(3, tiny.Rerank("a question", ["one", "two", "three"]).Count);
        }
        using (var lm = Reranker.Load(TestModels.Small, new RerankerOptions { ScoreHead = ScoreHead.Lm }))
            Assert.Null(lm.Pointwise.RankHead);
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("small")]
    public void LmScoresFromTheYesAndNoRowsEqualTheWholeLmHeadsLogits(string shape)
    {
        // Without the rank head, pointwise scores come from the LM head's "yes" and "no" rows applied to the final hidden
        // state (the rest of the vocabulary is never multiplied): the same yes-no logit difference as the logits of a lone
        // decode through LLamaSharp (tiny: llama with a tied head, f32; small: qwen3 with its own output.weight, q8_0).
        string path = shape == "tiny" ? TestModels.Tiny : TestModels.Small;
        var docs = Docs(10, 21);
        using var ranker = Reranker.Load(path, new RerankerOptions { ScoreHead = ScoreHead.Lm, ParallelSequences = 4 });
        var pw = ranker.Pointwise;
        Assert.Null(pw.RankHead);
        Assert.NotNull(pw.LmRows);
        Assert.True(ranker.Engine(RerankMethod.Pointwise).Context.Config.HiddenStates, "the LM rows need the final hidden states");
        var result = ranker.Rerank(Query, docs);
        var prompt = pw.BuildPrompt(Query, docs, ranker.Options);
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { GpuLayerCount = 0 });
        double maxDiff = 0;
        foreach (var r in result)
        {
            float[] logits = LoneDecode.LastLogits(path, weights, [.. prompt.Prefix, .. prompt.Suffixes[r.Index]]);
            double expected = (double)logits[pw.YesToken] - logits[pw.NoToken];
            maxDiff = Math.Max(maxDiff, Math.Abs(r.RawScore - expected));
            Assert.InRange(r.RawScore - expected, -LoneTolerance, LoneTolerance);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{shape}: max |yes-no from the rows - lone decode's logits| = {maxDiff:E2} ({pw.LmRows!.Kernel})"));
    }

    [Fact]
    public void RankOnAModelWithoutARankHeadIsNotSupported()
    {
        var ex = Assert.Throws<ModelNotSupportedException>(() => Reranker.Load(TestModels.Tiny, new RerankerOptions { ScoreHead = ScoreHead.Rank }));
        Assert.Contains("rank head", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => Reranker.Load(TestModels.Small, new RerankerOptions { ScoreHead = (ScoreHead)7 }));
    }

    [Theory]
    [InlineData("q8_0", true)]
    [InlineData("f16", false)]
    public void TheTwoHeadsDifferWhereQuantizationStoredThemApart(string quant, bool differ)
    {
        // The LM head's yes/no rows and the rank head are the same numbers before quantization; llama.cpp's quantizer
        // stores the two tensors at different precisions, so on q8_0 the scores move and the option matters.
        string path = TestModels.Get("small", quant);
        var docs = Docs(16, 12);
        // Compared on RawScore (the yes-no logit difference): P(yes) saturates near 0 and 1, where any difference vanishes.
        double[] Scores(ScoreHead head)
        {
            using var r = Reranker.Load(path, new RerankerOptions { ScoreHead = head, ParallelSequences = 8 });
            return [.. r.Rerank(Query, docs).OrderBy(x => x.Index).Select(x => x.RawScore)];
        }
        var rank = Scores(ScoreHead.Rank);
        var lm = Scores(ScoreHead.Lm);
        double maxDiff = rank.Zip(lm, (a, b) => Math.Abs(a - b)).Max();
        var f = GgufReaderTypes(path);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{quant}: output.weight {f.Lm}, cls.output.weight {f.Rank}; max |RawScore rank - lm| {maxDiff:E2}"));
        const double LogitTolerance = 1e-3;
        if (differ) Assert.True(maxDiff > LogitTolerance, $"the heads agree to {maxDiff:E2}");
        else Assert.True(maxDiff < LogitTolerance, $"the heads differ by {maxDiff:E2}");
    }

    private static (string Lm, string Rank) GgufReaderTypes(string path)
    {
        var f = FastRank.Gguf.GgufReader.Read(path);
        string Type(string name) => f.Tensors.FirstOrDefault(t => t.Name == name)?.Type.ToString() ?? "absent";
        return (Type("output.weight"), Type(RankHead.TensorName));
    }

    /// <summary>The final normalized hidden state of a prompt's last token: a lone decode in an embeddings context (pooling NONE).</summary>
    private static float[] LastHiddenState(string path, LLamaWeights weights, int[] prompt)
    {
        uint cells = (uint)((prompt.Length + 255) / 256 * 256);
        var p = new ModelParams(path)
        {
            ContextSize = cells,
            BatchSize = cells,
            UBatchSize = cells,
            Threads = Environment.ProcessorCount,
            BatchThreads = Environment.ProcessorCount,
            FlashAttention = true,
            Embeddings = true,
            PoolingType = LLamaPoolingType.None,
        };
        using var ctx = weights.CreateContext(p);
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, true);
        Assert.Equal(DecodeResult.Ok, ctx.NativeHandle.Decode(batch));
        return ctx.NativeHandle.GetEmbeddingsIth(prompt.Length - 1).ToArray();
    }

    /// <summary>llama.cpp's own RANK pooling: an embeddings context with pooling RANK, each prompt decoded alone in one batch.</summary>
    private sealed class RankPooling : IDisposable
    {
        private readonly LLamaContext _ctx;

        public RankPooling(string path, LLamaWeights weights, int longest)
        {
            uint cells = (uint)((longest + 255) / 256 * 256);
            _ctx = weights.CreateContext(new ModelParams(path)
            {
                ContextSize = cells,
                BatchSize = cells,
                UBatchSize = cells,
                Threads = Environment.ProcessorCount,
                BatchThreads = Environment.ProcessorCount,
                FlashAttention = true,
                Embeddings = true,
                PoolingType = LLamaPoolingType.Rank,
            });
        }

        /// <summary>The pooled output of sequence 0: the softmax of the head's two logits, P(yes) first.</summary>
        public double Score(int[] prompt)
        {
            _ctx.NativeHandle.MemoryClear();
            var batch = new LLamaBatch();
            for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, true);
            Assert.Equal(DecodeResult.Ok, _ctx.NativeHandle.Decode(batch));
            var pooled = _ctx.NativeHandle.GetEmbeddingsSeq(LLamaSeqId.Zero);
            Assert.InRange(pooled[0] + pooled[1], 1 - 1e-5, 1 + 1e-5);
            return pooled[0];
        }

        public void Dispose() => _ctx.Dispose();
    }
}
