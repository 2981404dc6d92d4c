using FastRank.Kernels;

namespace FastRank.Engine;

/// <summary>
/// The attention reduction of ICR, in one place: for one layer's <c>kq_soft_max</c> tensor
/// (f32, ne = [n_kv, n_rows, n_head, n_stream], byte strides nb), adds
/// <c>scale * sum over heads h and rows r in [row0, row1) of p(c, r, h, stream)</c> to <c>acc[c]</c> for
/// every cell c &lt; n_kv. The tensor is read where llama.cpp left it; nothing is copied. The work is
/// the kernel library's: the native SIMD kernel when libfastrank_native is present, its managed
/// fallback otherwise.
/// </summary>
internal static unsafe class AttentionReduction
{
    /// <summary>Adds the attention rows [row0, row1) of <paramref name="stream"/>, summed over heads and scaled, to <paramref name="acc"/>.</summary>
    public static void Accumulate(void* data, ReadOnlySpan<long> ne, ReadOnlySpan<long> nb, int row0, int row1, int stream, float scale, Span<float> acc)
    {
        long cells = ne[0];
        if (cells > acc.Length) throw new ArgumentException($"the accumulator holds {acc.Length} cells, the tensor {cells}", nameof(acc));
        RankKernels.AccumulateAttention(data, AttentionTensorLayout.FromGgml(ne, nb), row0, row1, stream, scale, acc[..(int)cells]);
    }
}
