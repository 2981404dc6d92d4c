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
        var vocab = new Option<string?>("--vocab")
        {
            Description = "Vocabulary: qwen3 or llama3 (the real tokenizer, written as llama.cpp's converter does; needs the npm tokenizer packages), " +
                "synthetic (FastRank's invented one); default: the shape's (qwen3 for small and qwen3-0.6b, llama3 for the llama shapes, synthetic for tiny, mistral-7b, match)",
        };
        var cmd = new Command("synth", "Write a synthetic GGUF model (real shapes and vocabularies, random weights; 'match' has constructed weights whose attention follows repeated tokens)")
        {
            shape, outFile, seed, quant, layers, vocab,
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
            VocabularyFamily? v = null;
            if (parse.GetValue(vocab) is { } name)
            {
                try { v = TokenizerPackages.ParseFamily(name); }
                catch (ArgumentException ex) { throw new UsageException(ex.Message); }
            }
            string path = parse.GetValue(outFile)!;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var options = new SyntheticModelOptions(s, parse.GetValue(seed), l, q, v);
            SyntheticModelGenerator.Generate(options, path);
            var e = options.EffectiveShape;
            output.Out.WriteLine($"wrote {path}: {s.Name} ({s.Architecture}, {l ?? s.Layers} layers, {s.EmbeddingSize}-dim, " +
                $"{e.Vocabulary.ToString().ToLowerInvariant()} vocabulary of {e.VocabSize} tokens, {q}), " +
                $"{new FileInfo(path).Length / 1e6:F1} MB in {sw.Elapsed.TotalSeconds:F1} s");
            return ExitCodes.Success;
        });
        return cmd;
    }
}
