using System.Security.Cryptography;
using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Synthetic;

namespace FastRank.Tests.Synthetic;

public sealed class SyntheticModelTests
{
    [Fact]
    public void SameSeedGivesTheSameFileAndAnotherSeedDoesNot()
    {
        string a = TestModels.TempPath("a.gguf"), b = TestModels.TempPath("b.gguf"), c = TestModels.TempPath("c.gguf");
        var shape = ModelShape.Get("tiny");
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(shape, Seed: 5), a);
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(shape, Seed: 5), b);
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(shape, Seed: 6), c);
        Assert.Equal(Hash(a), Hash(b));
        Assert.NotEqual(Hash(a), Hash(c));
    }

    [Fact]
    public void TinyIsSmallEnoughForUnitTests() => Assert.InRange(new FileInfo(TestModels.Tiny).Length, 1, 5_000_000);

    [Fact]
    public void SmallHasTheBenchmarkShape()
    {
        var f = GgufReader.Read(TestModels.Small);
        Assert.Equal("qwen3", f.Architecture);
        Assert.Equal(8L, f.GetArchInteger("block_count"));
        Assert.Equal(512L, f.GetArchInteger("embedding_length"));
        Assert.Equal(8L, f.GetArchInteger("attention.head_count"));
        Assert.Equal(4L, f.GetArchInteger("attention.head_count_kv"));
        Assert.Equal(1536L, f.GetArchInteger("feed_forward_length"));
        Assert.Equal(151_936, f.GetArray("tokenizer.ggml.tokens")!.Count);
        Assert.Equal("qwen2", f.GetString("tokenizer.ggml.pre"));
        // Untied: the LM head is a tensor of its own beside the rank head.
        Assert.Contains(f.Tensors, t => t.Name == "output.weight");
        Assert.Contains(f.Tensors, t => t.Name == "cls.output.weight");
        Assert.Contains(f.Tensors, t => t.Name == "blk.0.attn_q_norm.weight");
        Assert.Contains(f.Tensors, t => t.Type == GgmlType.Q8_0);
        Assert.NotNull(f.GetString("tokenizer.chat_template"));
    }

    [Theory]
    [InlineData("qwen3-0.6b", 28, 1024, 16, 8, 3072, 151936)]
    [InlineData("llama-3.2-1b", 16, 2048, 32, 8, 8192, 128256)]
    [InlineData("mistral-7b", 32, 4096, 32, 8, 14336, 32768)]
    [InlineData("llama-3.1-8b", 32, 4096, 32, 8, 14336, 128256)]
    public void PresetsHaveTheRealModelsDimensions(string name, int layers, int embd, int heads, int kvHeads, int ff, int vocab)
    {
        var s = ModelShape.Get(name);
        Assert.Equal((layers, embd, heads, kvHeads, ff, vocab), (s.Layers, s.EmbeddingSize, s.Heads, s.KvHeads, s.FeedForward, s.VocabSize));
        Assert.Equal(vocab, SyntheticVocabulary.Build(vocab).Count);
        Assert.Equal(vocab, new SyntheticModelOptions(s).EffectiveShape.VocabSize);
    }

    [Fact]
    public void PresetWithCutDepthLoadsInLlamaCpp()
    {
        string path = TestModels.TempPath("qwen06.gguf");
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(ModelShape.Get("qwen3-0.6b"), Layers: 1, Quantization: "q8_0"), path);
        var f = GgufReader.Read(path);
        Assert.Equal(1L, f.GetArchInteger("block_count"));
        Assert.Equal(151936, f.GetArray("tokenizer.ggml.tokens")!.Count);
        using var model = LlamaModel.Load(path);
        Assert.Equal(151936, model.VocabSize);
        Assert.Equal(1024, model.EmbeddingSize);
        Assert.Equal(128, model.HeadDim);
    }

    [Fact]
    public void UnknownShapeIsAnArgumentError() => Assert.Throws<ArgumentException>(() => ModelShape.Get("huge"));

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
