using LLama;
using LLama.Common;
using LLama.Extensions;
using LLama.Native;

namespace FastRank.Tests.Ranking;

/// <summary>
/// The reference every exactness test compares with: a prompt decoded alone, in one batch, in a fresh
/// context, through LLamaSharp's own API (none of FastRank's batching, caching or interop).
/// </summary>
internal static class LoneDecode
{
    public static float[] LastLogits(string modelPath, LLamaWeights weights, int[] prompt, bool flashAttention = true, bool f32Kv = false)
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
        p.ToLlamaContextParams(out LLamaContextParams cp);
        if (f32Kv)
        {
            cp.type_k = GGMLType.GGML_TYPE_F32;
            cp.type_v = GGMLType.GGML_TYPE_F32;
        }
        using var handle = SafeLLamaContextHandle.Create(weights.NativeHandle, cp);
        var batch = new LLamaBatch();
        int last = -1;
        for (int i = 0; i < prompt.Length; i++)
            last = batch.Add((LLamaToken)prompt[i], i, (LLamaSeqId)0, i == prompt.Length - 1);
        var status = handle.Decode(batch);
        Assert.Equal(DecodeResult.Ok, status);
        return handle.GetLogitsIth(last).ToArray();
    }
}
