using FastRank.Kernels;
using static FastRank.Tests.Kernels.KernelTestSupport;

namespace FastRank.Tests.Kernels;

/// <summary>
/// Dot products over int8 (per-row scale) and half rows, and the fused top-k.
/// Scores: |got - ref| &lt;= 1e-6 + 2e-5 * sum |q_i r_i|. Fused top-k: exactly the oracle top-k of the same
/// implementation's own scores.
/// </summary>
public sealed class EmbeddingTests
{
    public static TheoryData<KernelImplementation, string> AllVariants => Variants();

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void QuantizedAndHalfDotProductsAndTopK(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        foreach (int dim in new[] { 1, 17, 64, 385 })
        {
            foreach (int queryCount in new[] { 1, 3 })
            {
                const int rows = 600;
                float[] queries = Normal(queryCount * dim, dim);
                float[] matrix = Normal(rows * dim, dim + 1, 0.1f);
                Array.Copy(matrix, 0, matrix, 2 * dim, dim);  // duplicate rows: ties resolved by index
                var q8 = new sbyte[matrix.Length];
                var scales = new float[rows];
                RankKernels.QuantizeRows(matrix, dim, q8, scales);
                Half[] half = matrix.Select(v => (Half)v).ToArray();
                CheckOne(queries, dim, rows, queryCount, q8, scales, null);
                CheckOne(queries, dim, rows, queryCount, null, null, half);
            }
        }
    }

    private static void CheckOne(float[] queries, int dim, int rows, int queryCount, sbyte[]? q8, float[]? scales, Half[]? half)
    {
        var scores = new float[queryCount * rows];
        if (q8 is not null)
            RankKernels.QuantizedDotProducts(queries, dim, q8, scales, scores);
        else
            RankKernels.QuantizedDotProducts(queries, dim, half, scores);
        for (int q = 0; q < queryCount; q++)
        {
            for (int r = 0; r < rows; r++)
            {
                double expected = 0, l1 = 0;
                for (int i = 0; i < dim; i++)
                {
                    double w = q8 is not null ? q8[(r * dim) + i] * (double)scales![r] : (double)half![(r * dim) + i];
                    double p = queries[(q * dim) + i] * w;
                    expected += p;
                    l1 += Math.Abs(p);
                }
                Near(expected, scores[(q * rows) + r], 1e-6 + (2e-5 * l1), 0, $"dim {dim} query {q} row {r}");
            }
        }
        foreach (int k in new[] { 1, 10, 100, rows + 1 })
        {
            int c = Math.Min(k, rows);
            var idx = new int[queryCount * c];
            var top = new float[queryCount * c];
            int count = q8 is not null
                ? RankKernels.QuantizedTopK(queries, dim, q8, scales, k, idx, top)
                : RankKernels.QuantizedTopK(queries, dim, half, k, idx, top);
            Assert.Equal(c, count);
            for (int q = 0; q < queryCount; q++)
            {
                int[] expected = OracleTopK(scores.AsSpan(q * rows, rows), k);
                Assert.Equal(expected, idx.AsSpan(q * c, c).ToArray());
                for (int i = 0; i < c; i++)
                    Assert.True(SameBits(scores[(q * rows) + expected[i]], top[(q * c) + i]));
            }
            var idxOnly = new int[queryCount * c];
            if (q8 is not null)
                RankKernels.QuantizedTopK(queries, dim, q8, scales, k, idxOnly);
            else
                RankKernels.QuantizedTopK(queries, dim, half, k, idxOnly);
            Assert.Equal(idx, idxOnly);
        }
    }

    [Fact]
    public void QuantizeRowsIsSymmetricPerRow()
    {
        float[] rows = [1f, -2f, 0.5f, 0f, 0f, 0f];
        var q = new sbyte[6];
        var scales = new float[2];
        RankKernels.QuantizeRows(rows, 3, q, scales);
        Assert.Equal(2f / 127f, scales[0]);
        Assert.Equal(new sbyte[] { 64, -127, 32, 0, 0, 0 }, q);
        Assert.Equal(0f, scales[1]);
        Assert.Throws<ArgumentException>(() => RankKernels.QuantizeRows([float.NaN], 1, new sbyte[1], new float[1]));
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void RejectsMismatchedShapes(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        Assert.Throws<ArgumentException>(() => RankKernels.QuantizedDotProducts(new float[5], 4, new sbyte[8], new float[2], new float[2]));
        Assert.Throws<ArgumentException>(() => RankKernels.QuantizedDotProducts(new float[4], 4, new sbyte[8], new float[1], new float[2]));
        Assert.Throws<ArgumentException>(() => RankKernels.QuantizedTopK(new float[4], 4, new sbyte[8], new float[2], 2, new int[1]));
        Assert.Equal(0, RankKernels.QuantizedTopK(new float[4], 4, Array.Empty<Half>(), 3, []));
    }
}
