using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FastRank.Cli.Bench;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Cli.Commands;

internal static class BenchCommand
{
    /// <summary>The documents sweep of a report.</summary>
    public static readonly int[] DefaultSweepDocs = [10, 20, 50, 100, 200];

    /// <summary>The document-length sweep of a report (20 documents).</summary>
    public static readonly int[] DefaultSweepDocTokens = [32, 64, 128, 256, 512];

    public static Command Create(CliOutput output)
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model file (default: a synthetic model of --shape, created on the fly)" };
        var shape = new Option<string>("--shape") { Description = "Synthetic shape used without --model", DefaultValueFactory = _ => "small" };
        var quant = new Option<string>("--quant") { Description = "Quantization of the synthetic model", DefaultValueFactory = _ => "q8_0" };
        var method = new Option<string[]>("--method")
        {
            Description = "Method(s) to measure: pointwise, first (listwise-generate: first), icr, or all; several run as a suite",
            DefaultValueFactory = _ => ["pointwise"],
            AllowMultipleArgumentsPerToken = true,
        };
        var docs = new Option<int>("--docs") { Description = "Documents per call", DefaultValueFactory = _ => 64 };
        var docTokens = new Option<int>("--doc-tokens") { Description = "Tokens per document", DefaultValueFactory = _ => 128 };
        var prefixTokens = new Option<int>("--prefix-tokens") { Description = "Tokens of the shared prefix (template head + query)", DefaultValueFactory = _ => 100 };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Warm-up repetitions", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all cores)" };
        var parallel = new Option<int>("--parallel") { Description = "FastRank's parallel sequences (0: automatic)" };
        var floorInFlight = new Option<int[]>("--floor-in-flight") { Description = "Sequences in flight tried for the floor (the fastest counts)", DefaultValueFactory = _ => [4, 16], AllowMultipleArgumentsPerToken = true };
        var noNaive = new Option<bool>("--no-naive") { Description = "Skip the naive baseline" };
        var llamaSharpContexts = new Option<int[]>("--llamasharp-context")
        {
            Description = "pointwise: context sizes tried for LLamaSharp's LLamaReranker (the fastest counts)",
            DefaultValueFactory = _ => [1024, 2048, 4096],
            AllowMultipleArgumentsPerToken = true,
        };
        var noLlamaSharp = new Option<bool>("--no-llamasharp") { Description = "pointwise: skip LLamaSharp's LLamaReranker" };
        var paddedShortRuns = new Option<bool>("--padded-short-runs") { Description = "pointwise: FastRank with RerankerOptions.ExactShortRunAttention off (document runs padded to 64 tokens instead of short runs' attention computed by FastRank)" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var queryTokens = new Option<int>("--query-tokens") { Description = "first, icr: tokens of each query", DefaultValueFactory = _ => 16 };
        var longDocs = new Option<int>("--long-docs") { Description = "first: documents of the many-window run (0: skip it)", DefaultValueFactory = _ => 100 };
        var floorBatch = new Option<int[]>("--floor-batch") { Description = "first: micro-batch sizes tried for the floor (the fastest counts)", DefaultValueFactory = _ => [512, 1024], AllowMultipleArgumentsPerToken = true };
        var noGenerate = new Option<bool>("--no-generate") { Description = "first, icr: skip listwise-generate" };
        var sweep = new Option<bool>("--sweep") { Description = "Suite: the scaling sweeps (documents 10..200; 20 documents of 32..512 tokens)" };
        var sweepDocs = new Option<int[]>("--sweep-docs") { Description = "Suite: documents per call of the documents sweep", AllowMultipleArgumentsPerToken = true };
        var sweepDocTokens = new Option<int[]>("--sweep-doc-tokens") { Description = "Suite: tokens per document of the length sweep", AllowMultipleArgumentsPerToken = true };
        var floorRounds = new Option<int>("--floor-rounds") { Description = "Suite: calibration runs of each floor candidate per point", DefaultValueFactory = _ => 2 };
        var report = new Option<string?>("--report") { Description = "Suite: write README.md, report.json and charts into this folder (default sweeps and the target benchmarks)" };
        var noTargets = new Option<bool>("--no-targets") { Description = "Suite with --report: skip the target benchmarks of issues 2, 4, 5" };
        var noBaselines = new Option<bool>("--no-baselines") { Description = "Suite: measure FastRank and the floor only" };
        var gpuLayers = new Option<int>("--gpu-layers") { Description = "Layers to offload to a GPU (GPU builds of llama.cpp only)" };
        var serve = new Option<bool>("--serve") { Description = "Load fastrank serve over loopback (1/4/16 clients, 4/16/64 docs of 32 and 128 tokens) against the in-process library" };
        var serveClients = new Option<int[]>("--clients") { Description = "--serve: concurrent clients", DefaultValueFactory = _ => [1, 4, 16], AllowMultipleArgumentsPerToken = true };
        var serveDocs = new Option<int[]>("--request-docs") { Description = "--serve: documents per request", DefaultValueFactory = _ => [4, 16, 64], AllowMultipleArgumentsPerToken = true };
        var serveTokens = new Option<int[]>("--request-doc-tokens") { Description = "--serve: tokens per document", DefaultValueFactory = _ => [32, 128], AllowMultipleArgumentsPerToken = true };
        var servePerPoint = new Option<int>("--docs-per-point") { Description = "--serve: documents each point sends in all", DefaultValueFactory = _ => 256 };
        var peerUrl = new Option<Uri?>("--peer-url") { Description = "--serve: run the identical workload against this server too (same API, e.g. llama-server --rerank)" };
        var peerModel = new Option<string>("--peer-model") { Description = "--serve: the model name sent to the peer", DefaultValueFactory = _ => "model" };
        var swapSeconds = new Option<int>("--swap-seconds") { Description = "--serve: then load the server this long with the most clients while the model is hot-swapped (0: no swap soak)" };
        var swapEvery = new Option<double>("--swap-every") { Description = "--serve: seconds between swaps of the swap soak", DefaultValueFactory = _ => 10 };
        var scoreHead = ScoreHeadOption.Create();
        var compareScoreHead = new Option<string?>("--compare-score-head")
        {
            Description = "pointwise: also time FastRank with this score head (auto, rank, lm), interleaved, and report the time ratio",
        };
        var soak = SoakCommandOptions.Create();
        var cmd = new Command("bench", "Measure methods against the floor and their baselines on the same tokens; sweeps and reports")
        {
            model, shape, quant, method, docs, docTokens, prefixTokens, reps, warmup, threads, parallel, floorInFlight, noNaive,
            llamaSharpContexts, noLlamaSharp, paddedShortRuns, json, queryTokens, longDocs, floorBatch, noGenerate,
            sweep, sweepDocs, sweepDocTokens, floorRounds, report, noTargets, noBaselines, gpuLayers, scoreHead, compareScoreHead,
            serve, serveClients, serveDocs, serveTokens, servePerPoint, peerUrl, peerModel, swapSeconds, swapEvery,
        };
        soak.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(docs) < 1 || parse.GetValue(docTokens) < 1 || parse.GetValue(prefixTokens) < 1)
                throw new UsageException("--docs, --doc-tokens and --prefix-tokens must be at least 1");
            if (parse.GetValue(reps) < 1 || parse.GetValue(warmup) < 0) throw new UsageException("--reps must be at least 1 and --warmup at least 0");
            if (parse.GetValue(threads) < 0) throw new UsageException("--threads must not be negative");
            int gpu = parse.GetValue(gpuLayers);
            if (gpu < 0) throw new UsageException("--gpu-layers must not be negative");
            int[] inFlight = parse.GetValue(floorInFlight)!;
            if (inFlight.Length == 0 || inFlight.Any(k => k < 1 || k > 255)) throw new UsageException("--floor-in-flight values must be in 1..255");
            int[] batches = parse.GetValue(floorBatch)!;
            if (batches.Length == 0 || batches.Any(b => b < 32 || b > 8192)) throw new UsageException("--floor-batch values must be in 32..8192");
            int[] sharpContexts = parse.GetValue(noLlamaSharp) ? [] : parse.GetValue(llamaSharpContexts)!;
            if (sharpContexts.Any(c => c < 256 || c > 65536)) throw new UsageException("--llamasharp-context values must be in 256..65536");
            if (parse.GetValue(queryTokens) < 1 || parse.GetValue(longDocs) < 0) throw new UsageException("--query-tokens must be at least 1 and --long-docs at least 0");
            if (parse.GetValue(floorRounds) < 1) throw new UsageException("--floor-rounds must be at least 1");
            var methods = ParseMethods(parse.GetValue(method)!);
            ScoreHead? compareHead = null;
            if (parse.GetValue(compareScoreHead) is { } compareText)
            {
                if (!ScoreHeadOption.TryParse(compareText, out var h)) throw new UsageException($"--compare-score-head: unknown score head '{compareText}'; known: auto, rank, lm");
                compareHead = h;
            }
            int[]? docsList = parse.GetValue(sweepDocs) is { Length: > 0 } dl ? dl : null;
            int[]? tokensList = parse.GetValue(sweepDocTokens) is { Length: > 0 } tl ? tl : null;
            if ((docsList ?? []).Any(d => d < 1 || d > 10000) || (tokensList ?? []).Any(t => t < 1 || t > 8192))
                throw new UsageException("--sweep-docs values must be in 1..10000 and --sweep-doc-tokens values in 1..8192");
            string? reportDir = parse.GetValue(report);
            bool fullSweep = parse.GetValue(sweep) || (reportDir is not null && docsList is null && tokensList is null);
            bool suite = methods.Count > 1 || fullSweep || docsList is not null || tokensList is not null || reportDir is not null;
            bool asJson = parse.GetValue(json);

            string? path = parse.GetValue(model);
            string? temp = null;
            string label;
            bool soaking = parse.GetValue(soak.Soak);
            if (path is null)
            {
                ModelShape s;
                // The soak's default model is tiny (thousands of calls); --shape chooses another.
                try { s = ModelShape.Get(soaking && parse.GetResult(shape) is null or { Implicit: true } ? "tiny" : parse.GetValue(shape)!); }
                catch (ArgumentException ex) { throw new UsageException(ex.Message); }
                temp = Path.Combine(Path.GetTempPath(), $"fastrank-bench-{s.Name}-{parse.GetValue(quant)}-{Environment.ProcessId}.gguf");
                if (!asJson) output.Error.WriteLine($"creating synthetic model {s.Name} ({parse.GetValue(quant)}) at {temp}");
                SyntheticModelGenerator.Generate(new SyntheticModelOptions(s, Quantization: parse.GetValue(quant)!), temp);
                path = temp;
                label = $"synthetic {s.Name} ({parse.GetValue(quant)}, random weights)";
            }
            else
            {
                label = Path.GetFileName(path);
            }
            try
            {
                if (soaking) return soak.Run(parse, output, path, label, parse.GetValue(threads), reportDir, asJson);
                if (parse.GetValue(serve))
                {
                    int[] c = parse.GetValue(serveClients)!, d = parse.GetValue(serveDocs)!, t = parse.GetValue(serveTokens)!;
                    if (c.Any(x => x < 1 || x > 256) || d.Any(x => x < 1) || t.Any(x => x < 1 || x > 8192) || c.Length == 0 || d.Length == 0 || t.Length == 0)
                        throw new UsageException("--clients must be in 1..256, --request-docs at least 1, --request-doc-tokens in 1..8192");
                    if (parse.GetValue(swapSeconds) < 0 || parse.GetValue(swapEvery) <= 0) throw new UsageException("--swap-seconds must not be negative and --swap-every must be positive");
                    var serveOptions = new ServeBenchOptions(path, label, c, d, t, Math.Max(1, parse.GetValue(servePerPoint)), parse.GetValue(threads),
                        parse.GetValue(peerUrl), parse.GetValue(peerModel)!, parse.GetValue(swapSeconds), parse.GetValue(swapEvery));
                    string serveCommand = "fastrank " + string.Join(' ', parse.Tokens.Select(x => x.Value));
                    var serveReport = ServeBench.RunAsync(serveOptions, serveCommand, line => output.Error.WriteLine(line), CancellationToken.None).GetAwaiter().GetResult();
                    string md = serveReport.Markdown();
                    if (reportDir is not null)
                    {
                        Directory.CreateDirectory(reportDir);
                        File.WriteAllText(Path.Combine(reportDir, "README.md"), md);
                        output.Error.WriteLine($"wrote {Path.Combine(reportDir, "README.md")}");
                    }
                    if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(serveReport, ReportJson));
                    else output.Out.Write(md);
                    return ExitCodes.Success;
                }
                if (suite)
                {
                    var workload = new SuiteWorkload(path, parse.GetValue(threads), parse.GetValue(prefixTokens), parse.GetValue(queryTokens),
                        inFlight, batches, sharpContexts.Length > 0 ? sharpContexts : [], parse.GetValue(noBaselines), gpu, parse.GetValue(scoreHead))
                    { ExactShortRuns = !parse.GetValue(paddedShortRuns) };
                    bool docsGiven = parse.GetResult(docs) is { Implicit: false };
                    var options = new SuiteOptions(workload, methods,
                        docsList ?? (fullSweep ? DefaultSweepDocs : [parse.GetValue(docs)]), parse.GetValue(docTokens),
                        tokensList ?? (fullSweep ? DefaultSweepDocTokens : []), docsGiven ? parse.GetValue(docs) : 20,
                        parse.GetValue(reps), parse.GetValue(warmup), parse.GetValue(floorRounds), label,
                        reportDir is not null && !parse.GetValue(noTargets));
                    string command = "fastrank " + string.Join(' ', parse.Tokens.Select(t => t.Value));
                    var result = BenchProgress.Show(output, asJson, p => BenchSuite.Run(options, command, p));
                    if (reportDir is not null)
                    {
                        BenchReportWriter.WriteFolder(reportDir, result);
                        if (!asJson) output.Error.WriteLine($"wrote {Path.Combine(reportDir, "README.md")}");
                    }
                    if (asJson) output.Out.WriteLine(BenchReportWriter.Json(result));
                    else BenchReportWriter.PrintTable(output.Out, result);
                    return ExitCodes.Success;
                }
                var single = methods[0];
                if (single == RerankMethod.Icr)
                {
                    var icr = BenchProgress.Show(output, asJson, p => Single(p, "icr", line => IcrBench.Run(
                        new IcrBenchOptions(path, parse.GetValue(docs), parse.GetValue(docTokens), parse.GetValue(reps),
                            parse.GetValue(warmup), parse.GetValue(threads), 0) { SkipGenerate = parse.GetValue(noGenerate), GpuLayers = gpu }, line)));
                    if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(icr, ReportJson));
                    else icr.Print(output.Out);
                    return ExitCodes.Success;
                }
                if (single == RerankMethod.First)
                {
                    // FIRST's defaults where the pointwise ones were left in place: one window of 20 documents of about 100 tokens.
                    int firstDocs = parse.GetResult(docs) is { Implicit: false } ? parse.GetValue(docs) : 20;
                    int firstDocTokens = parse.GetResult(docTokens) is { Implicit: false } ? parse.GetValue(docTokens) : 100;
                    var firstReport = BenchProgress.Show(output, asJson, p => Single(p, "first", line => FirstBench.Run(
                        new FirstBenchOptions(path, firstDocs, firstDocTokens, parse.GetValue(queryTokens), parse.GetValue(longDocs),
                            parse.GetValue(reps), parse.GetValue(warmup), parse.GetValue(threads), batches, parse.GetValue(noGenerate)) { GpuLayers = gpu }, line)));
                    if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(firstReport, ReportJson));
                    else firstReport.Print(output.Out);
                    return ExitCodes.Success;
                }
                var pointwise = BenchProgress.Show(output, asJson, p => Single(p, "pointwise", line => PointwiseBench.Run(
                    new PointwiseBenchOptions(path, parse.GetValue(docs), parse.GetValue(docTokens), parse.GetValue(prefixTokens),
                        parse.GetValue(reps), parse.GetValue(warmup), parse.GetValue(threads), parse.GetValue(parallel), inFlight, parse.GetValue(noNaive))
                    { LlamaSharpContexts = sharpContexts, GpuLayers = gpu, ScoreHead = parse.GetValue(scoreHead), CompareScoreHead = compareHead, ExactShortRuns = !parse.GetValue(paddedShortRuns) }, line)));
                if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(pointwise, ReportJson));
                else Print(output.Out, pointwise);
            }
            finally
            {
                if (temp is not null) File.Delete(temp);
            }
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static T Single<T>(BenchProgress p, string name, Func<Action<string>, T> run)
    {
        p.Begin(1);
        p.Step(name);
        var result = run(p.Line);
        p.End();
        return result;
    }

    /// <summary>Method names of --method (several, or all); listwise-generate is measured as FIRST's baseline.</summary>
    internal static List<RerankMethod> ParseMethods(IEnumerable<string> names)
    {
        var list = new List<RerankMethod>();
        foreach (string raw in names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (string.Equals(raw, "all", StringComparison.OrdinalIgnoreCase))
            {
                list.AddRange([RerankMethod.Pointwise, RerankMethod.First, RerankMethod.Icr]);
                continue;
            }
            if (!RerankMethodNames.TryParse(raw, out var m))
                throw new UsageException($"unknown method '{raw}'; known: {string.Join(", ", Enum.GetValues<RerankMethod>().Select(RerankMethodNames.Name))}, all");
            list.Add(m == RerankMethod.ListwiseGenerate ? RerankMethod.First : m);
        }
        if (list.Count == 0) list.Add(RerankMethod.Pointwise);
        return [.. list.Distinct()];
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
        w.WriteLine(string.Create(c, $"  fastrank  {r.FastRankMs,9:F1} ms (p95 {r.FastRankP95Ms:F1}), {r.TokensPerSecond:F0} unique tokens/s, {r.ParallelSequences} parallel sequences; scores from the {r.ScoreHead}"));
        if (r.CompareScoreHead.Length > 0)
            w.WriteLine(string.Create(c, $"  fastrank with the {r.CompareScoreHead}: {r.CompareMs:F1} ms; ratio {r.RatioToCompare:F3} (min {r.RatioToCompareMin:F3}, max {r.RatioToCompareMax:F3})"));
        w.WriteLine(string.Create(c, $"  floor     {r.FloorMs,9:F1} ms (fastest setting: {r.FloorSetting})"));
        w.WriteLine(string.Create(c, $"  naive     {r.NaiveMs,9:F1} ms"));
        w.WriteLine(string.Create(c, $"  fastrank / floor  {r.RatioToFloor:F3} (min {r.RatioToFloorMin:F3}, max {r.RatioToFloorMax:F3}); target <= 1.10"));
        w.WriteLine(string.Create(c, $"  naive / fastrank  {r.SpeedupVsNaive:F3} (min {r.SpeedupVsNaiveMin:F3}, max {r.SpeedupVsNaiveMax:F3}); target >= {r.NaiveTarget:F3} = 0.85 x (P+D)/D"));
        if (!double.IsNaN(r.LlamaSharpMs))
            w.WriteLine(string.Create(c, $"  LLamaReranker {r.LlamaSharpMs,9:F1} ms ({r.LlamaSharpTokens} tokens: its own prompt, query + document; {r.LlamaSharpSetting}); LLamaReranker / fastrank {r.SpeedupVsLlamaSharp:F3} (min {r.SpeedupVsLlamaSharpMin:F3}, max {r.SpeedupVsLlamaSharpMax:F3})"));
        else if (r.LlamaSharpSetting.Length > 0)
            w.WriteLine($"  LLamaReranker {r.LlamaSharpSetting}");
        w.WriteLine(string.Create(c, $"  peak RSS {r.PeakRssMb:F0} MB; model {r.ModelMb:F0} MB + KV {r.KvMb:F0} MB + 200 MB = {r.MemoryBudgetMb:F0} MB"));
        w.WriteLine(string.Create(c, $"  max |score - naive score| {r.MaxScoreDiffVsNaive:G3} (yes-no logit)"));
        w.WriteLine($"  machine: {r.Machine}");
    }
}
