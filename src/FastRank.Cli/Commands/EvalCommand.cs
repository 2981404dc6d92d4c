using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FastRank.Evaluation.Datasets;
using FastRank.Evaluation.FirstStage;
using FastRank.Evaluation.Formats;
using FastRank.Evaluation.Metrics;
using FastRank.Evaluation.Runner;
using FastRank.Models;
using FastRank.Ranking;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace FastRank.Cli.Commands;

/// <summary>
/// <c>fastrank eval</c>: rerank a test collection's first stage (BM25 or a run file) with one or several methods and
/// report trec_eval's measures, costs and significance; <c>fastrank eval metrics</c>: score an existing run.
/// </summary>
internal static class EvalCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Create(CliOutput output)
    {
        var dataset = new Option<string?>("--dataset", "-D")
        {
            Description = $"A BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) or a BEIR dataset name, downloaded once into the cache " +
                $"({string.Join(", ", BeirDatasets.Known.Keys.Take(4))}, ...)",
        };
        var corpus = new Option<string?>("--corpus") { Description = "Instead of --dataset: the corpus (corpus.jsonl, or TSV docid<TAB>text)" };
        var topics = new Option<string?>("--topics") { Description = "Instead of --dataset: the queries (queries.jsonl, or TSV qid<TAB>text)" };
        var qrels = new Option<string?>("--qrels") { Description = "Instead of --dataset (or to replace its split's): judgments, TREC 'qid 0 docid rel' or BEIR TSV" };
        var split = new Option<string>("--split") { Description = "BEIR split whose qrels are used", DefaultValueFactory = _ => "test" };
        var model = new Option<string?>("--model", "-m") { Description = "Model: a GGUF file, a catalog name, hf://owner/repo/file.gguf or an https URL (default: the catalog's default)" };
        var methods = new Option<string[]>("--method")
        {
            Description = "Method(s): pointwise, first, icr, listwise-generate; repeat or separate with commas to compare several on one first stage " +
                "(default: the catalog's for the model, else pointwise)",
            Arity = ArgumentArity.ZeroOrMore,
            AllowMultipleArgumentsPerToken = true,
        };
        var run = new Option<string?>("--run") { Description = "First stage: a TREC run file (default: BM25 over the corpus, index cached beside the dataset)" };
        var topK = new Option<int>("--top-k", "-k") { Description = "First-stage documents reranked per query", DefaultValueFactory = _ => 100 };
        var queries = new Option<int?>("--queries") { Description = "Evaluate the first N judged queries only (ordinal order of ids)" };
        var metrics = MetricsOption();
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory for the runs and the report (default: fastrank-eval/DATASET)" };
        var json = new Option<bool>("--json") { Description = "Print the JSON report instead of the table" };
        var bm25Index = new Option<string?>("--bm25-index") { Description = "Where the BM25 index is kept (default: DATASET/.fastrank/bm25)" };
        var k1 = new Option<float>("--bm25-k1") { Description = "BM25 k1", DefaultValueFactory = _ => 0.9f };
        var b = new Option<float>("--bm25-b") { Description = "BM25 b", DefaultValueFactory = _ => 0.4f };
        var permutations = new Option<int>("--permutations") { Description = "Permutations of the randomization test", DefaultValueFactory = _ => Significance.DefaultPermutations };
        var cacheDir = CliModels.CacheDir();
        var offline = CliModels.Offline();
        var rerankerOptions = RerankerCliOptions.Create();

        var cmd = new Command("eval", "Evaluate reranking on a test collection (BEIR or TREC files): rerank the first stage's top-k, report trec_eval's measures, latency, tokens, significance")
        {
            dataset, corpus, topics, qrels, split, model, methods, run, topK, queries, metrics, outDir, json, bm25Index, k1, b, permutations,
            cacheDir, offline,
        };
        rerankerOptions.AddTo(cmd);
        cmd.Add(CreateMetrics(output));
        cmd.SetAction(async (parse, ct) =>
        {
            bool verbose = parse.GetValue(Cli.Verbose);
            int k = parse.GetValue(topK);
            if (k < 1) throw new UsageException("--top-k must be at least 1");
            if (parse.GetValue(queries) is < 1) throw new UsageException("--queries must be at least 1");
            if (parse.GetValue(permutations) < 1) throw new UsageException("--permutations must be at least 1");
            if (parse.GetValue(k1) is < 0 or float.NaN) throw new UsageException("--bm25-k1 must not be negative");
            if (parse.GetValue(b) is < 0 or > 1 or float.NaN) throw new UsageException("--bm25-b must be between 0 and 1");
            var metricList = ReadMetrics(parse.GetValue(metrics));
            var kinds = ParseMethods(parse.GetValue(methods) ?? []);
            using var loggerFactory = CliModels.Logging(verbose);
            var options = rerankerOptions.Read(parse, kinds.Count > 0 ? kinds[0] : RerankMethod.Pointwise, loggerFactory);
            bool isOffline = parse.GetValue(offline);

            var data = await LoadDatasetAsync(parse.GetValue(dataset), parse.GetValue(corpus), parse.GetValue(topics), parse.GetValue(qrels), parse.GetValue(split)!,
                parse.GetValue(cacheDir), isOffline, loggerFactory, output, ct).ConfigureAwait(false);
            var evalQueries = data.EvaluationQueries(parse.GetValue(queries));
            if (evalQueries.Count == 0) throw new FastRankException($"{data.Name}: no judged query has a text (the qrels and the queries share no id)");

            // First stage: the given run, or BM25's top-k (only the top-k is reranked and evaluated).
            TrecRun firstStage;
            string firstStageName;
            if (parse.GetValue(run) is { } runPath)
            {
                firstStage = TrecRun.Read(runPath);
                firstStageName = Path.GetFileName(runPath);
                int absent = evalQueries.Count(q => !firstStage.Contains(q));
                if (absent == evalQueries.Count)
                    throw new FastRankException($"{runPath}: the run has no results for any of the {evalQueries.Count} judged queries of {data.Name} (do its query ids match the qrels'?)");
                if (absent > 0)
                    output.Error.WriteLine($"fastrank: note: the run has no results for {absent} of the {evalQueries.Count} judged queries; they score 0 for every system");
            }
            else
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                output.Error.WriteLine(string.Create(Inv, $"bm25: opening the index of {data.Name} ({data.Corpus.Count} documents; built on first use, then cached)"));
                using var index = Bm25Index.OpenOrBuild(data, parse.GetValue(bm25Index), new Bm25Parameters(parse.GetValue(k1), parse.GetValue(b)));
                firstStage = index.Search(data.Queries, evalQueries, k);
                firstStageName = "bm25";
                output.Error.WriteLine(string.Create(Inv, $"bm25: {(index.Built ? "built" : "cached")} index of {index.Count} documents at {index.Path}; {evalQueries.Count} queries searched in {sw.Elapsed.TotalSeconds:F1} s"));
            }

            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), isOffline, loggerFactory);
            var reference = CliModels.Parse(resolver, parse.GetValue(model));
            var resolved = await CliModels.ResolveWithProgressAsync(resolver, reference, output, ct).ConfigureAwait(false);
            if (resolved.Entry is { } entry) options = entry.ApplyTo(options, kinds.Count > 0 ? kinds[0] : null);
            if (kinds.Count == 0) kinds = [options.Method];
            await using var reranker = await Reranker.LoadAsync(resolved.Path, options, ct).ConfigureAwait(false);
            string modelName = Path.GetFileNameWithoutExtension(resolved.Path);
            var systems = kinds.Select(m => new EvalSystem($"{modelName}.{RerankMethodNames.Name(m)}", reranker, m)).ToList();
            var runOptions = new EvalRunOptions { TopK = k, MaxQueries = parse.GetValue(queries), Metrics = metricList, Permutations = parse.GetValue(permutations) };

            var outcome = await WithProgressAsync(output, systems, evalQueries.Count,
                p => EvalRunner.RunAsync(data, firstStage, firstStageName, systems, runOptions, p, ct)).ConfigureAwait(false);
            string dir = parse.GetValue(outDir) ?? Path.Combine("fastrank-eval", data.Name);
            string report = EvalReportWriter.Write(outcome, dir);
            if (parse.GetValue(json)) output.Out.WriteLine(EvalReportWriter.Json(outcome));
            else WriteSummary(output.Out, outcome, report);
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static Command CreateMetrics(CliOutput output)
    {
        var runArg = new Argument<string>("run") { Description = "A TREC run file (qid Q0 docid rank score tag)" };
        var qrelsArg = new Argument<string>("qrels") { Description = "Judgments: TREC qrels (qid 0 docid rel) or BEIR TSV" };
        var metrics = MetricsOption();
        var perQuery = new Option<bool>("--per-query", "-q") { Description = "Print each query's values too (as trec_eval -q)" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var complete = new Option<bool>("--complete", "-c") { Description = "Score judged queries the run lacks as 0 (trec_eval -c); default: skip them" };
        var trecNames = new Option<bool>("--trec-names") { Description = "Name measures as trec_eval does (ndcg_cut_10, recip_rank, P_10, ...)" };
        var baseline = new Option<string?>("--baseline") { Description = "A second run: paired t-test and randomization test of RUN against it, per measure" };
        var permutations = new Option<int>("--permutations") { Description = "Permutations of the randomization test", DefaultValueFactory = _ => Significance.DefaultPermutations };
        var cmd = new Command("metrics", "Score an existing TREC run against qrels, as trec_eval does (no model needed)")
        {
            runArg, qrelsArg, metrics, perQuery, json, complete, trecNames, baseline, permutations,
        };
        cmd.SetAction(parse =>
        {
            var metricList = ReadMetrics(parse.GetValue(metrics));
            if (parse.GetValue(permutations) < 1) throw new UsageException("--permutations must be at least 1");
            var runFile = TrecRun.Read(parse.GetValue(runArg)!);
            var judgments = Qrels.Read(parse.GetValue(qrelsArg)!);
            bool all = parse.GetValue(complete);
            var result = RetrievalEvaluator.Evaluate(runFile, judgments, metricList, all);
            EvaluationResult? baseResult = null;
            IReadOnlyList<PairedComparison> comparisons = [];
            if (parse.GetValue(baseline) is { } basePath)
            {
                baseResult = RetrievalEvaluator.Evaluate(TrecRun.Read(basePath), judgments, metricList, all);
                comparisons = [.. metricList.Select(m => Significance.Compare(baseResult.Values(m), result.Values(m), parse.GetValue(permutations)))];
            }
            if (result.MissingFromRun.Count > 0 && !all)
                output.Error.WriteLine($"fastrank: note: {result.MissingFromRun.Count} judged quer{(result.MissingFromRun.Count == 1 ? "y has" : "ies have")} no results in the run and {(result.MissingFromRun.Count == 1 ? "is" : "are")} skipped (use --complete to score them 0): {Abbreviate(result.MissingFromRun)}");
            if (parse.GetValue(json)) WriteMetricsJson(output.Out, runFile, result, baseResult, comparisons);
            else WriteMetricsText(output.Out, runFile, result, parse.GetValue(perQuery), parse.GetValue(trecNames), comparisons);
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static Option<string?> MetricsOption() => new("--metrics")
    {
        Description = "Measures, comma separated: ndcg@K, mrr@K, recall@K, p@K, map, map@K (or trec_eval's names); default: ndcg@10,mrr@10,recall@100,map",
    };

    private static IReadOnlyList<MetricSpec> ReadMetrics(string? text)
    {
        if (text is null) return MetricSpec.Defaults;
        try { return MetricSpec.ParseList(text); }
        catch (FormatException ex) { throw new UsageException($"--metrics: {ex.Message}"); }
    }

    internal static List<RerankMethod> ParseMethods(string[] values)
    {
        var list = new List<RerankMethod>();
        foreach (string v in values.SelectMany(x => x.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!RerankMethodNames.TryParse(v, out var m))
                throw new UsageException($"--method: unknown method '{v}'; known: {string.Join(", ", Enum.GetValues<RerankMethod>().Select(RerankMethodNames.Name))}");
            if (!list.Contains(m)) list.Add(m);
        }
        return list;
    }

    private static async Task<EvalDataset> LoadDatasetAsync(string? dataset, string? corpus, string? topics, string? qrels, string split,
        string? cacheDir, bool offline, ILoggerFactory? logging, CliOutput output, CancellationToken ct)
    {
        if (dataset is null)
        {
            if (corpus is null || topics is null || qrels is null)
                throw new UsageException("give --dataset DIR|NAME, or all of --corpus, --topics and --qrels");
            return EvalDataset.LoadFiles(corpus, topics, qrels);
        }
        if (corpus is not null || topics is not null) throw new UsageException("--corpus and --topics replace --dataset; give one or the other");
        string dir = dataset;
        if (!Directory.Exists(dataset))
        {
            if (!BeirDatasets.IsName(dataset)) throw new DirectoryNotFoundException($"no such dataset directory: {dataset}");
            using var downloader = new ModelDownloader(new ModelDownloaderOptions { LoggerFactory = logging });
            bool envOffline = Environment.GetEnvironmentVariable("FASTRANK_OFFLINE") is "1" or "true" or "TRUE" or "True";
            var beir = new BeirDatasets(downloader, cacheDir, offline: offline || envOffline);
            dir = beir.TryGetCached(dataset) ?? await CliModels.WithProgressAsync(output, dataset + ".zip", "downloading",
                p => beir.ResolveAsync(dataset, p, ct)).ConfigureAwait(false);
        }
        var data = EvalDataset.LoadBeir(dir, split);
        return qrels is null ? data : data.WithQrels(Qrels.Read(qrels));
    }

    /// <summary>Runs the evaluation with a progress bar per system on a terminal, plain lines (every 10%) otherwise.</summary>
    private static async Task<EvalOutcome> WithProgressAsync(CliOutput output, IReadOnlyList<EvalSystem> systems, int total, Func<IProgress<EvalProgress>, Task<EvalOutcome>> work)
    {
        bool terminal = ReferenceEquals(output.Error, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal)
        {
            int lastDecile = -1;
            string? lastSystem = null;
            var plain = new CliModels.SyncProgress<EvalProgress>(p =>
            {
                int decile = p.Done * 10 / Math.Max(1, p.Total);
                if (decile == lastDecile && p.System == lastSystem) return;
                lastDecile = decile;
                lastSystem = p.System;
                output.Error.WriteLine(string.Create(Inv, $"{p.System}: {p.Done}/{p.Total} queries"));
            });
            return await work(plain).ConfigureAwait(false);
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        EvalOutcome outcome = null!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var tasks = systems.ToDictionary(s => s.Name, s => ctx.AddTask(Markup.Escape(s.Name), maxValue: total), StringComparer.Ordinal);
                var progress = new CliModels.SyncProgress<EvalProgress>(p =>
                {
                    var task = tasks[p.System];
                    task.Value = p.Done;
                    task.Description = Markup.Escape(string.Create(Inv, $"{p.System} ({p.LastLatencyMs:F0} ms/query)"));
                });
                outcome = await work(progress).ConfigureAwait(false);
            }).ConfigureAwait(false);
        return outcome;
    }

    private static void WriteSummary(TextWriter w, EvalOutcome outcome, string reportPath)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w) });
        // Not a terminal (a file, a pipe, a test): no width to fit, so the table is not wrapped at 80 columns.
        if (!ReferenceEquals(w, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 240;
        var metrics = outcome.Options.Metrics;
        var table = new Table().AddColumn("system").AddColumn("method");
        foreach (var m in metrics) table.AddColumn(new TableColumn(m.Name).RightAligned());
        table.AddColumn(new TableColumn("ms/query").RightAligned()).AddColumn(new TableColumn("tokens/query").RightAligned());
        foreach (var s in new[] { outcome.FirstStage }.Concat(outcome.Systems))
        {
            var cells = new List<string> { Markup.Escape(s.Name), s.Method is { } me ? RerankMethodNames.Name(me) : "-" };
            for (int i = 0; i < metrics.Count; i++)
            {
                string star = s.VersusFirstStage.Count > 0 && s.VersusFirstStage[i].TTestP < 0.05 && s.VersusFirstStage[i].RandomizationP < 0.05 ? "*" : "";
                cells.Add(s.Evaluation.Means[i].ToString("F4", Inv) + star);
            }
            cells.Add(s.Costs.Count > 0 ? s.Costs.Average(c => c.LatencyMs).ToString("F1", Inv) : "-");
            cells.Add(s.Costs.Count > 0 ? s.Costs.Average(c => (double)c.PromptTokens).ToString("F0", Inv) : "-");
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape(string.Create(Inv,
            $"{outcome.Dataset}: {outcome.QueryIds.Count} queries, first stage {outcome.FirstStageName} top {outcome.Options.TopK}; * p < 0.05 against it (t-test and randomization). Report: {reportPath}")));
    }

    private static void WriteMetricsText(TextWriter w, TrecRun run, EvaluationResult result, bool perQuery, bool trecNames, IReadOnlyList<PairedComparison> comparisons)
    {
        string Name(MetricSpec m) => trecNames ? m.TrecEvalName : m.Name;
        if (perQuery)
        {
            foreach (var q in result.PerQuery)
            {
                for (int i = 0; i < result.Metrics.Count; i++) w.WriteLine(string.Create(Inv, $"{Name(result.Metrics[i]),-22}\t{q.QueryId}\t{q.Values[i]:F4}"));
            }
        }
        w.WriteLine($"{"runid",-22}\tall\t{run.Tag}");
        w.WriteLine(string.Create(Inv, $"{"num_q",-22}\tall\t{result.PerQuery.Count}"));
        for (int i = 0; i < result.Metrics.Count; i++) w.WriteLine(string.Create(Inv, $"{Name(result.Metrics[i]),-22}\tall\t{result.Means[i]:F4}"));
        if (comparisons.Count > 0)
        {
            w.WriteLine();
            w.WriteLine("measure                \tqueries\tdifference\tt\tp(t-test)\tp(randomization)");
            for (int i = 0; i < comparisons.Count; i++)
            {
                var c = comparisons[i];
                w.WriteLine(string.Create(Inv, $"{Name(result.Metrics[i]),-22}\t{c.Queries}\t{c.MeanDifference:+0.0000;-0.0000;0.0000}\t{c.TStatistic:F3}\t{c.TTestP:G4}\t{c.RandomizationP:G4}"));
            }
        }
    }

    private static void WriteMetricsJson(TextWriter w, TrecRun run, EvaluationResult result, EvaluationResult? baseline, IReadOnlyList<PairedComparison> comparisons)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteString("run", run.Tag);
            j.WriteNumber("num_q", result.PerQuery.Count);
            j.WriteStartObject("mean");
            for (int i = 0; i < result.Metrics.Count; i++) j.WriteNumber(result.Metrics[i].Name, result.Means[i]);
            j.WriteEndObject();
            j.WriteStartArray("per_query");
            foreach (var q in result.PerQuery)
            {
                j.WriteStartObject();
                j.WriteString("query", q.QueryId);
                j.WriteNumber("relevant", q.Relevant);
                j.WriteNumber("retrieved", q.Retrieved);
                for (int i = 0; i < result.Metrics.Count; i++) j.WriteNumber(result.Metrics[i].Name, q.Values[i]);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartArray("missing_from_run");
            foreach (string q in result.MissingFromRun) j.WriteStringValue(q);
            j.WriteEndArray();
            j.WriteStartArray("missing_from_qrels");
            foreach (string q in result.MissingFromQrels) j.WriteStringValue(q);
            j.WriteEndArray();
            if (baseline is not null)
            {
                j.WriteStartObject("versus_baseline");
                for (int i = 0; i < comparisons.Count; i++)
                {
                    var c = comparisons[i];
                    j.WriteStartObject(result.Metrics[i].Name);
                    j.WriteNumber("baseline_mean", baseline.Means[i]);
                    j.WriteNumber("queries", c.Queries);
                    j.WriteNumber("mean_difference", c.MeanDifference);
                    if (double.IsFinite(c.TStatistic)) j.WriteNumber("t", c.TStatistic); else j.WriteNull("t");
                    if (double.IsFinite(c.TTestP)) j.WriteNumber("p_t_test", c.TTestP); else j.WriteNull("p_t_test");
                    j.WriteNumber("p_randomization", c.RandomizationP);
                    j.WriteNumber("permutations", c.Permutations);
                    j.WriteEndObject();
                }
                j.WriteEndObject();
            }
            j.WriteEndObject();
        }
        w.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static string Abbreviate(IReadOnlyList<string> ids) =>
        ids.Count <= 8 ? string.Join(", ", ids) : string.Join(", ", ids.Take(8)) + $", ... ({ids.Count} in all)";
}
