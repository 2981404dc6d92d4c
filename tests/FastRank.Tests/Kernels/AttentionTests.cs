using System.Runtime.InteropServices;
using FastRank.Kernels;
using static FastRank.Tests.Kernels.KernelTestSupport;

namespace FastRank.Tests.Kernels;

/// <summary>
/// The ICR reduction, span sums and masked calibration against double references.
/// Tolerances: accumulation 1e-6 + 1e-5 |x|; span sums 2^-21 * sum|x| (the documented bound);
/// calibration (double inside) 1e-6 relative.
/// </summary>
public sealed unsafe class AttentionTests
{
    public static TheoryData<KernelImplementation, string> AllVariants => Variants();

    /// <summary>A kq_soft_max-like tensor with padded token and head strides; masked cells hold exactly 0.</summary>
    private static (float[] Data, AttentionTensorLayout Layout) MakeTensor(int cells, int tokens, int heads, int streams, int seed, bool strideTwoCells = false)
    {
        long nb0 = strideTwoCells ? 8 : 4;
        long nb1 = (nb0 * cells) + 12, nb2 = (nb1 * tokens) + 16, nb3 = nb2 * heads;
        var layout = new AttentionTensorLayout(cells, tokens, heads, streams, nb0, nb1, nb2, nb3);
        var data = new float[(nb3 * streams / 4) + 1];
        var rng = new Random(seed);
        for (int i = 0; i < data.Length; i++)
            data[i] = i % 5 == 0 ? 0f : (i % 11 == 0 ? 1e-40f : (float)rng.NextDouble());
        return (data, layout);
    }

    private static double[] Reference(float[] data, in AttentionTensorLayout l, int row0, int row1, int stream, double scale)
    {
        var acc = new double[l.Cells];
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(data.AsSpan());
        for (long c = 0; c < l.Cells; c++)
        {
            for (long h = 0; h < l.Heads; h++)
            {
                for (long t = row0; t < row1; t++)
                    acc[c] += scale * BitConverter.ToSingle(bytes.Slice((int)((c * l.CellStride) + (t * l.TokenStride) + (h * l.HeadStride) + (stream * l.StreamStride)), 4));
            }
        }
        return acc;
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void AccumulateMatchesReference(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        foreach ((int cells, int tokens, int heads, bool strided) in new[] { (1, 3, 2, false), (17, 5, 3, false), (256, 9, 8, false), (1000, 4, 5, false), (67, 4, 3, true) })
        {
            (float[] data, AttentionTensorLayout layout) = MakeTensor(cells, tokens, heads, 2, cells, strided);
            foreach ((int r0, int r1, int stream, float scale) in new[] { (0, tokens, 0, 1f), (1, tokens - 1, 1, 0.125f) })
            {
                double[] expected = Reference(data, layout, r0, r1, stream, scale);
                var acc = Enumerable.Repeat(0.5f, cells).ToArray();  // accumulates onto what is there
                RankKernels.AccumulateAttention(data, layout, r0, r1, stream, scale, acc);
                for (int c = 0; c < cells; c++)
                    Near(0.5 + expected[c], acc[c], 1e-6, 1e-5, $"{layout} cell {c}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void PointerOverloadReadsAGgmlLikeBuffer(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        const int cells = 512, tokens = 6, heads = 4;
        var layout = AttentionTensorLayout.FromGgml([cells, tokens, heads, 1], [4, 4 * cells, 4L * cells * tokens, 4L * cells * tokens * heads]);
        Assert.Equal(AttentionTensorLayout.Contiguous(cells, tokens, heads), layout);
        float[] probabilities = Normal(cells * tokens * heads, 5).Select(Math.Abs).ToArray();
        double[] expected = Reference(probabilities, layout, 2, 6, 0, 1.0 / 4);
        var acc = new float[cells];
        // Unmanaged memory, as the eval callback hands over a ggml tensor's data pointer.
        void* native = NativeMemory.AlignedAlloc((nuint)(probabilities.Length * 4), 64);
        try
        {
            probabilities.CopyTo(new Span<float>(native, probabilities.Length));
            RankKernels.AccumulateAttention(native, layout, 2, 6, 0, 0.25f, acc);
        }
        finally
        {
            NativeMemory.AlignedFree(native);
        }
        for (int c = 0; c < cells; c++)
            Near(expected[c], acc[c], 1e-6, 1e-5, $"cell {c}");
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void AccumulateRejectsBadArguments(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        (float[] data, AttentionTensorLayout layout) = MakeTensor(8, 2, 2, 1, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.AccumulateAttention(data, layout, 0, 3, 0, 1f, new float[8]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.AccumulateAttention(data, layout, 0, 1, 1, 1f, new float[8]));
        Assert.Throws<ArgumentException>(() => RankKernels.AccumulateAttention(data, layout, 0, 1, 0, 1f, new float[7]));
        Assert.Throws<ArgumentException>(() => RankKernels.AccumulateAttention(data.AsSpan(0, 10), layout, 0, 1, 0, 1f, new float[8]));
        var acc = new float[8];
        RankKernels.AccumulateAttention(data, layout, 1, 1, 0, 1f, acc);  // empty row range: no-op
        Assert.All(acc, a => Assert.Equal(0f, a));
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void SpanSumsMatchReference(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        float[] v = Normal(5000, 4);
        var spans = new List<IndexRange> { new(0, 0), new(0, 1), new(3, 20), new(100, 1100), new(4990, 5000), new(0, 5000) };
        for (int s = 0; s < 30; s++)
            spans.Add(new IndexRange(s, s + 65 + s));
        var sums = new float[spans.Count];
        RankKernels.SpanSums(v, spans.ToArray(), sums);
        for (int i = 0; i < spans.Count; i++)
        {
            double expected = 0, l1 = 0;
            for (int t = spans[i].Start; t < spans[i].End; t++)
            {
                expected += v[t];
                l1 += Math.Abs(v[t]);
            }
            Near(expected, sums[i], 4.8e-7 * l1, 1.2e-7, $"span {i}");  // 2^-21 * sum|x|, then rounding to float
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.SpanSums(v, [new IndexRange(10, 5001)], new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankKernels.SpanSums(v, [new IndexRange(10, 9)], new float[1]));
    }

    private static double ReferenceCalibration(float[] q, float[] na, IndexRange d)
    {
        int n = d.Length;
        if (n == 0)
            return 0;
        double[] c = Enumerable.Range(d.Start, n).Select(t => (double)q[t] - na[t]).ToArray();
        if (c.Any(x => !double.IsFinite(x)))
            return double.NaN;
        if (n == 1)
            return c[0];
        if (c.Min() == c.Max())
            return 0;
        double mean = c.Average();
        double sd = Math.Sqrt(c.Sum(x => (x - mean) * (x - mean)) / (n - 1));
        return c.Where(x => x > mean - (2 * sd)).Sum();
    }

    [Theory]
    [MemberData(nameof(AllVariants))]
    public void MaskedCalibrationMatchesReferenceAndEdgeRules(KernelImplementation implementation, string variant)
    {
        using KernelScope scope = RankKernels.Use(implementation, variant);
        const int n = 4000;
        float[] q = Normal(n, 31, 0.01f), na = Normal(n, 32, 0.01f);
        for (int t = 50; t < n; t += 97)
            q[t] -= 0.2f;  // outliers the mask removes
        var docs = new List<IndexRange> { new(0, 0), new(5, 6), new(10, 12), new(20, 45), new(45, 345), new(1000, 4000) };
        for (int t = 3000; t < 3010; t++)
        {
            q[t] = 0.5f;
            na[t] = 0.25f;
        }
        docs.Add(new IndexRange(3000, 3010));  // constant c -> 0
        q[3500] = float.NaN;
        docs.Add(new IndexRange(3490, 3510));  // NaN -> NaN
        na[3600] = float.PositiveInfinity;
        docs.Add(new IndexRange(3600, 3601));  // non-finite single token -> NaN
        var scores = new float[docs.Count];
        RankKernels.MaskedCalibration(q, na, docs.ToArray(), scores);
        for (int i = 0; i < docs.Count; i++)
            Near(ReferenceCalibration(q, na, docs[i]), scores[i], 1e-9, 1e-6, $"document {i}");
        Assert.Equal(0f, scores[0]);
        Assert.Equal((float)((double)q[5] - na[5]), scores[1]);
        Assert.Equal(0f, scores[^3]);
        Assert.True(float.IsNaN(scores[^2]) && float.IsNaN(scores[^1]));
        Assert.Throws<ArgumentException>(() => RankKernels.MaskedCalibration(q, na.AsSpan(1), [], []));
    }
}
