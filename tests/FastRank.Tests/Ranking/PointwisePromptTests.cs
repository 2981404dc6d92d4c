using FastRank.Engine;
using FastRank.Prompts;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.Ranking;

public sealed class PointwisePromptTests
{
    [Fact]
    public void ModelWithoutSingleTokenYesNoIsRejectedAtLoad()
    {
        string path = TestModels.TempPath("noyes.gguf");
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(ModelShape.Get("tiny"))
        {
            ExcludedPieces = new HashSet<string> { "yes", "\u2581yes", "ye", "\u2581ye", "no", "\u2581no" },
        }, path);
        var ex = Assert.Throws<ModelNotSupportedException>(() => Reranker.Load(path));
        Assert.Contains("yes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void QwenShapedModelUsesItsGgufRerankTemplate()
    {
        using var ranker = Reranker.Load(TestModels.Small);
        Assert.Equal("gguf:rerank", ranker.Pointwise.TemplateSource);
    }

    [Fact]
    public void CustomInstructionUsesTheBuiltInLayoutAndChangesThePrompt()
    {
        using var standard = Reranker.Load(TestModels.Tiny);
        using var custom = Reranker.Load(TestModels.Tiny, new RerankerOptions { Instruction = "Find recipes" });
        Assert.Equal("builtin:qwen3-reranker", custom.Pointwise.TemplateSource);
        var a = standard.Pointwise.BuildPrompt("q", ["d"], standard.Options).Prefix;
        var b = custom.Pointwise.BuildPrompt("q", ["d"], custom.Options).Prefix;
        Assert.NotEqual(a, b);
        Assert.Contains("Find recipes", custom.Model.Detokenize(b), StringComparison.Ordinal);
    }

    [Fact]
    public void UserTemplateIsUsed()
    {
        const string template = "<|im_start|>user\nQuery: {query}\nDoc: {document}<|im_end|>\n<|im_start|>assistant\n";
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { PromptTemplate = template });
        Assert.Equal("user", ranker.Pointwise.TemplateSource);
        var prompt = ranker.Pointwise.BuildPrompt("what", ["this"], ranker.Options);
        string text = ranker.Model.Detokenize([.. prompt.Prefix, .. prompt.Suffixes[0]]);
        string bos = ranker.Model.AddBos ? ranker.Model.TokenPiece(ranker.Model.Bos) : "";
        Assert.Equal(bos + "<|im_start|>user\nQuery: what\nDoc: this<|im_end|>\n<|im_start|>assistant\n", text);
        Assert.Single(ranker.Rerank("what", ["this"]));
    }

    [Theory]
    [InlineData("no placeholders at all")]
    [InlineData("{document} before {query}")]
    [InlineData("{query} twice {query} {document}")]
    [InlineData("{query} {document}")] // nothing after the document to read the answer at
    public void BadUserTemplatesAreArgumentErrors(string template) =>
        Assert.Throws<ArgumentException>(() => Reranker.Load(TestModels.Tiny, new RerankerOptions { PromptTemplate = template }));

    [Fact]
    public void BracesThatAreNotPlaceholdersStayLiteral()
    {
        var t = PromptTemplate.Parse("{\"json\": 1} {query} {other} {document}!", ["query", "document"], ["query", "document"]);
        Assert.Equal(5, t.Parts.Count);
        Assert.Equal("{\"json\": 1} ", t.Parts[0].Text);
        Assert.Equal(" {other} ", t.Parts[2].Text);
    }

    [Fact]
    public void QueryLongerThanItsBudgetIsTruncated()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { MaxQueryTokens = 8 });
        var result = ranker.Rerank(string.Join(' ', Enumerable.Repeat("long query words", 50)), ["doc"]);
        Assert.True(result.Usage.TruncatedQuery);
        Assert.Single(result);
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Reranker.Load(TestModels.Tiny, new RerankerOptions { MaxDocumentTokens = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Reranker.Load(TestModels.Tiny, new RerankerOptions { ParallelSequences = -1 }));
    }

    [Fact]
    public void MissingModelIsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => Reranker.Load(TestModels.TempPath("missing.gguf")));

    [Fact]
    public void ModelReportsItsShape()
    {
        using var model = LlamaModel.Load(TestModels.Small);
        Assert.Equal(8, model.LayerCount);
        Assert.Equal(4, model.KvHeadCount);
        Assert.Equal(64, model.HeadDim);
        Assert.Equal(8L * 4 * (64 + 64) * 2, model.KvBytesPerCell);
        // The model pool's bound from the GGUF header alone (before llama.cpp loads the file) agrees with the loaded model.
        var options = new RerankerOptions { ParallelSequences = 3, MaxDocumentTokens = 100 };
        Assert.Equal(3L * 100 * model.KvBytesPerCell, FastRank.Models.ModelPool.KvLowerBound(TestModels.Small, options));
    }
}
