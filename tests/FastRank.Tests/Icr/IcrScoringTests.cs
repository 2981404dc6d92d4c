using FastRank.Ranking;

namespace FastRank.Tests.Icr;

/// <summary>The calibration arithmetic (METHODS.md section 3) and the chunk planner, on hand-made numbers.</summary>
public sealed class IcrScoringTests
{
    [Fact]
    public void MaskedCalibrationDropsTokensBelowMeanMinusTwoStd()
    {
        // c = q - na = [1, 1, 1, 1, 1, 1, 1, 1, 1, -20]: mean -1.1, std (N-1) 6.64, threshold -14.4: the -20 is dropped.
        float[] q = [2, 2, 2, 2, 2, 2, 2, 2, 2, 0];
        float[] na = [1, 1, 1, 1, 1, 1, 1, 1, 1, 20];
        Assert.Equal(9.0, IcrScoring.Masked(q, na), 1e-9);
        Assert.Equal(-11.0, IcrScoring.Unmasked(q, na), 1e-9);
        Assert.Equal(18.0, IcrScoring.Raw(q), 1e-9);
        Assert.Equal(9.0, IcrScoring.Score(IcrCalibration.Masked, q, na), 1e-9);
        Assert.Equal(18.0, IcrScoring.Score(IcrCalibration.None, q, na), 1e-9);
    }

    [Fact]
    public void MaskedCalibrationKeepsEveryTokenWhenNoneIsAnOutlier()
    {
        float[] q = [0.5f, 0.25f, 0.75f, 0.5f];
        float[] na = [0.1f, 0.1f, 0.1f, 0.1f];
        Assert.Equal(IcrScoring.Unmasked(q, na), IcrScoring.Masked(q, na), 1e-9);
    }

    [Fact]
    public void EdgeCasesAreDefined()
    {
        Assert.Equal(0.0, IcrScoring.Masked([], []));
        Assert.Equal(0.25, IcrScoring.Masked([0.5f], [0.25f]), 1e-9);
        // All c equal: std 0, threshold = mean, nothing is strictly above it (as in the reference implementation).
        Assert.Equal(0.0, IcrScoring.Masked([0.5f, 0.5f], [0.25f, 0.25f]));
        Assert.Throws<ArgumentException>(() => IcrScoring.Masked([1f], [1f, 2f]));
    }

    [Fact]
    public void ChunksAreRoundRobinAndWithinBudget()
    {
        int[] costs = [50, 10, 10, 10, 50, 10, 10, 10, 50, 10];
        Assert.Single(IcrChunking.Plan(costs, 1000, 1));
        var chunks = IcrChunking.Plan(costs, 100, 1);
        Assert.All(chunks, c => Assert.True(c.Sum(i => costs[i]) <= 100));
        Assert.Equal(Enumerable.Range(0, costs.Length), chunks.SelectMany(c => c).Order());
        for (int j = 0; j < chunks.Length; j++) Assert.All(chunks[j], i => Assert.Equal(j, i % chunks.Length));
        Assert.Equal(4, IcrChunking.Plan(costs, 1000, 4).Length);
        Assert.Empty(IcrChunking.Plan([], 10, 1));
        Assert.Throws<ArgumentException>(() => IcrChunking.Plan([11], 10, 1));
    }
}
