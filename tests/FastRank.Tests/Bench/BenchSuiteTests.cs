using System.Text.Json;
using FastRank.Cli.Commands;
using FastRank.Ranking;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Bench;

/// <summary><c>fastrank bench</c>: the suite (several methods, sweeps, report folder) and the pointwise JSON, run in-process on small workloads.</summary>
public sealed class BenchSuiteTests
{
    [Fact]
    public void SuiteOfEveryMethodWritesTheReportFolder()
    {
        string dir = TestModels.TempPath("report");
        var (code, stdout, stderr) = Run("bench", "-m", TestModels.Small, "--method", "all", "--sweep-docs", "2", "3", "--doc-tokens", "16",
            "--sweep-doc-tokens", "8", "--docs", "2", "--reps", "1", "--warmup", "0", "--floor-rounds", "1", "--floor-in-flight", "4",
            "--floor-batch", "512", "--llamasharp-context", "1024", "--threads", "2", "--report", dir, "--no-targets", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        var points = root.GetProperty("points").EnumerateArray().ToList();
        // 3 methods x {2x16, 3x16, 2x8}.
        Assert.Equal(9, points.Count);
        foreach (var p in points)
        {
            Assert.True(p.GetProperty("fastrank").GetProperty("p50_ms").GetDouble() > 0);
            Assert.True(p.GetProperty("floor").GetProperty("p50_ms").GetDouble() > 0);
            Assert.True(p.GetProperty("ratio_to_floor").GetProperty("median").GetDouble() > 0);
            Assert.True(p.GetProperty("unique_tokens").GetInt64() > 0);
            var names = p.GetProperty("baselines").EnumerateArray().Select(b => b.GetProperty("name").GetString()).ToList();
            string method = p.GetProperty("method").GetString()!;
            Assert.Equal(method == "pointwise" ? ["naive", "llamasharp-reranker"] : ["listwise-generate"], names);
        }
        Assert.Contains("AVX", root.GetProperty("machine").GetProperty("simd").GetString() + "AVX", StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(root.GetProperty("machine").GetProperty("kernels").GetString()));

        string md = File.ReadAllText(Path.Combine(dir, "README.md"));
        Assert.Contains("## Scaling with the number of documents", md, StringComparison.Ordinal);
        Assert.Contains("## Scaling with document length", md, StringComparison.Ordinal);
        Assert.Contains("llamasharp-reranker", md, StringComparison.Ordinal);
        foreach (string png in (string[])["latency-vs-documents.png", "latency-vs-doc-tokens.png"])
        {
            byte[] head = File.ReadAllBytes(Path.Combine(dir, png))[..8];
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, head);
        }
        using var saved = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        Assert.Equal(9, saved.RootElement.GetProperty("points").GetArrayLength());
    }

    [Fact]
    public void PointwiseJsonKeepsTheFieldsOfIssue2AndAddsLlamaSharp()
    {
        var (code, stdout, stderr) = Run("bench", "-m", TestModels.Small, "--docs", "3", "--doc-tokens", "16", "--prefix-tokens", "40",
            "--reps", "1", "--warmup", "0", "--floor-in-flight", "4", "--llamasharp-context", "1024", "--threads", "2", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("pointwise", root.GetProperty("method").GetString());
        foreach (string key in (string[])["fastrank_ms", "floor_ms", "naive_ms", "ratio_to_floor", "speedup_vs_naive", "peak_rss_mb", "llamasharp_ms", "speedup_vs_llamasharp"])
            Assert.True(root.GetProperty(key).GetDouble() > 0, key);
        foreach (string key in (string[])["docs", "prefix_tokens", "doc_tokens"])
            Assert.True(root.GetProperty(key).GetInt32() > 0, key);
        Assert.True(root.GetProperty("llamasharp_tokens").GetInt64() > 0);
    }

    [Fact]
    public void PointwiseOnAModelWithoutRankHeadSaysWhyLlamaSharpDidNotRun()
    {
        var (code, stdout, stderr) = Run("bench", "-m", TestModels.Tiny, "--docs", "2", "--doc-tokens", "8", "--prefix-tokens", "40",
            "--reps", "1", "--warmup", "0", "--floor-in-flight", "4", "--threads", "1", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(JsonValueKind.String, json.RootElement.GetProperty("speedup_vs_llamasharp").ValueKind); // "NaN"
        Assert.StartsWith("not run", json.RootElement.GetProperty("llamasharp_setting").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("all", "pointwise,first,icr")]
    [InlineData("first,icr", "first,icr")]
    [InlineData("listwise-generate", "first")]
    [InlineData("icr,icr", "icr")]
    public void MethodListsParse(string text, string expected) =>
        Assert.Equal(expected, string.Join(',', BenchCommand.ParseMethods([text]).Select(RerankMethodNames.Name)));

    [Theory]
    [InlineData("--method", "bogus")]
    [InlineData("--sweep-docs", "0")]
    [InlineData("--floor-rounds", "0")]
    [InlineData("--llamasharp-context", "10")]
    public void BadOptionsAreUsageErrors(string option, string value)
    {
        var (code, _, stderr) = Run("bench", "-m", TestModels.Tiny, option, value);
        Assert.Equal(2, code);
        Assert.Contains("fastrank:", stderr, StringComparison.Ordinal);
    }
}
