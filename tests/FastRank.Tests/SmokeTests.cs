namespace FastRank.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void VersionIsSet() => Assert.False(string.IsNullOrEmpty(FastRankInfo.Version));
}
