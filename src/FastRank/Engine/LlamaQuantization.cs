using LLama;
using LLama.Native;

namespace FastRank.Engine;

/// <summary>Quantization through llama.cpp's own quantizer.</summary>
public static class LlamaQuantization
{
    /// <summary>The file types FastRank accepts by name (llama.cpp's names, lower case).</summary>
    public static IReadOnlyDictionary<string, LLamaFtype> FileTypes { get; } = new Dictionary<string, LLamaFtype>(StringComparer.OrdinalIgnoreCase)
    {
        ["f32"] = LLamaFtype.ALL_F32,
        ["f16"] = LLamaFtype.MOSTLY_F16,
        ["bf16"] = LLamaFtype.MOSTLY_BF16,
        ["q8_0"] = LLamaFtype.MOSTLY_Q8_0,
        ["q4_0"] = LLamaFtype.MOSTLY_Q4_0,
        ["q4_1"] = LLamaFtype.MOSTLY_Q4_1,
        ["q5_0"] = LLamaFtype.MOSTLY_Q5_0,
        ["q5_1"] = LLamaFtype.MOSTLY_Q5_1,
        ["q2_k"] = LLamaFtype.MOSTLY_Q2_K,
        ["q3_k_s"] = LLamaFtype.MOSTLY_Q3_K_S,
        ["q3_k_m"] = LLamaFtype.MOSTLY_Q3_K_M,
        ["q3_k_l"] = LLamaFtype.MOSTLY_Q3_K_L,
        ["q4_k_s"] = LLamaFtype.MOSTLY_Q4_K_S,
        ["q4_k_m"] = LLamaFtype.MOSTLY_Q4_K_M,
        ["q5_k_s"] = LLamaFtype.MOSTLY_Q5_K_S,
        ["q5_k_m"] = LLamaFtype.MOSTLY_Q5_K_M,
        ["q6_k"] = LLamaFtype.MOSTLY_Q6_K,
        ["iq4_nl"] = LLamaFtype.MOSTLY_IQ4_NL,
        ["iq4_xs"] = LLamaFtype.MOSTLY_IQ4_XS,
    };

    /// <summary>Parses a file type name such as <c>q8_0</c> or <c>q4_k_m</c>.</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static LLamaFtype ParseFileType(string name) =>
        FileTypes.TryGetValue(name.Trim(), out var t) ? t
            : throw new ArgumentException($"unknown quantization type '{name}'; known: {string.Join(", ", FileTypes.Keys)}", nameof(name));

    /// <summary>Quantizes <paramref name="source"/> (validated first) into <paramref name="destination"/> and validates the result.</summary>
    /// <exception cref="Gguf.GgufFormatException">The source or the result is not a valid GGUF file.</exception>
    /// <exception cref="InvalidOperationException">llama.cpp's quantizer failed.</exception>
    public static void Quantize(string source, string destination, LLamaFtype type, int threads = 0)
    {
        Gguf.GgufModelValidator.Validate(Gguf.GgufReader.Read(source));
        LlamaRuntime.EnsureLoaded();
        string tmp = destination + ".partial";
        try
        {
            if (!LLamaQuantizer.Quantize(source, tmp, type, threads <= 0 ? Environment.ProcessorCount : threads, allowRequantize: true))
                throw new InvalidOperationException($"llama.cpp could not quantize '{source}' to {type}");
            Gguf.GgufReader.Read(tmp);
            File.Move(tmp, destination, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
