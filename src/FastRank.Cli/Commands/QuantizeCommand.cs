using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Models;

namespace FastRank.Cli.Commands;

internal static class QuantizeCommand
{
    /// <summary>Approximate bits per weight of llama.cpp's file types (for the progress estimate only).</summary>
    private static readonly Dictionary<string, double> BitsPerWeight = new(StringComparer.OrdinalIgnoreCase)
    {
        ["f32"] = 32, ["f16"] = 16, ["bf16"] = 16, ["q8_0"] = 8.5, ["q4_0"] = 4.5, ["q4_1"] = 5, ["q5_0"] = 5.5, ["q5_1"] = 6,
        ["q2_k"] = 2.63, ["q3_k_s"] = 3.44, ["q3_k_m"] = 3.91, ["q3_k_l"] = 4.27, ["q4_k_s"] = 4.58, ["q4_k_m"] = 4.89,
        ["q5_k_s"] = 5.54, ["q5_k_m"] = 5.7, ["q6_k"] = 6.56, ["iq4_nl"] = 4.5, ["iq4_xs"] = 4.25,
    };

    public static Command Create(CliOutput output)
    {
        var input = new Argument<string>("input") { Description = "Source GGUF file (f32, f16, bf16 or already quantized)" };
        var outFile = new Argument<string>("output") { Description = "Destination GGUF file" };
        var type = new Option<string>("--type", "-t") { Description = $"Target type: {string.Join(", ", LlamaQuantization.FileTypes.Keys)}", Required = true };
        var threads = new Option<int>("--threads") { Description = "Quantizer threads (0: all cores)" };
        var force = new Option<bool>("--force", "-f") { Description = "Overwrite the output file" };
        var cmd = new Command("quantize", "Quantize a GGUF model with llama.cpp's quantizer; the output is validated (GGUF structure and a llama.cpp load)")
        {
            input, outFile, type, threads, force,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            string src = parse.GetValue(input)!, dst = parse.GetValue(outFile)!, typeName = parse.GetValue(type)!;
            if (!LlamaQuantization.FileTypes.TryGetValue(typeName.Trim(), out var ftype))
                throw new UsageException($"unknown --type '{typeName}'; known: {string.Join(", ", LlamaQuantization.FileTypes.Keys)}");
            if (parse.GetValue(threads) < 0) throw new UsageException("--threads must not be negative");
            if (!File.Exists(src)) throw new FileNotFoundException($"input file '{src}' does not exist", src);
            if (string.Equals(Path.GetFullPath(src), Path.GetFullPath(dst), StringComparison.Ordinal))
                throw new UsageException("the output must be another file than the input");
            if (File.Exists(dst) && !parse.GetValue(force)) throw new UsageException($"'{dst}' exists; pass --force to overwrite it");
            string? dir = Path.GetDirectoryName(Path.GetFullPath(dst));
            if (dir is not null && !Directory.Exists(dir)) throw new DirectoryNotFoundException($"output directory '{dir}' does not exist");

            var source = GgufReader.Read(src); // validated before llama.cpp sees it
            long estimate = Estimate(source, typeName);
            var sw = Stopwatch.StartNew();
            await CliModels.WithProgressAsync(output, $"quantizing to {typeName.ToLowerInvariant()}", "writing", async progress =>
            {
                var work = Task.Run(() => LlamaQuantization.Quantize(src, dst, ftype, parse.GetValue(threads)), ct);
                string partial = dst + ".partial";
                while (!work.IsCompleted)
                {
                    await Task.WhenAny(work, Task.Delay(200, ct)).ConfigureAwait(false);
                    long written = File.Exists(partial) ? SafeLength(partial) : 0;
                    progress.Report(new DownloadProgress(Path.GetFileName(dst), Math.Min(written, estimate - 1), estimate, 0, written / Math.Max(1e-3, sw.Elapsed.TotalSeconds)));
                }
                await work.ConfigureAwait(false);
                progress.Report(new DownloadProgress(Path.GetFileName(dst), estimate, estimate, 0, estimate / Math.Max(1e-3, sw.Elapsed.TotalSeconds)));
                return true;
            }).ConfigureAwait(false);
            double quantizeSeconds = sw.Elapsed.TotalSeconds;

            // Validated twice: the GGUF structure (inside Quantize) and a real llama.cpp load.
            var result = GgufReader.Read(dst);
            using (LlamaModel.Load(dst))
            {
            }
            var types = result.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Sum(t => t.ElementCount))
                .Select(g => $"{g.Key.ToString().ToLowerInvariant()}: {g.Count()}");
            output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {dst}: {typeName.ToLowerInvariant()}, {CliModels.Size(source.FileSize)} -> {CliModels.Size(result.FileSize)} ({result.FileSize * 100.0 / source.FileSize:F0}%) in {quantizeSeconds:F1} s; " +
                $"{result.Tensors.Count} tensors ({string.Join(", ", types)}); validated (GGUF and llama.cpp load)"));
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>Expected output size: matrices at the target's bits per weight, vectors as they are.</summary>
    private static long Estimate(GgufFile source, string typeName)
    {
        double bpw = BitsPerWeight.GetValueOrDefault(typeName.Trim(), 8);
        double bytes = source.DataOffset;
        foreach (var t in source.Tensors) bytes += t.Dimensions.Length >= 2 ? t.ElementCount * bpw / 8 : t.ByteSize;
        return Math.Max(1, (long)bytes);
    }

    private static long SafeLength(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
