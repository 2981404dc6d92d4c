using FastRank.Kernels;
using static FastRank.Tests.Kernels.KernelTestSupport;

namespace FastRank.Tests.Kernels;

/// <summary>Top-k through the public API, every implementation and variant against a sorting oracle (exact).</summary>
public sealed class TopKTests
{
    public static TheoryData<KernelImplementation, string> AllVariants => Variants();

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void MatchesOracleAcrossLengthsInputsAndK(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        foreach (int n in new[] { 1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 4099 })
        {
            foreach (float[] x in new[] { Normal(n, n), Adversarial(n, n + 1), Enumerable.Range(0, n).Select(i => i * 0.5f).ToArray(), Enumerable.Repeat(2f, n).ToArray() })
            {
                foreach (int k in new[] { 1, 3, 10, 64, n - 1, n, n + 5 })
                {
                    if (k < 1)
                        continue;
                    int[] expected = OracleTopK(x, k);
                    var idx = new int[expected.Length];
                    var val = new float[expected.Length];
                    int count = RankKernels.TopK(x, k, idx, val);
                    Assert.Equal(expected.Length, count);
                    Assert.Equal(expected, idx);
                    for (int i = 0; i < count; i++)
                        Assert.True(SameBits(x[expected[i]], val[i]), $"value at rank {i}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void NaNRanksLastAndZerosTieByIndex(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        float[] x = [float.NaN, float.NegativeInfinity, -0f, 0f, float.NaN, 1f];
        var idx = new int[6];
        Assert.Equal(6, RankKernels.TopK(x, 6, idx));
        Assert.Equal(new[] { 5, 2, 3, 1, 0, 4 }, idx);
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void LargeInputAndNaNPrefix(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        float[] x = Normal(1 << 18, 7);
        for (int i = 0; i < 200; i++)
            x[i] = float.NaN;
        foreach (int k in new[] { 10, 100 })
        {
            var idx = new int[k];
            RankKernels.TopK(x, k, idx);
            Assert.Equal(OracleTopK(x, k), idx);
        }
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void BatchedRowsWithStride(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        const int rows = 6, columns = 77, stride = 80;
        float[] x = Adversarial(rows * stride, 3);
        foreach (int k in new[] { 1, 9, 77, 100 })
        {
            int c = Math.Min(k, columns);
            var idx = new int[rows * c];
            var val = new float[rows * c];
            Assert.Equal(c, RankKernels.TopKBatched(x, rows, columns, stride, k, idx, val));
            for (int r = 0; r < rows; r++)
                Assert.Equal(OracleTopK(x.AsSpan(r * stride, columns), k), idx.AsSpan(r * c, c).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void EmptyInputZeroKAndMissingValues(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        Assert.Equal(0, RankKernels.TopK([], 5, []));
        Assert.Equal(0, RankKernels.TopK([1f, 2f], 0, []));
        var idx = new int[300];
        float[] x = Normal(1000, 1);
        Assert.Equal(300, RankKernels.TopK(x, 300, idx));  // no value span: pooled scratch
        Assert.Equal(OracleTopK(x, 300), idx);
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void ArgumentErrorsAreTheSameForEveryImplementation(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.TopK([1f], -1, new int[1]));
        Assert.Throws<ArgumentException>(() => RankKernels.TopK([1f, 2f, 3f], 2, new int[1]));
        Assert.Throws<ArgumentException>(() => RankKernels.TopK([1f, 2f, 3f], 2, new int[2], new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.TopKBatched(new float[10], 2, 5, 4, 1, new int[2]));
        Assert.Throws<ArgumentException>(() => RankKernels.TopKBatched(new float[9], 2, 5, 5, 1, new int[2]));
    }
}
