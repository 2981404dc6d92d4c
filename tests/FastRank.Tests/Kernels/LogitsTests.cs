using FastRank.Kernels;
using static FastRank.Tests.Kernels.KernelTestSupport;

namespace FastRank.Tests.Kernels;

/// <summary>
/// Log-sum-exp, gathered log-probabilities and restricted softmax against a double-precision reference.
/// Tolerance: 2e-5 + 2e-6 |x| for log-sum-exp and log-probabilities; 1e-6 for probabilities.
/// </summary>
public sealed class LogitsTests
{
    private const double Abs = 2e-5, Rel = 2e-6;

    public static TheoryData<KernelImplementation, string> AllVariants => Variants();

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void LogSumExpMatchesReference(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        foreach (int vocab in new[] { 1, 15, 16, 17, 65, 1000, 152064 })
        {
            const int rows = 3;
            int stride = vocab + 3;
            float[] x = Normal(rows * stride, vocab, 6f);
            var lse = new float[rows];
            RankKernels.LogSumExp(x, rows, vocab, stride, lse);
            for (int r = 0; r < rows; r++)
                Near(ReferenceLogSumExp(x.AsSpan(r * stride, vocab)), lse[r], Abs, Rel, $"vocab {vocab} row {r}");
        }
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void LogSumExpEdgeRows(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        const int vocab = 131;
        var rows = new List<float[]>
        {
            Enumerable.Repeat(float.NegativeInfinity, vocab).ToArray(),
            Normal(vocab, 1).Select((v, i) => i == 70 ? float.PositiveInfinity : v).ToArray(),
            Normal(vocab, 2).Select((v, i) => i == 129 ? float.NaN : v).ToArray(),
            Normal(vocab, 3).Select((v, i) => i % 3 == 0 ? float.NegativeInfinity : v).ToArray(),
            Enumerable.Repeat(1e-40f, vocab).ToArray(),
            Normal(vocab, 4, 200f),
        };
        foreach (float[] row in rows)
        {
            var lse = new float[1];
            RankKernels.LogSumExp(row, 1, vocab, vocab, lse);
            Near(ReferenceLogSumExp(row), lse[0], Abs, Rel, "edge row");
        }
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void GatherLogProbsAndRestrictedSoftmax(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        const int vocab = 32000, rows = 4;
        float[] x = Normal(rows * vocab, 9, 4f);
        x[(1 * vocab) + 7] = float.NaN;                  // row 1: NaN in the set
        x[(2 * vocab) + 8] = float.PositiveInfinity;     // row 2: +inf in the set
        x[(3 * vocab) + 9] = float.NegativeInfinity;     // row 3: -inf in the set: probability 0
        int[] ids = [7, 8, 9, 31999, 8];
        var lp = new float[rows * ids.Length];
        var lse = new float[rows];
        var p = new float[rows * ids.Length];
        RankKernels.GatherLogProbs(x, rows, vocab, vocab, ids, lp, lse);
        RankKernels.RestrictedSoftmax(x, rows, vocab, vocab, ids, p);
        for (int r = 0; r < rows; r++)
        {
            double refLse = ReferenceLogSumExp(x.AsSpan(r * vocab, vocab));
            Near(refLse, lse[r], Abs, Rel, $"lse row {r}");
            for (int i = 0; i < ids.Length; i++)
                Near(x[(r * vocab) + ids[i]] - refLse, lp[(r * ids.Length) + i], Abs, Rel, $"log-prob row {r} id {i}");
        }
        double m = ids.Max(id => (double)x[id]);
        double s = ids.Sum(id => Math.Exp(x[id] - m));
        for (int i = 0; i < ids.Length; i++)
        {
            Near(Math.Exp(x[ids[i]] - m) / s, p[i], 1e-6, 0, $"probability {i}");
            Assert.True(float.IsNaN(p[ids.Length + i]) && float.IsNaN(p[(2 * ids.Length) + i]));
        }
        Assert.Equal(0f, p[(3 * ids.Length) + 2]);
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void RejectsBadIdsAndShapes(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        float[] x = new float[8];
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.GatherLogProbs(x, 2, 4, 4, [4], new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.RestrictedSoftmax(x, 2, 4, 4, [-1], new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.LogSumExp(x, 1, 0, 0, new float[1]));
        Assert.Throws<ArgumentException>(() => RankKernels.LogSumExp(x, 3, 4, 4, new float[3]));
        Assert.Throws<ArgumentException>(() => RankKernels.GatherLogProbs(x, 2, 4, 4, [1, 2], new float[3]));
    }
}
