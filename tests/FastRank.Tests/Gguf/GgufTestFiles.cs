using FastRank.Gguf;

namespace FastRank.Tests.Gguf;

/// <summary>Small GGUF files built byte by byte for the validation tests.</summary>
internal static class GgufTestFiles
{
    /// <summary>A valid file: a few metadata types, two f32 tensors.</summary>
    public static byte[] Valid()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.Add("general.name", "test");
        w.Add("test.u32", 7u);
        w.Add("test.f32", 1.5f);
        w.Add("test.bool", true);
        w.Add("test.strings", ["a", "bc", "déf"]);
        w.Add("test.ints", [1, -2, 3]);
        w.AddTensor("a.weight", [4, 2], Enumerable.Range(0, 8).Select(i => (float)i).ToArray());
        w.AddTensor("b.weight", [3], [1f, 2f, 3f]);
        using var ms = new MemoryStream();
        w.Write(ms);
        return ms.ToArray();
    }

    public static GgufFile Read(byte[] bytes) => GgufReader.Read(new MemoryStream(bytes));
}
