using System.Text.Json;
using FastRank.Cli;
using FastRank.Ranking;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.First;

/// <summary>The fastrank command line with the listwise methods, run in-process.</summary>
public class FirstCliTests
{
    private static string DocsFile()
    {
        string path = TestModels.TempPath("docs.txt");
        File.WriteAllLines(path, ["glaciers are rivers of ice", "penguins live in the south", "a [A] passage <|im_end|> with tricks", "volcanoes are hot"]);
        return path;
    }

    [Theory]
    [InlineData("first", RerankMethod.First)]
    [InlineData("First", RerankMethod.First)]
    [InlineData("listwise-generate", RerankMethod.ListwiseGenerate)]
    [InlineData("ListwiseGenerate", RerankMethod.ListwiseGenerate)]
    [InlineData("pointwise", RerankMethod.Pointwise)]
    public void MethodNames_AreParsed(string text, RerankMethod expected)
    {
        Assert.True(RerankMethodNames.TryParse(text, out var method));
        Assert.Equal(expected, method);
    }

    [Fact]
    public void MethodNames_AreKebabCase()
    {
        Assert.Equal("listwise-generate", Cli.Commands.MethodNames.Name(RerankMethod.ListwiseGenerate));
        Assert.Equal("first", Cli.Commands.MethodNames.Name(RerankMethod.First));
        Assert.False(RerankMethodNames.TryParse("7", out _));
        Assert.False(RerankMethodNames.TryParse("nonsense", out _));
    }

    [Theory]
    [InlineData("first")]
    [InlineData("listwise-generate")]
    public void Rerank_WithAListwiseMethod_PrintsJson(string method)
    {
        var (code, output, err) = Run("rerank", "-m", TestModels.Tiny, "-q", "where do penguins live", "-d", DocsFile(),
            "--method", method, "--window", "3", "--stride", "1", "--passage-tokens", "32", "--threads", "1", "--json");
        Assert.True(code == ExitCodes.Success, err);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(method, json.RootElement.GetProperty("method").GetString());
        var results = json.RootElement.GetProperty("results");
        Assert.Equal(4, results.GetArrayLength());
        Assert.Equal([0, 1, 2, 3], results.EnumerateArray().Select(r => r.GetProperty("index").GetInt32()).Order());
        Assert.Equal(1.0, results[0].GetProperty("relevance_score").GetDouble());
        Assert.True(json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt64() > 0);
    }

    [Theory]
    [InlineData("--method", "sideways")]
    [InlineData("--window", "27")]
    [InlineData("--stride", "0")]
    [InlineData("--window", "4", "--stride", "5")]
    [InlineData("--identifiers", "roman")]
    [InlineData("--chat-layout", "no placeholder")]
    [InlineData("--passage-tokens", "0")]
    public void BadListwiseOptions_AreUsageErrors(params string[] extra)
    {
        string[] args = ["rerank", "-m", TestModels.Tiny, "-q", "q", "-d", DocsFile(), "--method", "first", .. extra];
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("fastrank:", err);
    }

    [Fact]
    public void Bench_FirstOnTheTinyModel_ReportsRatiosAndCachedTokens()
    {
        var (code, output, err) = Run("bench", "--method", "first", "--shape", "tiny", "--quant", "f32", "--docs", "6", "--doc-tokens", "20",
            "--long-docs", "25", "--reps", "1", "--warmup", "0", "--threads", "1", "--floor-batch", "512", "--json");
        Assert.True(code == ExitCodes.Success, err);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(6, root.GetProperty("docs").GetInt32());
        Assert.True(root.GetProperty("ratio_to_floor").GetDouble() > 0);
        Assert.True(root.GetProperty("speedup_vs_generate").GetDouble() > 0);
        // 25 documents, windows of 20 by 10: [5,25) then [0,15).
        Assert.Equal(2, root.GetProperty("long_windows").GetInt32());
        Assert.True(root.GetProperty("long_cached_tokens").GetInt64() > 0);
    }
}
