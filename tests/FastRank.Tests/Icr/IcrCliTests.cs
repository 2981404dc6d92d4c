using System.Text.Json;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Icr;

/// <summary><c>fastrank rerank --method icr</c> and <c>fastrank bench --method icr</c>, run in-process.</summary>
public sealed class IcrCliTests
{
    [Theory]
    [InlineData("masked")]
    [InlineData("none")]
    public void RerankWithIcrPutsTheMatchingDocumentFirst(string calibration)
    {
        string docs = TestModels.TempPath("docs.txt");
        var lines = IcrTestData.Filler(6, 25, seed: 31);
        lines[4] += " saxophone cathedral orchid";
        File.WriteAllLines(docs, lines);
        var (code, stdout, stderr) = Run("rerank", "-m", IcrTestData.MatchModel, "-q", "saxophone cathedral orchid", "-d", docs,
            "--method", "icr", "--icr-calibration", calibration, "--icr-max-context", "1024", "--threads", "1", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("icr", json.RootElement.GetProperty("method").GetString());
        var results = json.RootElement.GetProperty("results");
        Assert.Equal(6, results.GetArrayLength());
        Assert.Equal(4, results[0].GetProperty("index").GetInt32());
    }

    [Fact]
    public void BadIcrOptionsAreUsageErrors()
    {
        string docs = TestModels.TempPath("docs.txt");
        File.WriteAllLines(docs, ["a", "b"]);
        var (code, _, stderr) = Run("rerank", "-m", IcrTestData.MatchModel, "-q", "x", "-d", docs, "--method", "icr", "--icr-max-context", "10");
        Assert.Equal(2, code);
        Assert.Contains("--icr-max-context", stderr, StringComparison.Ordinal);
        (code, _, _) = Run("rerank", "-m", IcrTestData.MatchModel, "-q", "x", "-d", docs, "--method", "icr", "--icr-calibration", "sometimes");
        Assert.Equal(2, code);
    }

    [Fact]
    public void BenchWithIcrReportsRatiosToTheFloor()
    {
        var (code, stdout, stderr) = Run("bench", "--method", "icr", "-m", IcrTestData.MatchModel, "--docs", "4", "--doc-tokens", "16",
            "--reps", "1", "--warmup", "0", "--threads", "1", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("icr", root.GetProperty("method").GetString());
        Assert.Equal(1, root.GetProperty("chunks").GetInt32());
        foreach (string key in (string[])["ratio_to_floor", "calibrated_over_uncalibrated", "readout_cost", "cpu_ratio_to_floor"])
            Assert.True(root.GetProperty(key).GetDouble() > 0, key);
    }
}
