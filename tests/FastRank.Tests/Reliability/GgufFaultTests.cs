using FastRank.Fuzz;
using FastRank.Gguf;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.Reliability;

/// <summary>
/// Each fault llama.cpp would abort the process on (docs/readme/reliability-gguf.md) raised as a
/// <see cref="GgufModelException"/> of its kind, on the load path, before llama.cpp sees the file.
/// </summary>
public sealed class GgufFaultTests
{
    private static readonly Lazy<GgufFile> Micro = new(() => GgufReader.Read(new MemoryStream(FuzzSeeds.Bytes("micro-llama"))));
    private static readonly Lazy<GgufFile> MicroQwen3 = new(() => GgufReader.Read(new MemoryStream(FuzzSeeds.Bytes("micro-qwen3"))));

    [Fact]
    public void ShippedShapesAndRealVocabulariesPass()
    {
        GgufModelValidator.Validate(Micro.Value);
        GgufModelValidator.Validate(MicroQwen3.Value);
        GgufModelValidator.Validate(GgufReader.Read(TestModels.Tiny));
        // Real vocabularies as llama.cpp's converter writes them: byte-level BPE with 151,936 / 128,256 entries and
        // their merges (every merge's pieces are tokens; every byte has its token).
        GgufModelValidator.Validate(GgufReader.Read(TestModels.Get("tiny", "f32", vocab: VocabularyFamily.Qwen3)));
        GgufModelValidator.Validate(GgufReader.Read(TestModels.Get("tiny", "f32", vocab: VocabularyFamily.Llama3)));
    }

    public static TheoryData<string, GgufModelProblem> Faults() => new()
    {
        { "duplicate-token", GgufModelProblem.DuplicateToken },
        { "empty-token-collides", GgufModelProblem.DuplicateToken },
        { "nul-token-collides", GgufModelProblem.DuplicateToken },
        { "nul-in-tokenizer-model", GgufModelProblem.MetadataString },
        { "empty-string-value", GgufModelProblem.MetadataString },
        { "missing-byte-token", GgufModelProblem.MissingByteToken },
        { "short-scores", GgufModelProblem.TokenArrayLength },
        { "token-type-f32", GgufModelProblem.TokenArrayLength },
        { "bos-out-of-range", GgufModelProblem.SpecialToken },
        { "tokens-not-strings", GgufModelProblem.Vocabulary },
        { "zero-layers", GgufModelProblem.HyperParameter },
        { "too-many-layers", GgufModelProblem.HyperParameter },
        { "rope-scaling-unknown", GgufModelProblem.HyperParameter },
        { "experts-without-used", GgufModelProblem.HyperParameter },
        { "kv-heads-not-dividing", GgufModelProblem.HyperParameter },
        { "per-layer-array-short", GgufModelProblem.HyperParameter },
        { "qwen3-rope-dims", GgufModelProblem.HyperParameter },
        { "qwen3-value-length", GgufModelProblem.HyperParameter },
        { "i32-matrix", GgufModelProblem.TensorType },
        { "quantized-norm", GgufModelProblem.TensorType },
        { "embedding-shape", GgufModelProblem.TensorShape },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public void SemanticFaultIsTyped(string fault, GgufModelProblem kind)
    {
        byte[] bytes = Make(fault);
        var file = GgufReader.Read(new MemoryStream(bytes)); // structurally valid: the reader accepts it
        var ex = Assert.Throws<GgufModelException>(() => GgufModelValidator.Validate(file));
        Assert.Equal(kind, ex.Kind);
        Assert.False(string.IsNullOrWhiteSpace(ex.Problem));
    }

    [Fact]
    public void RerankerLoadRaisesTheValidatorsException()
    {
        string path = TestModels.TempPath("dup.gguf");
        File.WriteAllBytes(path, Make("duplicate-token"));
        var ex = Assert.Throws<GgufModelException>(() => Reranker.Load(path));
        Assert.Equal(GgufModelProblem.DuplicateToken, ex.Kind);
        Assert.Equal(path, ex.FilePath);
        Assert.True(ex.Offset > 0, "the offset names the vocabulary entry");
    }

    [Fact]
    public void NulInsideATokenIsReadAsLlamaCppReadsIt()
    {
        var ex = Assert.Throws<GgufModelException>(() => GgufModelValidator.Validate(GgufReader.Read(new MemoryStream(Make("nul-token-collides")))));
        Assert.Contains("entries 400 and 500", ex.Problem, StringComparison.Ordinal);
        Assert.Contains("up to a NUL byte", ex.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void RerankerLoadRefusesAnEmptyMetadataValueWithItsName()
    {
        // Without the rule: ModelLoadException "Value cannot be null. (Parameter 'bytes')" from LLamaSharp's metadata reader.
        string path = TestModels.TempPath("empty-name.gguf");
        File.WriteAllBytes(path, Make("empty-string-value"));
        var ex = Assert.Throws<GgufModelException>(() => Reranker.Load(path));
        Assert.Equal(GgufModelProblem.MetadataString, ex.Kind);
        Assert.Contains("general.name", ex.Problem, StringComparison.Ordinal);
    }

    // Rewrites the micro model with one fault (the reader's own view of the file, changed, written again).
    private static byte[] Make(string fault)
    {
        var src = fault.StartsWith("qwen3", StringComparison.Ordinal) ? MicroQwen3.Value : Micro.Value;
        string a = src.Architecture!;
        var meta = src.MetadataList.ToDictionary(e => e.Key, e => e);
        var order = src.MetadataList.Select(e => e.Key).ToList();
        var types = src.Tensors.ToDictionary(t => t.Name, t => (t.Type, t.Dimensions));
        string[] tokens = (string[])((string[])src.GetArray("tokenizer.ggml.tokens")!.Values).Clone();
        void Set(string key, GgufValueType type, object value)
        {
            if (!meta.ContainsKey(key)) order.Add(key);
            meta[key] = new GgufMetadataEntry(key, type, value);
        }
        switch (fault)
        {
            case "duplicate-token": tokens[500] = tokens[400]; break;
            case "empty-token-collides": tokens[500] = ""; tokens[501] = "[EMPTY_500]"; break;
            // llama.cpp reads "<token 400>\0x" as "<token 400>": a SIGABRT (duplicate-token assert) before the rule.
            case "nul-token-collides": tokens[500] = tokens[400] + "\0x"; break;
            // llama.cpp would read "llama" and use SentencePiece; the validator saw another model and skipped its checks.
            case "nul-in-tokenizer-model": Set("tokenizer.ggml.model", GgufValueType.String, "llama\0x"); break;
            case "empty-string-value": Set("general.name", GgufValueType.String, ""); break;
            case "missing-byte-token": tokens[Array.IndexOf(tokens, "<0xE2>")] = "<0xE2-gone>"; break;
            case "short-scores": Set("tokenizer.ggml.scores", GgufValueType.Array, new GgufArray(GgufValueType.Float32, new float[10])); break;
            case "token-type-f32": Set("tokenizer.ggml.token_type", GgufValueType.Array, new GgufArray(GgufValueType.Float32, new float[tokens.Length])); break;
            case "bos-out-of-range": Set("tokenizer.ggml.bos_token_id", GgufValueType.UInt32, (uint)tokens.Length); break;
            case "tokens-not-strings": Set("tokenizer.ggml.tokens", GgufValueType.Array, new GgufArray(GgufValueType.Int32, new int[tokens.Length])); break;
            case "zero-layers": Set($"{a}.block_count", GgufValueType.UInt32, 0u); break;
            case "too-many-layers": Set($"{a}.block_count", GgufValueType.UInt32, 513u); break;
            case "rope-scaling-unknown": Set($"{a}.rope.scaling.type", GgufValueType.String, "cubic"); break;
            case "experts-without-used": Set($"{a}.expert_count", GgufValueType.UInt32, 8u); break;
            case "kv-heads-not-dividing": Set($"{a}.attention.head_count_kv", GgufValueType.UInt32, 3u); break;
            case "per-layer-array-short": Set($"{a}.attention.head_count", GgufValueType.Array, new GgufArray(GgufValueType.UInt32, new uint[] { 2, 2 })); break;
            case "qwen3-rope-dims": Set($"{a}.rope.dimension_count", GgufValueType.UInt32, 8u); break;
            case "qwen3-value-length": Set($"{a}.attention.value_length", GgufValueType.UInt32, 8u); break;
            case "i32-matrix": types["blk.0.attn_v.weight"] = (GgmlType.I32, types["blk.0.attn_v.weight"].Dimensions); break;
            case "quantized-norm": types["blk.0.attn_norm.weight"] = (GgmlType.Q8_0, types["blk.0.attn_norm.weight"].Dimensions); break;
            case "embedding-shape": Set("tokenizer.ggml.tokens", GgufValueType.Array, new GgufArray(GgufValueType.String, tokens.Append("extra-token").ToArray())); break;
            default: throw new ArgumentException(fault, nameof(fault));
        }
        if (fault is "duplicate-token" or "empty-token-collides" or "nul-token-collides" or "missing-byte-token")
            Set("tokenizer.ggml.tokens", GgufValueType.Array, new GgufArray(GgufValueType.String, tokens));
        if (fault == "embedding-shape")
        {
            Set("tokenizer.ggml.scores", GgufValueType.Array, new GgufArray(GgufValueType.Float32, new float[tokens.Length + 1]));
            Set("tokenizer.ggml.token_type", GgufValueType.Array, new GgufArray(GgufValueType.Int32, Enumerable.Repeat(1, tokens.Length + 1).ToArray()));
        }
        var w = new GgufWriter();
        foreach (string k in order.Where(k => k != "general.alignment")) w.Add(k, meta[k].Type, meta[k].Value);
        foreach (var t in src.Tensors)
        {
            var (type, dims) = types[t.Name];
            long bytes = GgmlTypeInfo.TensorBytes(type, dims);
            w.AddTensor(t.Name, type, dims, s => s.Write(new byte[bytes]));
        }
        using var ms = new MemoryStream();
        w.Write(ms);
        return ms.ToArray();
    }
}
