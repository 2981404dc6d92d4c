namespace FastRank.Cli.Bench;

/// <summary>Median, min and max of a list of measurements.</summary>
internal readonly record struct Stat(double Median, double Min, double Max, double P95)
{
    public static Stat Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new Stat(double.NaN, double.NaN, double.NaN, double.NaN);
        var s = values.Order().ToArray();
        double median = s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        double p95 = s[Math.Min(s.Length - 1, (int)Math.Ceiling(0.95 * s.Length) - 1)];
        return new Stat(median, s[0], s[^1], p95);
    }
}
