namespace FastRank.Ranking;

/// <summary>
/// ICR's scores of one document from per-token attention (METHODS.md section 3). <c>q</c> and <c>na</c> are
/// the attention each of the document's tokens received from the real and the content-free query
/// (summed over layers and heads, averaged over the query's tokens).
/// </summary>
internal static class IcrScoring
{
    /// <summary>The score under <paramref name="calibration"/>.</summary>
    public static double Score(IcrCalibration calibration, ReadOnlySpan<float> q, ReadOnlySpan<float> na) => calibration switch
    {
        IcrCalibration.Masked => Masked(q, na),
        IcrCalibration.Unmasked => Unmasked(q, na),
        _ => Raw(q),
    };

    /// <summary>Sum of the real query's attention over the document.</summary>
    public static double Raw(ReadOnlySpan<float> q)
    {
        double sum = 0;
        foreach (float v in q) sum += v;
        return sum;
    }

    /// <summary>Sum of c_t = q_t - na_t over the document.</summary>
    public static double Unmasked(ReadOnlySpan<float> q, ReadOnlySpan<float> na)
    {
        Check(q, na);
        double sum = 0;
        for (int t = 0; t < q.Length; t++) sum += (double)q[t] - na[t];
        return sum;
    }

    /// <summary>
    /// Masked calibration: c_t = q_t - na_t; threshold = mean(c) - 2 std(c) (std with N - 1); the sum of the
    /// c_t above the threshold. A document of no token scores 0; of one token, c (its std is undefined).
    /// </summary>
    public static double Masked(ReadOnlySpan<float> q, ReadOnlySpan<float> na)
    {
        Check(q, na);
        int n = q.Length;
        if (n == 0) return 0;
        if (n == 1) return (double)q[0] - na[0];
        double mean = 0;
        for (int t = 0; t < n; t++) mean += (double)q[t] - na[t];
        mean /= n;
        double ss = 0;
        for (int t = 0; t < n; t++)
        {
            double d = (double)q[t] - na[t] - mean;
            ss += d * d;
        }
        double threshold = mean - 2 * Math.Sqrt(ss / (n - 1));
        double sum = 0;
        for (int t = 0; t < n; t++)
        {
            double c = (double)q[t] - na[t];
            if (c > threshold) sum += c;
        }
        return sum;
    }

    private static void Check(ReadOnlySpan<float> q, ReadOnlySpan<float> na)
    {
        if (q.Length != na.Length) throw new ArgumentException($"{q.Length} query scores but {na.Length} calibration scores");
    }
}
