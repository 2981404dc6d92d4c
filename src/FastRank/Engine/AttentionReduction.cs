using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace FastRank.Engine;

/// <summary>
/// The attention reduction of ICR, in one place: for one layer's <c>kq_soft_max</c> tensor
/// (f32, ne = [n_kv, n_rows, n_head, n_stream], byte strides nb), adds
/// <c>scale * sum over heads h and rows r in [row0, row1) of p(c, r, h, stream)</c> to <c>acc[c]</c> for
/// every cell c &lt; n_kv. The tensor is read where llama.cpp left it; nothing is copied.
/// <para>
/// This is the managed SIMD version (TensorPrimitives). The native kernel library's
/// <c>RankKernels.AccumulateAttention(data, AttentionTensorLayout.FromGgml(ne, nb), row0, row1, stream, scale, acc)</c>
/// has the same contract; switching to it is a change of this method's body only.
/// </para>
/// </summary>
internal static unsafe class AttentionReduction
{
    /// <summary>Adds the attention rows [row0, row1) of <paramref name="stream"/>, summed over heads and scaled, to <paramref name="acc"/>.</summary>
    [SkipLocalsInit]
    public static void Accumulate(void* data, ReadOnlySpan<long> ne, ReadOnlySpan<long> nb, int row0, int row1, int stream, float scale, Span<float> acc)
    {
        long cells = ne[0];
        if (cells > acc.Length) throw new ArgumentException($"the accumulator holds {acc.Length} cells, the tensor {cells}", nameof(acc));
        if (row0 < 0 || row1 > ne[1] || row0 > row1) throw new ArgumentOutOfRangeException(nameof(row0), $"rows [{row0}, {row1}) outside 0..{ne[1]}");
        if (stream < 0 || stream >= ne[3]) throw new ArgumentOutOfRangeException(nameof(stream));
        if (cells == 0 || row0 == row1) return;
        int n = (int)cells;
        var dst = acc[..n];
        byte* baseStream = (byte*)data + stream * nb[3];
        if (nb[0] == sizeof(float))
        {
            for (long h = 0; h < ne[2]; h++)
            {
                byte* head = baseStream + h * nb[2];
                for (int r = row0; r < row1; r++)
                {
                    var row = new ReadOnlySpan<float>(head + r * nb[1], n);
                    if (scale == 1f) TensorPrimitives.Add(row, dst, dst);
                    else TensorPrimitives.MultiplyAdd(row, scale, dst, dst);
                }
            }
            return;
        }
        for (long h = 0; h < ne[2]; h++)
        {
            byte* head = baseStream + h * nb[2];
            for (int r = row0; r < row1; r++)
            {
                byte* row = head + r * nb[1];
                for (int c = 0; c < n; c++) dst[c] += scale * *(float*)(row + c * nb[0]);
            }
        }
    }
}
