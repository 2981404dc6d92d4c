using FastRank.Evaluation.Metrics;

namespace FastRank.Tests.Evaluation;

/// <summary>The paired t-test against closed forms, the randomization test against full enumeration.</summary>
public sealed class SignificanceTests
{
    private static Dictionary<string, double> Values(params double[] v) =>
        v.Select((x, i) => (x, i)).ToDictionary(p => $"q{p.i:D3}", p => p.x);

    [Fact]
    public void PairedTTestMatchesTheClosedFormForTwoDegreesOfFreedom()
    {
        // Differences 0.1, 0.2, 0.3: mean 0.2, sd 0.1, t = 0.2 / (0.1 / sqrt 3) = sqrt 12; for 2 degrees of freedom the
        // two-sided p is 1 - t / sqrt(2 + t^2) = 1 - sqrt(12/14).
        var a = Values(0.5, 0.4, 0.1);
        var b = Values(0.6, 0.6, 0.4);
        var c = Significance.Compare(a, b);
        Assert.Equal(3, c.Queries);
        Assert.Equal(0.2, c.MeanDifference, 12);
        Assert.Equal(Math.Sqrt(12), c.TStatistic, 9);
        Assert.Equal(1 - Math.Sqrt(12.0 / 14), c.TTestP, 9);
        // Exact randomization: 8 sign assignments; |sum| >= 0.6 only for all-plus and all-minus: p = 2/8.
        Assert.Equal(0.25, c.RandomizationP, 12);
        Assert.Equal(0, c.Permutations);
    }

    [Fact]
    public void PairedTTestMatchesTheClosedFormForOneDegreeOfFreedom()
    {
        // n = 2: Student's t with 1 degree of freedom is Cauchy: p = 1 - 2 atan(|t|) / pi.
        var c = Significance.Compare(Values(0, 0), Values(1, 3));
        double t = 2 / (Math.Sqrt(2) / Math.Sqrt(2));
        Assert.Equal(t, c.TStatistic, 12);
        Assert.Equal(1 - 2 * Math.Atan(t) / Math.PI, c.TTestP, 9);
    }

    [Fact]
    public void SampledRandomizationAgreesWithEnumerationAndIsReproducible()
    {
        var random = new Random(5);
        var a = Values([.. Enumerable.Range(0, 16).Select(_ => random.NextDouble())]);
        var b = a.ToDictionary(x => x.Key, x => x.Value + 0.08 * (random.NextDouble() - 0.3));
        var exact = Significance.Compare(a, b);
        Assert.Equal(0, exact.Permutations);
        // 17 queries are sampled; adding a zero difference does not change any sign-flip sum, so the exact p is the same.
        var a17 = new Dictionary<string, double>(a) { ["q999"] = 0.5 };
        var b17 = new Dictionary<string, double>(b) { ["q999"] = 0.5 };
        var sampled = Significance.Compare(a17, b17, permutations: 20_000);
        Assert.Equal(20_000, sampled.Permutations);
        // Binomial standard error of p at 20,000 draws is below 0.0036; allow four of them.
        Assert.InRange(sampled.RandomizationP, exact.RandomizationP - 0.015, exact.RandomizationP + 0.015);
        Assert.Equal(sampled.RandomizationP, Significance.Compare(a17, b17, permutations: 20_000).RandomizationP);
    }

    [Fact]
    public void IdenticalRunsGiveNoStatisticAndPOfOne()
    {
        var a = Values(0.1, 0.5, 0.9);
        var c = Significance.Compare(a, a);
        Assert.Equal(0, c.MeanDifference);
        Assert.True(double.IsNaN(c.TStatistic));
        Assert.Equal(1, c.RandomizationP);
    }
}
