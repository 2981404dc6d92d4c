using System.CommandLine;
using FastRank.Synthetic;

namespace FastRank.Cli.Commands;

internal static class SynthCommand
{
    public static Command Create(CliOutput output)
    {
        var shape = new Option<string>("--shape") { Description = $"Model shape: {string.Join(", ", ModelShape.All.Select(s => s.Name))}", Required = true };
        var outFile = new Option<string>("--out", "-o") { Description = "Output GGUF file", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights", DefaultValueFactory = _ => 42 };
        var quant = new Option<string>("--quant") { Description = "f32 (direct) or a llama.cpp type: f16, q8_0, q4_k_m, ...", DefaultValueFactory = _ => "f32" };
        var layers = new Option<int?>("--layers") { Description = "Override the number of layers (keeps real-size presets small)" };
        var cmd = new Command("synth", "Write a synthetic GGUF model (real shapes and vocabularies, random weights; 'match' has constructed weights whose attention follows repeated tokens)")
        {
            shape, outFile, seed, quant, layers,
        };
        cmd.SetAction(parse =>
        {
            ModelShape s;
            try { s = ModelShape.Get(parse.GetValue(shape)!); }
            catch (ArgumentException ex) { throw new UsageException(ex.Message); }
            string q = parse.GetValue(quant)!;
            if (q != "f32" && !Engine.LlamaQuantization.FileTypes.ContainsKey(q))
                throw new UsageException($"unknown --quant '{q}'; known: {string.Join(", ", Engine.LlamaQuantization.FileTypes.Keys)}");
            int? l = parse.GetValue(layers);
            if (l is < 1) throw new UsageException("--layers must be at least 1");
            string path = parse.GetValue(outFile)!;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            SyntheticModelGenerator.Generate(new SyntheticModelOptions(s, parse.GetValue(seed), l, q), path);
            output.Out.WriteLine($"wrote {path}: {s.Name} ({s.Architecture}, {l ?? s.Layers} layers, {s.EmbeddingSize}-dim, vocab {s.VocabSize}, {q}), " +
                $"{new FileInfo(path).Length / 1e6:F1} MB in {sw.Elapsed.TotalSeconds:F1} s");
            return ExitCodes.Success;
        });
        return cmd;
    }
}
