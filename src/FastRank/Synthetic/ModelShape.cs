namespace FastRank.Synthetic;

/// <summary>The dimensions of a synthetic model.</summary>
/// <param name="Name">Shape name (<c>tiny</c>, <c>small</c>, or a real model's preset).</param>
/// <param name="Architecture">llama.cpp architecture: <c>llama</c> or <c>qwen3</c>.</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="EmbeddingSize">Model width.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="KvHeads">Key/value heads (GQA when fewer than <paramref name="Heads"/>).</param>
/// <param name="HeadDim">Dimension of one head.</param>
/// <param name="FeedForward">FFN hidden size.</param>
/// <param name="VocabSize">Vocabulary size with FastRank's invented vocabulary (exact); a real vocabulary brings its models' size (<see cref="WithVocabulary"/>).</param>
/// <param name="ContextLength">Training context length written to the GGUF.</param>
/// <param name="RopeBase">RoPE frequency base.</param>
/// <param name="TiedEmbeddings">Whether the output head reuses the token embeddings (no output.weight).</param>
/// <param name="ChatTemplate">Jinja chat template embedded in the GGUF with the invented vocabulary (a real vocabulary brings its own).</param>
/// <param name="AddBos">tokenizer.ggml.add_bos_token with the invented vocabulary (a real vocabulary brings its own).</param>
/// <param name="Vocabulary">The vocabulary the shape gets by default: its family's real one, or the invented one where a test needs a tiny file.</param>
public sealed record ModelShape(
    string Name,
    string Architecture,
    int Layers,
    int EmbeddingSize,
    int Heads,
    int KvHeads,
    int HeadDim,
    int FeedForward,
    int VocabSize,
    int ContextLength,
    float RopeBase,
    bool TiedEmbeddings,
    string ChatTemplate,
    bool AddBos,
    VocabularyFamily Vocabulary = VocabularyFamily.Synthetic)
{
    /// <summary>
    /// The shape with <paramref name="vocabulary"/>: a real vocabulary sets <see cref="VocabSize"/> to its models' size
    /// (151,936 for Qwen3, 128,256 for Llama 3); the invented one keeps the shape's own size.
    /// </summary>
    public ModelShape WithVocabulary(VocabularyFamily vocabulary) => vocabulary == VocabularyFamily.Synthetic
        ? this with { Vocabulary = vocabulary }
        : this with { Vocabulary = vocabulary, VocabSize = ConvertedVocabulary.ModelVocabSize(vocabulary) };

    /// <summary>Whether the architecture has per-head RMS norms on Q and K (Qwen3).</summary>
    public bool HasQkNorm => Architecture == "qwen3";

    /// <summary>Approximate parameter count.</summary>
    public long ParameterCount
    {
        get
        {
            long e = EmbeddingSize, q = (long)Heads * HeadDim, kv = (long)KvHeads * HeadDim;
            long perLayer = e * q + 2 * e * kv + q * e + 3 * e * FeedForward + 2 * e + (HasQkNorm ? 2L * HeadDim : 0);
            return (long)VocabSize * e * (TiedEmbeddings ? 1 : 2) + Layers * perLayer + e;
        }
    }

    /// <summary>The named shapes.</summary>
    public static IReadOnlyList<ModelShape> All { get; } =
    [
        new("tiny", "llama", 2, 64, 4, 2, 16, 192, 8192, 8192, 10000f, true, Prompts.ChatTemplates.ChatMLJinja, true),
        // Untied: a separate LM head beside the rank head, as the measurements of the two heads need.
        new("small", "qwen3", 8, 512, 8, 4, 64, 1536, 16384, 32768, 1_000_000f, false, Prompts.ChatTemplates.ChatMLJinja, false, VocabularyFamily.Qwen3),
        new("qwen3-0.6b", "qwen3", 28, 1024, 16, 8, 128, 3072, 151936, 40960, 1_000_000f, true, Prompts.ChatTemplates.ChatMLJinja, false, VocabularyFamily.Qwen3),
        new("llama-3.2-1b", "llama", 16, 2048, 32, 8, 64, 8192, 128256, 131072, 500_000f, true, Prompts.ChatTemplates.Llama3Jinja, true, VocabularyFamily.Llama3),
        // No mistral tokenizer package carries the SentencePiece model (scores, types) the converter reads: invented vocabulary.
        new("mistral-7b", "llama", 32, 4096, 32, 8, 128, 14336, 32768, 32768, 1_000_000f, false, Prompts.ChatTemplates.MistralJinja, true),
        new("llama-3.1-8b", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072, 500_000f, false, Prompts.ChatTemplates.Llama3Jinja, true, VocabularyFamily.Llama3),
        // Constructed weights, not random: attention follows repeated tokens (see MatchModel).
        new(MatchModel.ShapeName, "llama", 2, 256, 4, 4, 64, 256, 32768, 8192, 1e38f, true, Prompts.ChatTemplates.MistralJinja, true),
    ];

    /// <summary>Finds a shape by name (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No shape has that name.</exception>
    public static ModelShape Get(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown shape '{name}'; known: {string.Join(", ", All.Select(s => s.Name))}", nameof(name));
}
