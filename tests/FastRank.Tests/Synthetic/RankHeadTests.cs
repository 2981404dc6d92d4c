using System.Runtime.InteropServices;
using FastRank.Cli.Bench;
using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Synthetic;

namespace FastRank.Tests.Synthetic;

/// <summary>
/// The rank head of synthetic qwen3 models, as llama.cpp's converter writes it for Qwen3 rerankers: pooling RANK,
/// labels yes/no, <c>cls.output.weight</c> made of the output head's yes/no rows. LLamaSharp's LLamaReranker runs on it.
/// </summary>
public sealed class RankHeadTests
{
    private static readonly Lazy<string> SmallF32 = new(() =>
    {
        // The invented vocabulary keeps this f32 file at 80 MB (Qwen3's would make it 635 MB); RealVocabularyTests checks
        // the head built from the real vocabulary's yes/no rows.
        string path = TestModels.TempPath("small-1layer.gguf");
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(ModelShape.Get("small"), Seed: 9, Layers: 1, Vocabulary: VocabularyFamily.Synthetic), path);
        return path;
    });

    [Fact]
    public void Qwen3ModelsCarryTheYesNoRowsOfTheOutputHead()
    {
        string path = SmallF32.Value;
        var f = GgufReader.Read(path);
        Assert.Equal(4L, f.GetArchInteger("pooling_type"));
        Assert.Equal(["yes", "no"], f.GetArray("qwen3.classifier.output_labels")!.Values.Cast<string>());
        var head = f.Tensors.Single(t => t.Name == "cls.output.weight");
        var output = f.Tensors.Single(t => t.Name == "output.weight");
        Assert.Equal([512L, 2L], head.Dimensions);
        Assert.Equal(GgmlType.F32, head.Type);

        var tokens = f.GetArray("tokenizer.ggml.tokens")!.Values.Cast<string>().ToList();
        byte[] bytes = File.ReadAllBytes(path);
        float[] Row(GgufTensorInfo t, int row) =>
            MemoryMarshal.Cast<byte, float>(bytes.AsSpan((int)(f.DataOffset + t.Offset + (row * 512L * 4)), 512 * 4)).ToArray();
        Assert.Equal(Row(output, tokens.IndexOf("yes")), Row(head, 0));
        Assert.Equal(Row(output, tokens.IndexOf("no")), Row(head, 1));
        Assert.NotEqual(Row(head, 0), Row(head, 1));
    }

    [Fact]
    public void TheLlamaArchitectureGetsNoHead()
    {
        var f = GgufReader.Read(TestModels.Tiny);
        Assert.Null(f.GetArchInteger("pooling_type"));
        Assert.DoesNotContain(f.Tensors, t => t.Name.StartsWith("cls.", StringComparison.Ordinal));
        Assert.NotNull(LlamaSharpRerankerBaseline.Unsupported(f));
    }

    [Fact]
    public void LlamaSharpRerankerScoresAreTheSoftmaxOfTheYesNoLogits()
    {
        // LLamaReranker decodes query tokens + document tokens and reads llama.cpp's RANK pooling of the head: the
        // softmax of the yes and no logits of the last token, i.e. sigmoid(yes - no) of a plain decode of the same tokens.
        using var model = LlamaModel.Load(SmallF32.Value);
        Assert.Null(LlamaSharpRerankerBaseline.Unsupported(model.Header));
        string query = "where does the river meet the sea";
        string[] docs = ["the river meets the sea near the old harbour town", "a volcano rises above the plain", "bread and salt"];
        using var reranker = LlamaSharpRerankerBaseline.Create(model, 1024, 64, docs.Length, 2);
        var scores = reranker.Score(query, docs);
        Assert.Equal(docs.Length, scores.Count);

        int yes = model.FindSingleToken("yes")!.Value, no = model.FindSingleToken("no")!.Value;
        using var ctx = new InferenceContext(model, new ContextConfig(1, 256, 256, 256, false, 2));
        for (int i = 0; i < docs.Length; i++)
        {
            int[] tokens = [.. model.TokenizeText(query), .. model.TokenizeText(docs[i])];
            Assert.Equal(tokens.Length, (int)reranker.Tokens(query, [docs[i]]));
            ctx.ClearAll();
            double diff = double.NaN;
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, tokens, 0, true)], (_, o) => diff = (double)o.Logits[yes] - o.Logits[no], default);
            double expected = 1 / (1 + Math.Exp(-diff));
            // Flash attention on (LLamaReranker) against off here, f32 weights: the difference is rounding.
            Assert.InRange(scores[i], expected - 0.02, expected + 0.02);
        }
    }
}
