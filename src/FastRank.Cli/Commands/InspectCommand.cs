using System.CommandLine;
using System.Text.Json;
using FastRank.Gguf;

namespace FastRank.Cli.Commands;

internal static class InspectCommand
{
    public static Command Create(CliOutput output)
    {
        var file = new Argument<string>("file") { Description = "GGUF file" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var cmd = new Command("inspect", "Validate a GGUF file and describe it (architecture, dimensions, vocabulary, quantization, templates)")
        {
            file, json,
        };
        cmd.SetAction(parse =>
        {
            var info = ModelInfo.From(GgufReader.Read(parse.GetValue(file)!));
            if (parse.GetValue(json))
            {
                output.Out.WriteLine(JsonSerializer.Serialize(info, ModelInfo.JsonOptions));
            }
            else
            {
                foreach (var (k, v) in info.Lines()) output.Out.WriteLine($"{k,-22} {v}");
            }
            return ExitCodes.Success;
        });
        return cmd;
    }
}

/// <summary>What inspect reports.</summary>
internal sealed record ModelInfo(
    string File, long FileSize, uint GgufVersion, string? Architecture, string? Name,
    long? Layers, long? EmbeddingSize, long? Heads, long? KvHeads, long? FeedForward, long? ContextLength,
    string? Tokenizer, int VocabSize, string Quantization, Dictionary<string, long> TensorTypes, int Tensors,
    long ParameterCount, List<string> ChatTemplates)
{
    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static ModelInfo From(GgufFile f)
    {
        var types = f.Tensors.GroupBy(t => t.Type.ToString().ToLowerInvariant()).ToDictionary(g => g.Key, g => g.LongCount());
        // The quantization is the type holding most of the weights.
        string quant = f.Tensors.Count == 0 ? "none"
            : f.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Sum(t => t.ElementCount)).First().Key.ToString().ToLowerInvariant();
        var templates = f.Metadata.Keys.Where(k => k == "tokenizer.chat_template" || k.StartsWith("tokenizer.chat_template.", StringComparison.Ordinal))
            .Select(k => k == "tokenizer.chat_template" ? "default" : k["tokenizer.chat_template.".Length..]).Order(StringComparer.Ordinal).ToList();
        return new ModelInfo(
            f.FilePath ?? "", f.FileSize, f.Version, f.Architecture, f.GetString("general.name"),
            f.GetArchInteger("block_count"), f.GetArchInteger("embedding_length"), f.GetArchInteger("attention.head_count"),
            f.GetArchInteger("attention.head_count_kv"), f.GetArchInteger("feed_forward_length"), f.GetArchInteger("context_length"),
            f.GetString("tokenizer.ggml.model"), f.GetArray("tokenizer.ggml.tokens")?.Count ?? 0, quant, types, f.Tensors.Count,
            f.Tensors.Sum(t => t.ElementCount), templates);
    }

    public IEnumerable<(string, string)> Lines()
    {
        yield return ("file", File);
        yield return ("size", $"{FileSize / 1e6:F1} MB ({FileSize} bytes)");
        yield return ("gguf version", GgufVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return ("architecture", Architecture ?? "?");
        yield return ("name", Name ?? "");
        yield return ("layers", $"{Layers}");
        yield return ("embedding", $"{EmbeddingSize}");
        yield return ("heads / kv heads", $"{Heads} / {KvHeads}");
        yield return ("feed-forward", $"{FeedForward}");
        yield return ("context length", $"{ContextLength}");
        yield return ("tokenizer", $"{Tokenizer}, {VocabSize} tokens");
        yield return ("quantization", Quantization);
        yield return ("tensors", $"{Tensors} ({string.Join(", ", TensorTypes.Select(kv => $"{kv.Key}: {kv.Value}"))})");
        yield return ("parameters", $"{ParameterCount / 1e6:F1} M");
        yield return ("chat templates", ChatTemplates.Count == 0 ? "none" : string.Join(", ", ChatTemplates));
    }
}
