using MathNet.Numerics.Distributions;

namespace FastRank.Evaluation.Metrics;

/// <summary>A paired comparison of two systems over the same queries.</summary>
/// <param name="Queries">Queries compared (those both systems were evaluated on).</param>
/// <param name="MeanDifference">Mean of (b - a) over the queries.</param>
/// <param name="TStatistic">The paired t statistic (NaN when every difference is equal, or fewer than two queries).</param>
/// <param name="TTestP">Two-sided p of the paired t-test (Student's t with n - 1 degrees of freedom; NaN as the statistic).</param>
/// <param name="RandomizationP">Two-sided p of the paired randomization (sign-flip permutation) test.</param>
/// <param name="Permutations">Permutations behind <see cref="RandomizationP"/>; 0 when all 2^n sign assignments were enumerated (an exact p).</param>
public sealed record PairedComparison(int Queries, double MeanDifference, double TStatistic, double TTestP, double RandomizationP, int Permutations);

/// <summary>Paired significance tests over per-query values, as IR papers report them.</summary>
public static class Significance
{
    /// <summary>Permutations of the randomization test when the queries are too many to enumerate.</summary>
    public const int DefaultPermutations = 10_000;

    /// <summary>The seed of the randomization test (fixed: the same inputs give the same p).</summary>
    public const int DefaultSeed = 20240611;

    /// <summary>
    /// Compares <paramref name="b"/> with <paramref name="a"/> on the queries both have. The randomization test
    /// flips the sign of each query's difference at random and counts how often the mean difference is at least
    /// as far from 0 as the observed one; p = (count + 1) / (permutations + 1). With up to 16 queries every sign
    /// assignment is enumerated and p is exact.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Fewer than one permutation.</exception>
    public static PairedComparison Compare(IReadOnlyDictionary<string, double> a, IReadOnlyDictionary<string, double> b,
        int permutations = DefaultPermutations, int seed = DefaultSeed)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentOutOfRangeException.ThrowIfLessThan(permutations, 1);
        var d = a.Keys.Where(b.ContainsKey).Order(StringComparer.Ordinal).Select(q => b[q] - a[q]).ToArray();
        int n = d.Length;
        if (n == 0) return new PairedComparison(0, 0, double.NaN, double.NaN, 1, 0);
        double mean = d.Average();
        double t = double.NaN, p = double.NaN;
        if (n >= 2)
        {
            double ss = 0;
            foreach (double x in d) ss += (x - mean) * (x - mean);
            double sd = Math.Sqrt(ss / (n - 1));
            if (sd > 0)
            {
                t = mean / (sd / Math.Sqrt(n));
                p = 2 * StudentT.CDF(0, 1, n - 1, -Math.Abs(t));
            }
        }
        var (rp, used) = Randomization(d, permutations, seed);
        return new PairedComparison(n, mean, t, p, rp, used);
    }

    private static (double P, int Permutations) Randomization(double[] d, int permutations, int seed)
    {
        double observed = Math.Abs(d.Sum());
        // Sums equal up to rounding count as ties (a sign flip of equal values reorders the additions).
        double tolerance = 1e-12 * Math.Max(1, d.Sum(Math.Abs));
        if (d.Length <= 16)
        {
            long count = 0, total = 1L << d.Length;
            for (long mask = 0; mask < total; mask++)
            {
                double s = 0;
                for (int i = 0; i < d.Length; i++) s += (mask & (1L << i)) != 0 ? -d[i] : d[i];
                if (Math.Abs(s) >= observed - tolerance) count++;
            }
            return ((double)count / total, 0);
        }
        var random = new Random(seed);
        int hits = 0;
        for (int p = 0; p < permutations; p++)
        {
            double s = 0;
            for (int i = 0; i < d.Length; i++) s += random.Next(2) == 0 ? d[i] : -d[i];
            if (Math.Abs(s) >= observed - tolerance) hits++;
        }
        return ((hits + 1.0) / (permutations + 1.0), permutations);
    }
}
