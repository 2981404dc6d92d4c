using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Synthetic;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Icr;

/// <summary>The constructed match model: its file, its vocabulary, and attention that follows repeated tokens.</summary>
public sealed class MatchModelTests
{
    [Fact]
    public void SynthCommandWritesTheMatchModel()
    {
        string path = TestModels.TempPath("match.gguf");
        var (code, _, stderr) = Run("synth", "--shape", "match", "--seed", "7", "--out", path);
        Assert.True(code == 0, stderr);
        var gguf = GgufReader.Read(path);
        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal(2, gguf.GetArchInteger("block_count"));
        Assert.Equal(256, gguf.GetArchInteger("embedding_length"));
        Assert.Contains("constructed", gguf.GetString("general.description"), StringComparison.Ordinal);
        Assert.Contains(gguf.Tensors, t => t.Name == "blk.1.attn_q.weight");
        Assert.DoesNotContain(gguf.Tensors, t => t.Name == "output.weight");
        // Same seed (TestModels uses 7), same bytes.
        Assert.Equal(File.ReadAllBytes(IcrTestData.MatchModel), File.ReadAllBytes(path));
        File.Delete(path);
    }

    [Fact]
    public void QuantizedMatchModelLoads()
    {
        string path = TestModels.Get(MatchModel.ShapeName, "q8_0");
        using var model = LlamaModel.Load(path);
        Assert.Equal(2, model.LayerCount);
    }

    [Fact]
    public void AttentionFromARepeatedTokenGoesToItsEarlierOccurrence()
    {
        using var model = LlamaModel.Load(IcrTestData.MatchModel);
        Assert.True(IcrTestData.AllSingleTokens(model, ["penguin"]));
        int penguin = model.TokenizeText(" penguin")[0];
        var filler = model.TokenizeText(" " + IcrTestData.Filler(1, 300, seed: 8)[0]);
        int at = 50;
        int[] prompt = [model.Bos, .. filler[..at], penguin, .. filler[at..], penguin];
        // The last token's attention, summed over the 2 layers x 4 heads (8 units in all).
        double[] s = QkReference.TokenScores(model, prompt, prompt.Length - 1);
        double share = s[at + 1] / (model.LayerCount * model.HeadCount);
        double other = s.Where((_, i) => i != at + 1).Max() / (model.LayerCount * model.HeadCount);
        // The rest of the weight goes to the token itself (it matches too).
        Assert.True(share > 0.4, $"the earlier occurrence got {share:P1} of the attention");
        Assert.True(other < 0.05, $"another position got {other:P1}");
    }
}
