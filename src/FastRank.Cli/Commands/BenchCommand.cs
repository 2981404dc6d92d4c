using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FastRank.Cli.Bench;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Cli.Commands;

internal static class BenchCommand
{
    public static Command Create(CliOutput output)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model file (default: a synthetic model of --shape, created on the fly)" };
        var shape = new Option<string>("--shape") { Description = "Synthetic shape used without --model", DefaultValueFactory = _ => "small" };
        var quant = new Option<string>("--quant") { Description = "Quantization of the synthetic model", DefaultValueFactory = _ => "q8_0" };
        var method = new Option<RerankMethod>("--method") { Description = "Method to measure (pointwise, first)", DefaultValueFactory = _ => RerankMethod.Pointwise, CustomParser = MethodNames.Parse };
        var docs = new Option<int>("--docs") { Description = "Documents per call", DefaultValueFactory = _ => 64 };
        var docTokens = new Option<int>("--doc-tokens") { Description = "Tokens per document", DefaultValueFactory = _ => 128 };
        var prefixTokens = new Option<int>("--prefix-tokens") { Description = "Tokens of the shared prefix (template head + query)", DefaultValueFactory = _ => 100 };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Warm-up repetitions", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all cores)" };
        var parallel = new Option<int>("--parallel") { Description = "FastRank's parallel sequences (0: automatic)" };
        var floorInFlight = new Option<int[]>("--floor-in-flight") { Description = "Sequences in flight tried for the floor (the fastest counts)", DefaultValueFactory = _ => [4, 16], AllowMultipleArgumentsPerToken = true };
        var noNaive = new Option<bool>("--no-naive") { Description = "Skip the naive baseline" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var queryTokens = new Option<int>("--query-tokens") { Description = "first: tokens of each query", DefaultValueFactory = _ => 16 };
        var longDocs = new Option<int>("--long-docs") { Description = "first: documents of the many-window run (0: skip it)", DefaultValueFactory = _ => 100 };
        var floorBatch = new Option<int[]>("--floor-batch") { Description = "first: micro-batch sizes tried for the floor (the fastest counts)", DefaultValueFactory = _ => [512, 1024], AllowMultipleArgumentsPerToken = true };
        var noGenerate = new Option<bool>("--no-generate") { Description = "first: skip listwise-generate" };
        var cmd = new Command("bench", "Measure a method against the floor and its baselines on the same tokens")
        {
            model, shape, quant, method, docs, docTokens, prefixTokens, reps, warmup, threads, parallel, floorInFlight, noNaive, json,
            queryTokens, longDocs, floorBatch, noGenerate,
        };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(docs) < 1 || parse.GetValue(docTokens) < 1 || parse.GetValue(prefixTokens) < 1)
                throw new UsageException("--docs, --doc-tokens and --prefix-tokens must be at least 1");
            if (parse.GetValue(reps) < 1 || parse.GetValue(warmup) < 0) throw new UsageException("--reps must be at least 1 and --warmup at least 0");
            int[] inFlight = parse.GetValue(floorInFlight)!;
            if (inFlight.Length == 0 || inFlight.Any(k => k < 1 || k > 255)) throw new UsageException("--floor-in-flight values must be in 1..255");
            bool asJson = parse.GetValue(json);
            Action<string>? progress = asJson ? null : line => output.Error.WriteLine(line);

            string? path = parse.GetValue(model);
            string? temp = null;
            if (path is null)
            {
                ModelShape s;
                try { s = ModelShape.Get(parse.GetValue(shape)!); }
                catch (ArgumentException ex) { throw new UsageException(ex.Message); }
                temp = Path.Combine(Path.GetTempPath(), $"fastrank-bench-{s.Name}-{parse.GetValue(quant)}-{Environment.ProcessId}.gguf");
                progress?.Invoke($"creating synthetic model {s.Name} ({parse.GetValue(quant)}) at {temp}");
                SyntheticModelGenerator.Generate(new SyntheticModelOptions(s, Quantization: parse.GetValue(quant)!), temp);
                path = temp;
            }
            try
            {
                if (parse.GetValue(method) == RerankMethod.Icr)
                {
                    var icr = IcrBench.Run(new IcrBenchOptions(path, parse.GetValue(docs), parse.GetValue(docTokens), parse.GetValue(reps),
                        parse.GetValue(warmup), parse.GetValue(threads), 0), progress);
                    if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(icr, ReportJson));
                    else icr.Print(output.Out);
                    return ExitCodes.Success;
                }
                if (parse.GetValue(method) is RerankMethod.First or RerankMethod.ListwiseGenerate)
                {
                    int[] batches = parse.GetValue(floorBatch)!;
                    if (batches.Length == 0 || batches.Any(b => b < 32 || b > 8192)) throw new UsageException("--floor-batch values must be in 32..8192");
                    if (parse.GetValue(queryTokens) < 1 || parse.GetValue(longDocs) < 0) throw new UsageException("--query-tokens must be at least 1 and --long-docs at least 0");
                    // FIRST's defaults where the pointwise ones were left in place: one window of 20 documents of about 100 tokens.
                    int firstDocs = parse.GetResult(docs) is { Implicit: false } ? parse.GetValue(docs) : 20;
                    int firstDocTokens = parse.GetResult(docTokens) is { Implicit: false } ? parse.GetValue(docTokens) : 100;
                    var firstReport = FirstBench.Run(new FirstBenchOptions(path, firstDocs, firstDocTokens, parse.GetValue(queryTokens), parse.GetValue(longDocs),
                        parse.GetValue(reps), parse.GetValue(warmup), parse.GetValue(threads), batches, parse.GetValue(noGenerate)), progress);
                    if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(firstReport, ReportJson));
                    else firstReport.Print(output.Out);
                    return ExitCodes.Success;
                }
                var report = PointwiseBench.Run(new PointwiseBenchOptions(path, parse.GetValue(docs), parse.GetValue(docTokens), parse.GetValue(prefixTokens),
                    parse.GetValue(reps), parse.GetValue(warmup), parse.GetValue(threads), parse.GetValue(parallel), inFlight, parse.GetValue(noNaive)), progress);
                if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(report, ReportJson));
                else Print(output.Out, report);
            }
            finally
            {
                if (temp is not null) File.Delete(temp);
            }
            return ExitCodes.Success;
        });
        return cmd;
    }

    internal static readonly JsonSerializerOptions ReportJson = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static void Print(TextWriter w, PointwiseBenchReport r)
    {
        var c = CultureInfo.InvariantCulture;
        w.WriteLine(string.Create(c, $"pointwise: {r.Docs} documents of {r.DocTokens} tokens, shared prefix {r.PrefixTokens} tokens (head {r.HeadTokens}), {r.Repetitions} repetitions"));
        w.WriteLine(string.Create(c, $"  fastrank  {r.FastRankMs,9:F1} ms (p95 {r.FastRankP95Ms:F1}), {r.TokensPerSecond:F0} unique tokens/s, {r.ParallelSequences} parallel sequences"));
        w.WriteLine(string.Create(c, $"  floor     {r.FloorMs,9:F1} ms (fastest setting: {r.FloorSetting})"));
        w.WriteLine(string.Create(c, $"  naive     {r.NaiveMs,9:F1} ms"));
        w.WriteLine(string.Create(c, $"  fastrank / floor  {r.RatioToFloor:F3} (min {r.RatioToFloorMin:F3}, max {r.RatioToFloorMax:F3}); target <= 1.10"));
        w.WriteLine(string.Create(c, $"  naive / fastrank  {r.SpeedupVsNaive:F3} (min {r.SpeedupVsNaiveMin:F3}, max {r.SpeedupVsNaiveMax:F3}); target >= {r.NaiveTarget:F3} = 0.85 x (P+D)/D"));
        w.WriteLine(string.Create(c, $"  peak RSS {r.PeakRssMb:F0} MB; model {r.ModelMb:F0} MB + KV {r.KvMb:F0} MB + 200 MB = {r.MemoryBudgetMb:F0} MB"));
        w.WriteLine(string.Create(c, $"  max |score - naive score| {r.MaxScoreDiffVsNaive:G3} (yes-no logit)"));
        w.WriteLine($"  machine: {r.Machine}");
    }
}
