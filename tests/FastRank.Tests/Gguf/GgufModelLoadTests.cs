using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Ranking;

namespace FastRank.Tests.Gguf;

public sealed class GgufModelLoadTests
{
    [Fact]
    public void SyntheticModelRoundTripsThroughReaderAndLlamaCpp()
    {
        var header = GgufReader.Read(TestModels.Tiny);
        Assert.Equal("llama", header.Architecture);
        using var model = LlamaModel.Load(TestModels.Tiny);
        Assert.Equal((int)header.GetArchInteger("block_count")!, model.LayerCount);
        Assert.Equal(header.GetArray("tokenizer.ggml.tokens")!.Count, model.VocabSize);
    }

    [Fact]
    public void CorruptModelIsRejectedBeforeLlamaCpp()
    {
        string path = TestModels.TempPath("corrupt.gguf");
        byte[] bytes = File.ReadAllBytes(TestModels.Tiny);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var ex = Assert.Throws<GgufFormatException>(() => Reranker.Load(path));
        Assert.Equal(path, ex.FilePath);
    }

    [Fact]
    public void NonGgufFileIsRejected()
    {
        string path = TestModels.TempPath("text.gguf");
        File.WriteAllText(path, "this is not a model, just some text long enough to hold a header");
        Assert.Throws<GgufFormatException>(() => Reranker.Load(path));
    }

    [Fact]
    public void UnknownArchitectureIsATypedLoadError()
    {
        string path = TestModels.TempPath("arch.gguf");
        var w = new GgufWriter();
        w.Add("general.architecture", "no-such-architecture");
        w.AddTensor("x.weight", [4], [1f, 2f, 3f, 4f]);
        w.Write(path);
        Assert.Throws<ModelLoadException>(() => Reranker.Load(path));
    }
}
