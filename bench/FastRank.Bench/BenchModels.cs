using FastRank.Synthetic;

namespace FastRank.Bench;

/// <summary>
/// Synthetic models for the benchmarks, written once into a shared temporary folder (BenchmarkDotNet runs every
/// benchmark in its own process; the file is written to a temporary name and moved, so concurrent writers are safe).
/// </summary>
internal static class BenchModels
{
    /// <summary>The quantization each shape is benchmarked with: tiny in f32 (as the tests use it), small in q8_0.</summary>
    public static string Quantization(string shape) => shape == "tiny" ? "f32" : "q8_0";

    public static string Get(string shape)
    {
        string quant = Quantization(shape);
        string dir = Path.Combine(Path.GetTempPath(), "fastrank-bench-models");
        Directory.CreateDirectory(dir);
        var s = ModelShape.Get(shape);
        // The vocabulary in the name: files written before small had Qwen3's real vocabulary must not be reused.
        string path = Path.Combine(dir, $"{shape}-{quant}-{s.Vocabulary.ToString().ToLowerInvariant()}-seed7.gguf");
        if (File.Exists(path)) return path;
        string tmp = $"{path}.{Environment.ProcessId}.tmp";
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(s, Seed: 7, Quantization: quant), tmp);
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    /// <summary><paramref name="count"/> English-like documents of <paramref name="words"/> words (about 1.1 tokens a word with small's Qwen3 vocabulary, 1.3 with tiny's invented one).</summary>
    public static string[] Documents(int count, int words) => [.. SyntheticText.Documents(count, words, seed: 11)];

    /// <summary>Distinct queries (a rerank call with a new query: nothing but the template head is cached).</summary>
    public static string[] Queries(int count) =>
        [.. Enumerable.Range(0, count).Select(i => $"{SyntheticText.Words[100 + i]} which river flows past the old volcano near the city")];
}
