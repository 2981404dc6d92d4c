using LLama;
using LLama.Common;
using LLama.Native;

namespace FastRank.Tests.Ranking;

/// <summary>
/// The reference every exactness test compares with: a prompt decoded alone, in one batch, in a fresh
/// context, through LLamaSharp's own API (none of FastRank's batching, caching or interop).
/// </summary>
internal static class LoneDecode
{
    public static float[] LastLogits(string modelPath, LLamaWeights weights, int[] prompt, bool flashAttention = true)
    {
        uint cells = (uint)((prompt.Length + 255) / 256 * 256);
        var p = new ModelParams(modelPath)
        {
            ContextSize = cells,
            BatchSize = cells,
            UBatchSize = cells,
            Threads = Environment.ProcessorCount,
            BatchThreads = Environment.ProcessorCount,
            FlashAttention = flashAttention,
        };
        using var ctx = weights.CreateContext(p);
        var batch = new LLamaBatch();
        int last = -1;
        for (int i = 0; i < prompt.Length; i++)
            last = batch.Add((LLamaToken)prompt[i], i, (LLamaSeqId)0, i == prompt.Length - 1);
        var status = ctx.NativeHandle.Decode(batch);
        Assert.Equal(DecodeResult.Ok, status);
        return ctx.NativeHandle.GetLogitsIth(last).ToArray();
    }
}
