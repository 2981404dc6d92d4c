using System.Globalization;
using FastRank.Diagnostics;
using FastRank.Engine;
using FastRank.Ranking;

namespace FastRank.Cli.Bench;

/// <summary>What every point of a suite shares.</summary>
/// <param name="ModelPath">GGUF model.</param>
/// <param name="Threads">llama.cpp threads (0: every core).</param>
/// <param name="PrefixTokens">Pointwise: tokens of the shared prefix (template head + query).</param>
/// <param name="QueryTokens">FIRST and ICR: tokens of the query.</param>
/// <param name="FloorInFlight">Pointwise floor: sequences in flight tried.</param>
/// <param name="FloorMicroBatches">FIRST floor: micro-batch sizes tried.</param>
/// <param name="LlamaSharpContexts">LLamaReranker context sizes tried (the fastest in calibration counts).</param>
/// <param name="SkipBaselines">Measure FastRank and the floor only.</param>
/// <param name="GpuLayers">Layers offloaded to a GPU (GPU builds of llama.cpp only; 0: CPU).</param>
/// <param name="ScoreHead">Pointwise: the head scores come from.</param>
internal sealed record SuiteWorkload(
    string ModelPath, int Threads, int PrefixTokens, int QueryTokens,
    IReadOnlyList<int> FloorInFlight, IReadOnlyList<int> FloorMicroBatches, IReadOnlyList<int> LlamaSharpContexts, bool SkipBaselines, int GpuLayers = 0,
    ScoreHead ScoreHead = ScoreHead.Auto)
{
    /// <summary>Pointwise FastRank with <see cref="RerankerOptions.ExactShortRunAttention"/>.</summary>
    public bool ExactShortRuns { get; init; } = true;

    public int ThreadCount => Threads > 0 ? Threads : Environment.ProcessorCount;
}

/// <summary>
/// The contenders of each method at one point (documents x tokens per document), on the same inputs:
/// <list type="bullet">
/// <item>pointwise: FastRank; the floor (prefix once plus every suffix as independent sequences, no logits;
/// sequences in flight x flash attention x planned or llama.cpp-split micro-batches); naive per-document
/// decoding; LLamaSharp's LLamaReranker (its own prompt: query and document tokens, see
/// <see cref="LlamaSharpRerankerBaseline"/>), where the model has a rank head;</item>
/// <item>FIRST: FastRank; the floor (the tokens not served by the prefix cache: the query once and every
/// window's passages and tail, micro-batch x flash attention); listwise-generate;</item>
/// <item>ICR (masked calibration, the default): FastRank; the floor (one prefill of every chunk's prompt in a
/// context with flash attention off and no callback); listwise-generate.</item>
/// </list>
/// Every repetition uses a new query whose first word differs from every other's, so no cache serves a query.
/// </summary>
internal static class SuiteMethods
{
    public static PointSetup Setup(RerankMethod method, SuiteWorkload w, int docs, int docTokens, int inputs) => method switch
    {
        RerankMethod.Pointwise => Pointwise(w, docs, docTokens, inputs),
        RerankMethod.First => First(w, docs, docTokens, inputs),
        RerankMethod.Icr => Icr(w, docs, docTokens, inputs),
        _ => throw new UsageException($"the suite measures pointwise, first and icr, not {RerankMethodNames.Name(method)}"),
    };

    private static PointSetup Pointwise(SuiteWorkload w, int n, int docTokens, int inputs)
    {
        var options = new RerankerOptions
        {
            Threads = w.Threads,
            GpuLayers = w.GpuLayers,
            MaxDocumentTokens = Math.Max(512, docTokens + 16),
            MaxQueryTokens = Math.Max(256, w.PrefixTokens),
            ScoreHead = w.ScoreHead,
            ExactShortRunAttention = w.ExactShortRuns,
        };
        var ranker = Reranker.Load(w.ModelPath, options);
        try
        {
            var model = ranker.Model;
            var pw = ranker.Pointwise;
            int threads = w.ThreadCount;
            var docs = PointwiseBench.MakeDocuments(model, n, docTokens);
            int queryTokens = Math.Max(1, w.PrefixTokens - pw.OverheadTokens + pw.TailTokens);
            var queries = PointwiseBench.MakeQueries(model, inputs, queryTokens, distinctFirst: true);
            var prompts = queries.Select(q => pw.BuildPrompt(q, docs, options)).ToArray();
            int prefix = prompts[0].Prefix.Length;
            int maxSuffix = prompts[0].Suffixes.Max(s => s.Length);
            int floorCells = RankingMethods.CellsFor(Math.Max(maxSuffix, prefix));

            var floors = w.FloorInFlight
                .SelectMany(k => new[] { new FloorSetting(k, true, true), new FloorSetting(k, false, true), new FloorSetting(k, true, false) })
                .Select(f =>
                {
                    var ctx = new Held<InferenceContext>(() => f.CreateContext(model, floorCells, maxSuffix, threads));
                    return new Contender(f.ToString(), i => Contender.Time(() => f.Run(ctx.Value, prompts[i].Prefix, prompts[i].Suffixes)), ctx.Release);
                }).ToList();

            var baselines = new List<Contender>();
            var tokens = new Dictionary<string, long>();
            var skipped = new Dictionary<string, string>();
            if (!w.SkipBaselines)
            {
                int maxPrompt = prefix + maxSuffix;
                var naiveCtx = new Held<InferenceContext>(() => new InferenceContext(model,
                    new ContextConfig(1, RankingMethods.CellsFor(maxPrompt), Math.Max(512, maxPrompt), Math.Max(512, maxPrompt), options.FlashAttention, threads)
                    { HiddenStates = pw.ReadsHiddenStates }));
                baselines.Add(new Contender("naive", i => Contender.Time(() =>
                    Baselines.Naive(naiveCtx.Value, prompts[i].Prefix, prompts[i].Suffixes, pw.RawScore, default)), naiveCtx.Release,
                    "each document's whole prompt decoded alone"));
                tokens["naive"] = prompts[0].Suffixes.Sum(s => (long)prefix + s.Length);
                AddLlamaSharp(w, model, queries, docs, baselines, tokens, skipped);
            }
            return new PointSetup
            {
                FastRank = new Contender("fastrank", i => Contender.Time(() => ranker.Rerank(queries[i], docs))),
                FloorCandidates = floors,
                Baselines = baselines,
                UniqueTokens = prefix + prompts[0].Suffixes.Sum(s => (long)s.Length),
                BaselineTokens = tokens,
                Skipped = skipped,
                Release = ranker.Dispose,
                Notes = () => string.Create(CultureInfo.InvariantCulture, $"prefix {prefix} tokens, {ranker.ParallelSequences} parallel sequences"),
            };
        }
        catch
        {
            ranker.Dispose();
            throw;
        }
    }

    /// <summary>LLamaReranker on the same query and documents, the context size chosen like a floor setting (fastest in calibration).</summary>
    private static void AddLlamaSharp(SuiteWorkload w, LlamaModel model, string[] queries, string[] docs,
        List<Contender> baselines, Dictionary<string, long> tokens, Dictionary<string, string> skipped)
    {
        const string Name = "llamasharp-reranker";
        if (w.LlamaSharpContexts.Count == 0) return;
        if (LlamaSharpRerankerBaseline.Unsupported(model.Header) is { } why)
        {
            skipped[Name] = why;
            return;
        }
        var best = LlamaSharpRerankerBaseline.Fastest(model, w.LlamaSharpContexts, queries[0], docs, w.ThreadCount);
        var chosen = new Held<LlamaSharpRerankerBaseline>(() => best);
        baselines.Add(new Contender(Name, i => Contender.Time(() => chosen.Value.Score(queries[i], docs)), chosen.Release, best.ToString()));
        tokens[Name] = best.Tokens(queries[0], docs);
    }

    private static PointSetup First(SuiteWorkload w, int n, int docTokens, int inputs)
    {
        var options = new RerankerOptions { Method = RerankMethod.First, Threads = w.Threads, GpuLayers = w.GpuLayers };
        var ranker = Reranker.Load(w.ModelPath, options);
        try
        {
            var model = ranker.Model;
            var first = (FirstMethod)ranker.Method(RerankMethod.First);
            var config = first.ContextConfig(options);
            int threads = w.ThreadCount;
            var docs = PointwiseBench.MakeDocuments(model, n, docTokens);
            var queries = PointwiseBench.MakeQueries(model, inputs, w.QueryTokens, distinctFirst: true);
            var work = queries.Select(q => FirstBench.FloorJobs(first, q, docs, options)).ToArray();
            var floors = w.FloorMicroBatches
                .SelectMany(b => new[] { (Batch: b, Fa: true), (Batch: b, Fa: false) })
                .Select(s =>
                {
                    var ctx = new Held<InferenceContext>(() => new InferenceContext(model, new ContextConfig(1, config.CellsPerSequence, s.Batch, s.Batch, s.Fa, threads)));
                    return new Contender($"micro-batch {s.Batch}, flash attention {(s.Fa ? "on" : "off")}",
                        i => FirstBench.Floor(ctx.Value, work[i].Head, work[i].Jobs), ctx.Release);
                }).ToList();
            var baselines = new List<Contender>();
            long generated = 0, windows = 0;
            if (!w.SkipBaselines)
            {
                var generate = Generate(w, options);
                var gen = generate.Method;
                baselines.Add(new Contender("listwise-generate", i =>
                {
                    double ms = Contender.Time(() => generate.Ranker.Value.Rerank(queries[i], docs, RerankMethod.ListwiseGenerate));
                    generated += gen.LastWindowStats.GeneratedTokens;
                    windows += gen.LastWindowStats.Windows;
                    return ms;
                }, generate.Ranker.Release, $"same windows, greedy generation (budget {gen.GenerationBudget} tokens a window)"));
            }
            return new PointSetup
            {
                FastRank = new Contender("fastrank", i => Contender.Time(() => ranker.Rerank(queries[i], docs, RerankMethod.First))),
                FloorCandidates = floors,
                Baselines = baselines,
                UniqueTokens = work[0].Jobs.Sum(j => (long)j.Tokens.Length),
                Release = ranker.Dispose,
                Notes = () => string.Create(CultureInfo.InvariantCulture,
                    $"{first.LastWindowStats.Windows} windows{(windows > 0 ? $"; listwise-generate generated {(double)generated / windows:F1} tokens a window" : "")}"),
            };
        }
        catch
        {
            ranker.Dispose();
            throw;
        }
    }

    /// <summary>listwise-generate in a reranker of its own (so that freeing it leaves FastRank's memory alone).</summary>
    private static (Held<Reranker> Ranker, ListwiseGenerateMethod Method) Generate(SuiteWorkload w, RerankerOptions options)
    {
        var held = new Held<Reranker>(() => Reranker.Load(w.ModelPath, options with { Method = RerankMethod.ListwiseGenerate }));
        return (held, (ListwiseGenerateMethod)held.Value.Method(RerankMethod.ListwiseGenerate));
    }

    private static PointSetup Icr(SuiteWorkload w, int n, int docTokens, int inputs)
    {
        var options = new RerankerOptions { Method = RerankMethod.Icr, Threads = w.Threads, GpuLayers = w.GpuLayers, MaxDocumentTokens = Math.Max(512, docTokens + 16) };
        var ranker = Reranker.Load(w.ModelPath, options);
        try
        {
            var model = ranker.Model;
            var icr = (IcrMethod)ranker.Method(RerankMethod.Icr);
            int ubatch = ranker.Engine(RerankMethod.Icr).Context.Config.MicroBatchSize;
            var docs = PointwiseBench.MakeDocuments(model, n, docTokens);
            var queries = PointwiseBench.MakeQueries(model, inputs, w.QueryTokens, distinctFirst: true);
            var prompts = queries.Select(q => icr.BuildPrompt(q, docs)).ToArray();
            var floorCtx = new Held<InferenceContext>(() => new InferenceContext(model, new ContextConfig(1, icr.Cells, ubatch, ubatch, false, w.ThreadCount)));
            var floor = new Contender($"one prefill per chunk, micro-batch {ubatch}, flash attention off", i => Contender.Time(() =>
            {
                foreach (var chunk in prompts[i].Chunks)
                {
                    floorCtx.Value.ClearAll();
                    SequenceBatcher.Run(floorCtx.Value, [new DecodeJob(0, 0, [.. chunk.Prefix, .. prompts[i].QuerySuffix], 0, false)], null, default);
                }
            }), floorCtx.Release);
            var baselines = new List<Contender>();
            if (!w.SkipBaselines)
            {
                var generate = Generate(w, options);
                baselines.Add(new Contender("listwise-generate", i => Contender.Time(() => generate.Ranker.Value.Rerank(queries[i], docs, RerankMethod.ListwiseGenerate)),
                    generate.Ranker.Release, $"windows of {generate.Method.Settings.WindowSize}, greedy generation (budget {generate.Method.GenerationBudget} tokens a window)"));
            }
            return new PointSetup
            {
                FastRank = new Contender("fastrank", i =>
                {
                    icr.ForgetDocuments();
                    return Contender.Time(() => ranker.Rerank(queries[i], docs, RerankMethod.Icr));
                }),
                FloorCandidates = [floor],
                Baselines = baselines,
                UniqueTokens = prompts[0].Chunks.Sum(c => (long)c.Prefix.Length + prompts[0].QuerySuffix.Length),
                Release = ranker.Dispose,
                Notes = () => string.Create(CultureInfo.InvariantCulture, $"{prompts[0].Chunks.Length} chunk(s) of at most {icr.Cells} cells, masked calibration"),
            };
        }
        catch
        {
            ranker.Dispose();
            throw;
        }
    }
}
