using FastRank.Synthetic;

namespace FastRank.Fuzz;

/// <summary>
/// The valid files the fuzzers start from: FastRank's synthetic models cut down to "micro" shapes (one layer, 32-dim,
/// an invented vocabulary of <see cref="VocabSize"/> tokens, f32) so that each file is ~100 KB: small enough for a
/// corpus, and loaded and reranked by llama.cpp in milliseconds. One llama and one qwen3 (whose graph asserts on head
/// and RoPE sizes instead of llama's load-time exception).
/// </summary>
public static class FuzzSeeds
{
    /// <summary>Tokens of the micro vocabulary: the 256 byte tokens, the control tokens, "yes"/"no" and some words.</summary>
    public const int VocabSize = 640;

    /// <summary>The micro shapes by name.</summary>
    public static IReadOnlyList<ModelShape> Shapes { get; } =
    [
        new("micro-llama", "llama", 1, 32, 2, 1, 16, 32, VocabSize, 512, 10000f, true, Prompts.ChatTemplates.ChatMLJinja, true),
        new("micro-qwen3", "qwen3", 1, 32, 2, 1, 16, 32, VocabSize, 512, 1_000_000f, true, Prompts.ChatTemplates.ChatMLJinja, false),
    ];

    /// <summary>Writes the micro model <paramref name="name"/> to <paramref name="path"/> (deterministic).</summary>
    public static void Write(string name, string path)
    {
        var shape = Shapes.FirstOrDefault(s => s.Name == name) ?? throw new ArgumentException($"unknown seed '{name}'", nameof(name));
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(shape, Seed: 7), path);
    }

    /// <summary>The bytes of the micro model <paramref name="name"/>.</summary>
    public static byte[] Bytes(string name)
    {
        string tmp = Path.Combine(Path.GetTempPath(), $"fastrank-seed-{Environment.ProcessId}-{Guid.NewGuid():N}.gguf");
        try
        {
            Write(name, tmp);
            return File.ReadAllBytes(tmp);
        }
        finally
        {
            File.Delete(tmp);
        }
    }
}
