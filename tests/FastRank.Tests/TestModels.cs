using FastRank.Synthetic;

namespace FastRank.Tests;

/// <summary>
/// Synthetic GGUF models shared by the tests, written once per test run (per process) into a temporary
/// directory and deleted at exit. Real llama.cpp decodes them; nothing here is a mock.
/// </summary>
public static class TestModels
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, string> Paths = [];
    private static readonly string Dir = CreateDir();

    /// <summary>The <c>tiny</c> shape (llama, 2 layers, 64-dim, 8k vocabulary), f32.</summary>
    public static string Tiny => Get("tiny", "f32");

    /// <summary>The <c>small</c> shape (qwen3, 8 layers, 512-dim, GQA, q/k norms, untied LM head, Qwen3's real vocabulary of 151,936 tokens), q8_0.</summary>
    public static string Small => Get("small", "q8_0");

    /// <summary>
    /// A model of <paramref name="shape"/> and <paramref name="quant"/> with <paramref name="vocab"/> (null: the shape's
    /// default), created on first use. A real vocabulary on <c>tiny</c> gives the smallest file that tokenizes as the
    /// real model does.
    /// </summary>
    public static string Get(string shape, string quant, int? layers = null, VocabularyFamily? vocab = null)
    {
        var s = ModelShape.Get(shape);
        var v = vocab ?? s.Vocabulary;
        string key = $"{s.Name}-{quant}-{layers}-{v.ToString().ToLowerInvariant()}";
        lock (Gate)
        {
            if (Paths.TryGetValue(key, out var p)) return p;
            p = Path.Combine(Dir, key + ".gguf");
            SyntheticModelGenerator.Generate(new SyntheticModelOptions(s, Seed: 7, Layers: layers, Quantization: quant, Vocabulary: v), p);
            Paths[key] = p;
            return p;
        }
    }

    /// <summary>A fresh path in the run's temporary directory.</summary>
    public static string TempPath(string name) => Path.Combine(Dir, $"{Guid.NewGuid():N}-{name}");

    private static string CreateDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"fastrank-tests-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        };
        return dir;
    }
}
