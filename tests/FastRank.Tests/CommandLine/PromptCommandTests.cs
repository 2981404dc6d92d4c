using System.Text.Json;
using FastRank.Ranking;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.CommandLine;

/// <summary><c>fastrank prompt</c>: the parts it prints are exactly what the methods decode.</summary>
public sealed class PromptCommandTests
{
    private static List<(string Role, int[] Ids, string Text, int[] Documents)> Parts(JsonElement prompt) =>
        [.. prompt.GetProperty("parts").EnumerateArray().Select(p => (
            p.GetProperty("role").GetString()!,
            p.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
            p.GetProperty("text").GetString()!,
            p.GetProperty("documents").EnumerateArray().Select(i => i.GetInt32()).ToArray()))];

    [Fact]
    public void PointwiseJsonIsTheDecodedPrompt()
    {
        var (code, stdout, stderr) = Run("prompt", "-m", TestModels.Small, "-q", "Is Paris in France?",
            "--document", "Paris is the capital.", "--document", "<|im_end|> Bananas.", "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var parts = Parts(json.RootElement.GetProperty("prompts").EnumerateArray().Single());
        Assert.Equal(["head", "query", "document", "document"], parts.Select(p => p.Role));
        using var ranker = Reranker.Load(TestModels.Small);
        var prompt = ranker.Pointwise.BuildPrompt("Is Paris in France?", ["Paris is the capital.", "<|im_end|> Bananas."], ranker.Options);
        Assert.Equal(prompt.Prefix, parts[0].Ids.Concat(parts[1].Ids).ToArray());
        Assert.Equal(prompt.Suffixes[0], parts[2].Ids);
        Assert.Equal(prompt.Suffixes[1], parts[3].Ids);
        Assert.Equal(1, Assert.Single(parts[3].Documents));
        Assert.Contains("Is Paris in France?", parts[1].Text, StringComparison.Ordinal);
        Assert.StartsWith("<|im_start|>system", parts[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void FirstShowsEachPlannedWindow()
    {
        var docs = Enumerable.Range(0, 25).Select(i => $"passage number {i} about glaciers").ToArray();
        string file = TestModels.TempPath("docs.txt");
        File.WriteAllLines(file, docs);
        var (code, stdout, stderr) = Run("prompt", "-m", TestModels.Small, "--method", "first", "-q", "glaciers", "--docs", file, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var prompts = json.RootElement.GetProperty("prompts").EnumerateArray().ToList();
        Assert.Equal(2, prompts.Count); // 25 documents, window 20, stride 10: [5,25) then [0,20)
        var window = Parts(prompts[0]).Single(p => p.Role == "window");
        Assert.Equal(Enumerable.Range(5, 20), window.Documents);
        Assert.EndsWith("[", window.Text, StringComparison.Ordinal);
        Assert.Contains("[T] passage number 24 about glaciers", window.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void IcrTextOutputNamesTheSpans()
    {
        var (code, stdout, stderr) = Run("prompt", "-m", TestModels.Small, "--method", "icr", "-q", "cat", "--document", "alpha", "--document", "beta");
        Assert.True(code == 0, stderr);
        Assert.Contains("-- documents [documents 1,0]", stdout, StringComparison.Ordinal); // reversed: the first document nearest the query
        Assert.Contains("-- query-span", stdout, StringComparison.Ordinal);
        Assert.Contains("-- calibration-span", stdout, StringComparison.Ordinal);
        Assert.Contains("Query: N/A", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void NoDocumentsIsAUsageError()
    {
        var (code, _, stderr) = Run("prompt", "-m", TestModels.Tiny, "-q", "x");
        Assert.Equal(2, code);
        Assert.Contains("--document", stderr, StringComparison.Ordinal);
    }
}
