using FastRank.Kernels;

namespace FastRank.Tests.Kernels;

/// <summary>Inputs, oracles and the list of (implementation, variant) pairs every parity test runs.</summary>
internal static class KernelTestSupport
{
    /// <summary>Every implementation/variant this machine can run: each managed width and each native variant.</summary>
    public static TheoryData<KernelImplementation, string> Variants()
    {
        var data = new TheoryData<KernelImplementation, string>();
        foreach (string v in RankKernels.SupportedManagedVariants)
            data.Add(KernelImplementation.Managed, v);
        foreach (string v in RankKernels.SupportedNativeVariants)
            data.Add(KernelImplementation.Native, v);
        return data;
    }

    public static float[] Normal(int n, int seed, float sigma = 1f)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = (float)(sigma * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return v;
    }

    /// <summary>Ties, signed zeros, NaN, infinities and denormals mixed.</summary>
    public static float[] Adversarial(int n, int seed)
    {
        float[] pool = [0f, -0f, 1f, -1f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-40f, -1e-40f, 3.5f, 3.5f, 1e30f];
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = pool[rng.Next(pool.Length)];
        return v;
    }

    /// <summary>Rank order: NaN last, value descending, index ascending.</summary>
    public static int[] OracleTopK(ReadOnlySpan<float> x, int k)
    {
        int[] idx = Enumerable.Range(0, x.Length).ToArray();
        float[] copy = x.ToArray();
        Array.Sort(idx, (a, b) =>
        {
            bool an = float.IsNaN(copy[a]), bn = float.IsNaN(copy[b]);
            if (an != bn)
                return an ? 1 : -1;
            if (!an && copy[a] != copy[b])
                return copy[a] > copy[b] ? -1 : 1;
            return a.CompareTo(b);
        });
        return idx[..Math.Min(k, idx.Length)];
    }

    public static double ReferenceLogSumExp(ReadOnlySpan<float> x)
    {
        double m = double.NegativeInfinity;
        foreach (float v in x)
        {
            if (float.IsNaN(v))
                return double.NaN;
            m = Math.Max(m, v);
        }
        if (double.IsInfinity(m))
            return m;
        double s = 0;
        foreach (float v in x)
            s += Math.Exp(v - m);
        return m + Math.Log(s);
    }

    /// <summary>|actual - expected| &lt;= abs + rel * |expected|; NaN matches NaN, infinities match themselves.</summary>
    public static void Near(double expected, double actual, double abs, double rel, string what)
    {
        if (double.IsNaN(expected) || double.IsNaN(actual))
        {
            Assert.True(double.IsNaN(expected) && double.IsNaN(actual), $"{what}: expected {expected}, got {actual}");
            return;
        }
        if (double.IsInfinity(expected) || double.IsInfinity(actual))
        {
            Assert.True(expected == actual, $"{what}: expected {expected}, got {actual}");
            return;
        }
        double tolerance = abs + (rel * Math.Abs(expected));
        Assert.True(Math.Abs(actual - expected) <= tolerance, $"{what}: expected {expected}, got {actual} (tolerance {tolerance})");
    }

    public static bool SameBits(float a, float b) =>
        float.IsNaN(a) ? float.IsNaN(b) : BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b);
}
