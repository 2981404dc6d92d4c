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

    /// <summary>The <c>small</c> shape (qwen3, 8 layers, 512-dim, GQA, q/k norms, 16k vocabulary), q8_0.</summary>
    public static string Small => Get("small", "q8_0");

    /// <summary>A model of <paramref name="shape"/> and <paramref name="quant"/>, created on first use.</summary>
    public static string Get(string shape, string quant, int? layers = null)
    {
        string key = $"{shape}-{quant}-{layers}";
        lock (Gate)
        {
            if (Paths.TryGetValue(key, out var p)) return p;
            p = Path.Combine(Dir, key + ".gguf");
            SyntheticModelGenerator.Generate(new SyntheticModelOptions(ModelShape.Get(shape), Seed: 7, Layers: layers, Quantization: quant), p);
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
