using FastRank.Engine;
using FastRank.Ranking;
using FastRank.Synthetic;
using FastRank.Tests.Ranking;
using LLama;
using LLama.Common;

namespace FastRank.Tests.Engine;

/// <summary>
/// The llama.cpp behaviours the engine's exactness rule rests on (<see cref="InferenceContext.MinimumRun"/>), checked on
/// the shipped build so that an upgrade that changes them fails here, with the reason, rather than silently moving
/// scores or leaving a cheaper route untaken; and the exact short-run attention (<see cref="ShortRunAttention"/>) that
/// replaces llama.cpp's short-run kernel.
/// </summary>
public sealed class KernelPathTests
{
    private const float Tolerance = 1e-4f;

    private static int[] Tokens(int count, int seed) => [.. Enumerable.Range(0, count).Select(i => 1000 + (i * 7919 + seed * 104729) % 20000)];

    private static float MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    private static float[] Decode(InferenceContext ctx, int seq, int start, ReadOnlySpan<int> tokens)
    {
        ctx.BatchClear();
        int last = -1;
        for (int i = 0; i < tokens.Length; i++) last = ctx.BatchAdd(tokens[i], start + i, seq, i == tokens.Length - 1);
        ctx.Decode(CancellationToken.None);
        return ctx.Logits(last).ToArray();
    }

    [Fact]
    public void ARunShorterThanTheMinimum_MovesLogits_AndAMinimumRunDoesNot()
    {
        using var model = LlamaModel.Load(TestModels.Small);
        using var ctx = new InferenceContext(model, new ContextConfig(2, 256, 256, 256, FlashAttention: true, Threads: Environment.ProcessorCount)
        {
            PrefixSlots = 0,
            ExactShortRuns = false,
        });
        Assert.Equal(64, ctx.MinimumRun);
        Assert.Null(ctx.ShortRuns);
        int[] prefix = Tokens(100, 1), suffix = Tokens(20, 2);
        float[] lone = Decode(ctx, 0, 0, [.. prefix, .. suffix]);
        ctx.ClearAll();
        Decode(ctx, 0, 0, prefix);
        // The suffix alone on the cached prefix: a 20-row run takes flash attention's per-row kernel (Q and the
        // V accumulator in f16) instead of the tiled one (f32) a whole prompt takes.
        ctx.CopyAll(0, 1);
        float[] shortRun = Decode(ctx, 1, prefix.Length, suffix);
        // The same suffix with the prefix's last 44 tokens re-decoded before it: one 64-row run.
        ctx.CopyAll(0, 1);
        ctx.Truncate(1, prefix.Length - 44);
        float[] minimumRun = Decode(ctx, 1, prefix.Length - 44, [.. prefix[^44..], .. suffix]);
        Assert.InRange(MaxDiff(minimumRun, lone), 0, Tolerance);
        Assert.True(MaxDiff(shortRun, lone) > 100 * Tolerance,
            $"a 20-token run on a cached prefix now equals a lone decode (max diff {MaxDiff(shortRun, lone)}): llama.cpp's short-run kernel changed, " +
            "so ShortRunAttention (which recomputes the attention of short runs) may no longer be needed");
    }

    [Theory]
    [InlineData(1, 20)]
    [InlineData(1, 2)]
    [InlineData(2, 63)]
    [InlineData(4, 2)]
    [InlineData(3, 37)]
    public void ShortRuns_WithExactAttention_EqualLoneDecodes(int sequences, int suffixTokens)
    {
        // Every sequence continues the same cached 100-token prefix with its own suffix of a few tokens, all in one
        // micro-batch of short runs: with the exact short-run attention each equals a lone decode of its whole prompt.
        // Bit-level agreement with the tiled kernel matters: an attention output off by f32 rounding alone (a plain
        // softmax instead of the kernel's 64-cell online one) moved the logits of (4, 2)'s third sequence by 0.2 on this
        // q8_0 model, where activations are rounded to 8 bits before every matrix product.
        using var model = LlamaModel.Load(TestModels.Small);
        using var ctx = new InferenceContext(model, new ContextConfig(sequences + 1, 256, 256, 256, FlashAttention: true, Threads: Environment.ProcessorCount)
        {
            PrefixSlots = 0,
            ExactShortRuns = true,
        });
        Assert.NotNull(ctx.ShortRuns);
        Assert.Equal(2, ctx.MinimumRun);
        int[] prefix = Tokens(100, 1);
        int[][] suffixes = [.. Enumerable.Range(0, sequences).Select(s => Tokens(suffixTokens, 10 + s))];
        var lone = suffixes.Select(sfx =>
        {
            ctx.ClearAll();
            return Decode(ctx, 0, 0, [.. prefix, .. sfx]);
        }).ToArray();
        ctx.ClearAll();
        Decode(ctx, 0, 0, prefix);
        long nodes0 = ctx.ShortRuns!.Nodes;
        ctx.BatchClear();
        var last = new int[sequences];
        for (int s = 0; s < sequences; s++)
        {
            ctx.CopyAll(0, s + 1);
            for (int i = 0; i < suffixTokens; i++) last[s] = ctx.BatchAdd(suffixes[s][i], prefix.Length + i, s + 1, i == suffixTokens - 1);
        }
        ctx.Decode(CancellationToken.None);
        Assert.Equal(model.LayerCount, ctx.ShortRuns.Nodes - nodes0);
        for (int s = 0; s < sequences; s++)
            Assert.InRange(MaxDiff(ctx.Logits(last[s]), lone[s]), 0, Tolerance);
    }

    [Fact]
    public void AnF32KvCache_LeavesFlashAttentionUnchanged()
    {
        // Why an f32 KV cache is no route to exact short runs: with flash attention on, llama.cpp casts f32 keys and
        // values to f16 before the attention (the logits are bit-identical); with it off the cache type shows.
        using var weights = LLamaWeights.LoadFromFile(new ModelParams(TestModels.Small) { GpuLayerCount = 0 });
        int[] prompt = Tokens(150, 3);
        float[] f16 = LoneDecode.LastLogits(TestModels.Small, weights, prompt, flashAttention: true);
        float[] f32 = LoneDecode.LastLogits(TestModels.Small, weights, prompt, flashAttention: true, f32Kv: true);
        Assert.True(MaxDiff(f16, f32) == 0,
            $"an f32 KV cache now changes flash attention's results (max diff {MaxDiff(f16, f32)}): llama.cpp stopped casting it to f16; " +
            "check whether its per-row kernel is then exact for short runs (ContextConfig.MinimumRun could drop to 2)");
        float[] f16Off = LoneDecode.LastLogits(TestModels.Small, weights, prompt, flashAttention: false);
        float[] f32Off = LoneDecode.LastLogits(TestModels.Small, weights, prompt, flashAttention: false, f32Kv: true);
        Assert.True(MaxDiff(f16Off, f32Off) > 100 * Tolerance, "the KV cache type setting did not reach llama.cpp");
    }

    [Fact]
    public void ExactShortRunAttention_KeepsPointwiseScores_AndDecodesFewerTokens()
    {
        // Short documents (a RAG chunk of a few words) scored with and without the exact short-run attention: the same
        // scores (both equal lone decodes), and without the re-decoded prefix tokens that pad runs to 64.
        var docs = SyntheticText.Documents(12, 6, seed: 41);
        const string Query = "which one mentions the harbour";
        using var padded = Reranker.Load(TestModels.Small, new RerankerOptions { ExactShortRunAttention = false });
        using var exact = Reranker.Load(TestModels.Small, new RerankerOptions { ExactShortRunAttention = true });
        var context = exact.Engine(RerankMethod.Pointwise).Context;
        Assert.NotNull(context.ShortRuns);
        Assert.Equal(2, context.MinimumRun);
        Assert.Equal(64, padded.Engine(RerankMethod.Pointwise).Context.MinimumRun);
        var paddedContext = padded.Engine(RerankMethod.Pointwise).Context;
        long paddedTokens0 = paddedContext.DecodedTokens, exactTokens0 = context.DecodedTokens;
        long paddedCalls0 = paddedContext.DecodeCalls, exactCalls0 = context.DecodeCalls;
        var a = padded.Rerank(Query, docs);
        var b = exact.Rerank(Query, docs);
        long paddedTokens = paddedContext.DecodedTokens - paddedTokens0, exactTokens = context.DecodedTokens - exactTokens0;
        long paddedCalls = paddedContext.DecodeCalls - paddedCalls0, exactCalls = context.DecodeCalls - exactCalls0;
        Assert.True(context.ShortRuns!.Nodes > 0, "no attention node was computed by the handler");
        var byIndex = a.ToDictionary(r => r.Index, r => r.RawScore);
        foreach (var r in b) Assert.InRange(r.RawScore - byIndex[r.Index], -Tolerance, Tolerance);
        Assert.True(exactTokens < paddedTokens, $"decoded {exactTokens} tokens with exact short runs, {paddedTokens} padded");
        // The documents share micro-batches (runs of equal length), not one llama_decode call each.
        Assert.True(exactCalls <= paddedCalls, $"{exactCalls} decode calls with exact short runs, {paddedCalls} padded, for {docs.Count} documents");
    }

    [Fact]
    public void ACachedPromptShorterThanARun_IsNeverContinued_EvenWhenBuiltOnExactCells()
    {
        // A prompt under 64 tokens takes llama.cpp's per-row attention whether it is decoded from scratch or on top of
        // exact cells (the short-run handler leaves a prompt that short to it, as its lone decode takes it): a longer
        // prompt may start from its shared part with an exact entry, never from its own cells.
        using var ranker = Reranker.Load(TestModels.Small);
        var engine = ranker.Engine(RerankMethod.Pointwise);
        Assert.NotNull(engine.Context.ShortRuns);
        var cache = engine.Prefixes;
        static int[] Tokens(int n, int first) => [.. Enumerable.Range(first, n)];
        int[] a = Tokens(100, 1000);
        int[] b = [.. a[..30], .. Tokens(10, 3000)];
        int[] c = [.. b, .. Tokens(60, 5000)];
        int seqA = cache.Acquire(a, default, out _, out _);
        Assert.True(cache.IsExact(seqA));
        int seqB = cache.Acquire(b, default, out int reusedB, out _);
        Assert.Equal(30, reusedB);
        Assert.False(cache.IsExact(seqB));
        Assert.True(cache.TryFindExact(a[..30], out int found, out _));
        Assert.Equal(seqA, found);
        Assert.False(cache.TryFindExact(b, out _, out _));
        cache.Acquire(c, default, out int reusedC, out _);
        Assert.Equal(30, reusedC);
    }
}
