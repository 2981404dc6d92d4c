using FastRank.Engine;
using FastRank.Tests.Ranking;
using LLama;
using LLama.Common;

namespace FastRank.Tests.Engine;

/// <summary>
/// The llama.cpp behaviours the engine's exactness rule rests on (<see cref="ContextConfig.MinimumRun"/>), checked on
/// the shipped build so that an upgrade that changes them fails here, with the reason, rather than silently moving
/// scores or leaving a cheaper route untaken.
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

    [Fact]
    public void ARunShorterThanTheMinimum_MovesLogits_AndAMinimumRunDoesNot()
    {
        using var model = LlamaModel.Load(TestModels.Small);
        using var ctx = new InferenceContext(model, new ContextConfig(2, 256, 256, 256, FlashAttention: true, Threads: Environment.ProcessorCount) { PrefixSlots = 0 });
        Assert.Equal(64, ctx.Config.MinimumRun);
        int[] prefix = Tokens(100, 1), suffix = Tokens(20, 2);
        float[] Decode(int seq, int start, ReadOnlySpan<int> tokens)
        {
            ctx.BatchClear();
            int last = -1;
            for (int i = 0; i < tokens.Length; i++) last = ctx.BatchAdd(tokens[i], start + i, seq, i == tokens.Length - 1);
            ctx.Decode(CancellationToken.None);
            return ctx.Logits(last).ToArray();
        }
        float[] lone = Decode(0, 0, [.. prefix, .. suffix]);
        ctx.ClearAll();
        Decode(0, 0, prefix);
        // The suffix alone on the cached prefix: a 20-row run takes flash attention's per-row kernel (Q and the
        // V accumulator in f16) instead of the tiled one (f32) a whole prompt takes.
        ctx.CopyAll(0, 1);
        float[] shortRun = Decode(1, prefix.Length, suffix);
        // The same suffix with the prefix's last 44 tokens re-decoded before it: one 64-row run.
        ctx.CopyAll(0, 1);
        ctx.Truncate(1, prefix.Length - 44);
        float[] minimumRun = Decode(1, prefix.Length - 44, [.. prefix[^44..], .. suffix]);
        Assert.InRange(MaxDiff(minimumRun, lone), 0, Tolerance);
        Assert.True(MaxDiff(shortRun, lone) > 100 * Tolerance,
            $"a 20-token run on a cached prefix now equals a lone decode (max diff {MaxDiff(shortRun, lone)}): llama.cpp's short-run kernel changed, " +
            "so ContextConfig.MinimumRun (and the re-decoded prefix tokens it costs short documents) may no longer be needed");
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
}
