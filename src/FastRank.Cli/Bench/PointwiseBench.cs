using System.Text.Json.Serialization;
using FastRank.Diagnostics;
using FastRank.Engine;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Cli.Bench;

/// <summary>Settings of a pointwise benchmark run.</summary>
internal sealed record PointwiseBenchOptions(
    string ModelPath, int Documents, int DocumentTokens, int PrefixTokens, int Repetitions, int Warmup, int Threads, int Parallel,
    IReadOnlyList<int> FloorInFlight, bool SkipNaive)
{
    /// <summary>LLamaReranker context sizes tried (the fastest counts); empty: LLamaReranker is not measured.</summary>
    public IReadOnlyList<int> LlamaSharpContexts { get; init; } = [];

    /// <summary>Layers offloaded to a GPU (GPU builds of llama.cpp only).</summary>
    public int GpuLayers { get; init; }

    /// <summary>FastRank with <see cref="RerankerOptions.ExactShortRunAttention"/>.</summary>
    public bool ExactShortRuns { get; init; } = true;

    /// <summary>The head FastRank's scores come from.</summary>
    public ScoreHead ScoreHead { get; init; }

    /// <summary>Another score head to time FastRank with, interleaved with the first (null: none).</summary>
    public ScoreHead? CompareScoreHead { get; init; }
}

/// <summary>What one pointwise benchmark run measured. Ratios are medians over repetitions of per-repetition ratios.</summary>
internal sealed record PointwiseBenchReport(
    string Method, int Docs, int PrefixTokens, int DocTokens, int HeadTokens,
    [property: JsonPropertyName("fastrank_ms")] double FastRankMs, [property: JsonPropertyName("fastrank_p95_ms")] double FastRankP95Ms, double FloorMs, string FloorSetting, double NaiveMs,
    double RatioToFloor, double RatioToFloorMin, double RatioToFloorMax,
    double SpeedupVsNaive, double SpeedupVsNaiveMin, double SpeedupVsNaiveMax, double NaiveTarget,
    double TokensPerSecond, double PeakRssMb, double ModelMb, double KvMb, double MemoryBudgetMb, int ParallelSequences,
    double MaxScoreDiffVsNaive, int Repetitions, string Machine,
    [property: JsonPropertyName("llamasharp_ms")] double LlamaSharpMs = double.NaN,
    [property: JsonPropertyName("speedup_vs_llamasharp")] double SpeedupVsLlamaSharp = double.NaN,
    [property: JsonPropertyName("speedup_vs_llamasharp_min")] double SpeedupVsLlamaSharpMin = double.NaN,
    [property: JsonPropertyName("speedup_vs_llamasharp_max")] double SpeedupVsLlamaSharpMax = double.NaN,
    [property: JsonPropertyName("llamasharp_tokens")] long LlamaSharpTokens = 0,
    [property: JsonPropertyName("llamasharp_setting")] string LlamaSharpSetting = "")
{
    /// <summary>The head FastRank's scores came from (and how it was applied).</summary>
    public string ScoreHead { get; init; } = "";

    /// <summary>The other score head timed (empty: none).</summary>
    public string CompareScoreHead { get; init; } = "";

    /// <summary>Median time of FastRank with <see cref="CompareScoreHead"/>.</summary>
    public double CompareMs { get; init; } = double.NaN;

    /// <summary>Median over repetitions of FastRank's time / FastRank's time with <see cref="CompareScoreHead"/>.</summary>
    public double RatioToCompare { get; init; } = double.NaN;

    /// <summary>Smallest per-repetition ratio.</summary>
    public double RatioToCompareMin { get; init; } = double.NaN;

    /// <summary>Largest per-repetition ratio.</summary>
    public double RatioToCompareMax { get; init; } = double.NaN;
}

/// <summary>One way of computing the floor's tokens.</summary>
/// <param name="InFlight">Sequences decoded together.</param>
/// <param name="FlashAttention">Flash attention on or off.</param>
/// <param name="Planned">Micro-batches planned as FastRank plans them (true) or cut by llama.cpp from large batches (false).</param>
internal sealed record FloorSetting(int InFlight, bool FlashAttention, bool Planned)
{
    public InferenceContext CreateContext(LlamaModel model, int cells, int maxSuffix, int threads) =>
        new(model, Planned
            ? new ContextConfig(InFlight + 1, cells, 512, 512, FlashAttention, threads)
            : new ContextConfig(InFlight + 1, cells, Math.Clamp(InFlight * maxSuffix, 512, 8192), 512, FlashAttention, threads));

    public void Run(InferenceContext ctx, int[] prefix, IReadOnlyList<int[]> suffixes)
    {
        if (Planned) Baselines.Floor(ctx, prefix, suffixes, InFlight, default);
        else Baselines.FloorUnplanned(ctx, prefix, suffixes, InFlight, default);
    }

    public override string ToString() =>
        $"{InFlight} in flight, flash attention {(FlashAttention ? "on" : "off")}, {(Planned ? "planned micro-batches" : "llama.cpp's own split")}";
}

/// <summary>
/// Measures, in one process and interleaved repetition by repetition, FastRank's pointwise reranking,
/// the floor (the same unique tokens decoded with no sharing and no scoring, fastest of several
/// sequences-in-flight settings) and the naive per-document decode, on the same tokens.
/// </summary>
internal static class PointwiseBench
{
    public static PointwiseBenchReport Run(PointwiseBenchOptions o, Action<string>? progress = null)
    {
        var rerankOptions = new RerankerOptions
        {
            Threads = o.Threads,
            GpuLayers = o.GpuLayers,
            ParallelSequences = o.Parallel,
            MaxDocumentTokens = Math.Max(512, o.DocumentTokens + 16),
            MaxQueryTokens = Math.Max(256, o.PrefixTokens),
            ScoreHead = o.ScoreHead,
            ExactShortRunAttention = o.ExactShortRuns,
        };
        using var ranker = Reranker.Load(o.ModelPath, rerankOptions);
        // The same reranker with the other score head (its own weights and context), timed in the same repetitions.
        using var other = o.CompareScoreHead is { } head ? Reranker.Load(o.ModelPath, rerankOptions with { ScoreHead = head }) : null;
        var model = ranker.Model;
        var pw = ranker.Pointwise;
        int threads = o.Threads > 0 ? o.Threads : Environment.ProcessorCount;

        // Inputs: documents of about DocumentTokens tokens; one query per repetition, all of the same length.
        var docs = MakeDocuments(model, o.Documents, o.DocumentTokens);
        int queryTokens = Math.Max(1, o.PrefixTokens - pw.OverheadTokens + pw.TailTokens);
        var queries = MakeQueries(model, o.Warmup + o.Repetitions, queryTokens);
        var prompts = queries.Select(q => pw.BuildPrompt(q, docs, rerankOptions)).ToArray();
        int prefixTokens = prompts[0].Prefix.Length;
        double docTokens = prompts[0].Suffixes.Average(s => s.Length);

        int maxPrompt = prefixTokens + prompts[0].Suffixes.Max(s => s.Length);
        int cells = RankingMethods.CellsFor(maxPrompt);
        int maxSuffix = prompts[0].Suffixes.Max(s => s.Length);

        // The floor is the fastest way to compute these tokens, so it is the best of several settings: sequences
        // in flight, flash attention on and off, micro-batches planned as FastRank plans them or cut by llama.cpp
        // itself. Each setting runs twice (interleaved); the one with the lowest median is the floor of the
        // timed repetitions. (Taking the minimum of every setting in every repetition would pick noise.)
        var settings = o.FloorInFlight
            .SelectMany(k => new[] { new FloorSetting(k, true, true), new FloorSetting(k, false, true), new FloorSetting(k, true, false) })
            .ToArray();
        int floorCells = RankingMethods.CellsFor(Math.Max(maxSuffix, prefixTokens));
        var calibration = settings.ToDictionary(f => f, _ => new List<double>());
        foreach (int run in (int[])[0, 1])
        {
            foreach (var f in settings)
            {
                using var ctx = f.CreateContext(model, floorCells, maxSuffix, threads);
                double ms = Contender.Time(() => f.Run(ctx, prompts[0].Prefix, prompts[0].Suffixes));
                calibration[f].Add(ms);
                progress?.Invoke($"floor setting {f}: {ms:F0} ms");
            }
        }
        var best = settings.OrderBy(f => Stat.Of(calibration[f]).Median).First();
        using var floorCtx = best.CreateContext(model, floorCells, maxSuffix, threads);
        using var naiveCtx = o.SkipNaive ? null : new InferenceContext(model,
            new ContextConfig(1, cells, Math.Max(512, maxPrompt), Math.Max(512, maxPrompt), rerankOptions.FlashAttention, threads)
            { HiddenStates = pw.ReadsHiddenStates });

        // LLamaSharp's own reranker on the same query and documents (its own prompt format), where the model has a rank head.
        LlamaSharpRerankerBaseline? llamaSharp = null;
        string llamaSharpSetting = "";
        if (o.LlamaSharpContexts.Count > 0)
        {
            if (LlamaSharpRerankerBaseline.Unsupported(model.Header) is { } why)
            {
                llamaSharpSetting = $"not run: {why}";
                progress?.Invoke($"LLamaReranker {llamaSharpSetting}");
            }
            else
            {
                llamaSharp = LlamaSharpRerankerBaseline.Fastest(model, o.LlamaSharpContexts, queries[0], docs, threads, progress);
                llamaSharpSetting = llamaSharp.ToString();
            }
        }
        long llamaSharpTokens = llamaSharp?.Tokens(queries[0], docs) ?? 0;

        var fast = new List<double>();
        var floor = new List<double>();
        var naive = new List<double>();
        var sharp = new List<double>();
        var ratioSharp = new List<double>();
        var ratioFloor = new List<double>();
        var ratioNaive = new List<double>();
        var compare = new List<double>();
        var ratioCompare = new List<double>();
        double maxDiff = 0;
        for (int rep = 0; rep < o.Warmup + o.Repetitions; rep++)
        {
            bool timed = rep >= o.Warmup;
            var prompt = prompts[rep];
            double floorMs = 0, fastMs = 0, naiveMs = double.NaN, sharpMs = double.NaN, otherMs = double.NaN;
            RerankResult? result = null;
            double[]? naiveScores = null;
            void RunFloor() => floorMs = Contender.Time(() => best.Run(floorCtx, prompt.Prefix, prompt.Suffixes));
            void RunFast() => fastMs = Contender.Time(() => result = ranker.Rerank(queries[rep], docs));
            void RunOther()
            {
                if (other is not null) otherMs = Contender.Time(() => other.Rerank(queries[rep], docs));
            }
            void RunNaive()
            {
                if (naiveCtx is not null)
                    naiveMs = Contender.Time(() => naiveScores = Baselines.Naive(naiveCtx, prompt.Prefix, prompt.Suffixes, pw.RawScore, default));
            }
            void RunSharp()
            {
                if (llamaSharp is not null) sharpMs = Contender.Time(() => llamaSharp.Score(queries[rep], docs));
            }
            // Alternate the order: on a shared machine whatever runs first in a repetition fares differently.
            if (rep % 2 == 0) { RunFloor(); RunFast(); RunOther(); RunNaive(); RunSharp(); }
            else { RunSharp(); RunNaive(); RunOther(); RunFast(); RunFloor(); }
            if (naiveScores is not null)
                foreach (var r in result!) maxDiff = Math.Max(maxDiff, Math.Abs(r.RawScore - naiveScores[r.Index]));
            progress?.Invoke($"{(timed ? "rep" : "warm-up")} {rep + 1 - (timed ? o.Warmup : 0)}: fastrank {fastMs:F0} ms, floor {floorMs:F0} ms, naive {naiveMs:F0} ms" +
                (llamaSharp is null ? "" : $", LLamaReranker {sharpMs:F0} ms") + (other is null ? "" : $", fastrank ({o.CompareScoreHead} head) {otherMs:F0} ms"));
            if (!timed) continue;
            fast.Add(fastMs);
            floor.Add(floorMs);
            ratioFloor.Add(fastMs / floorMs);
            if (!double.IsNaN(naiveMs))
            {
                naive.Add(naiveMs);
                ratioNaive.Add(naiveMs / fastMs);
            }
            if (!double.IsNaN(otherMs))
            {
                compare.Add(otherMs);
                ratioCompare.Add(fastMs / otherMs);
            }
            if (!double.IsNaN(sharpMs))
            {
                sharp.Add(sharpMs);
                ratioSharp.Add(sharpMs / fastMs);
            }
        }
        llamaSharp?.Dispose();
        naiveCtx?.Dispose();
        floorCtx.Dispose();

        // Peak memory of FastRank alone: the baselines' contexts are gone; reset the high-water mark and rerun.
        double peakMb = ProcessMemory.PeakDuring(() =>
        {
            for (int i = 0; i < 2; i++) ranker.Rerank(queries[i % queries.Length], docs);
        }) / 1e6;

        var fs = Stat.Of(fast);
        var rf = Stat.Of(ratioFloor);
        var rn = Stat.Of(ratioNaive);
        var rs = Stat.Of(ratioSharp);
        var rc = Stat.Of(ratioCompare);
        double kvMb = (double)ranker.Engine(RerankMethod.Pointwise).Context.Config.Sequences * ranker.Engine(RerankMethod.Pointwise).CellsPerSequence * model.KvBytesPerCell / 1e6;
        double modelMb = new FileInfo(o.ModelPath).Length / 1e6;
        return new PointwiseBenchReport(
            "pointwise", o.Documents, prefixTokens, (int)Math.Round(docTokens), pw.HeadLength,
            fs.Median, fs.P95, Stat.Of(floor).Median, best.ToString(), naive.Count > 0 ? Stat.Of(naive).Median : double.NaN,
            rf.Median, rf.Min, rf.Max, rn.Median, rn.Min, rn.Max,
            0.85 * (prefixTokens + docTokens) / docTokens,
            (prefixTokens + docTokens * o.Documents) / (fs.Median / 1000.0),
            peakMb, modelMb, kvMb, modelMb + kvMb + 200, ranker.ParallelSequences, maxDiff, o.Repetitions, MachineInfo.Current().ToString(),
            sharp.Count > 0 ? Stat.Of(sharp).Median : double.NaN, rs.Median, rs.Min, rs.Max, llamaSharpTokens, llamaSharpSetting)
        {
            ScoreHead = pw.HeadName,
            CompareScoreHead = other is null ? "" : other.Pointwise.HeadName,
            CompareMs = compare.Count > 0 ? Stat.Of(compare).Median : double.NaN,
            RatioToCompare = rc.Median,
            RatioToCompareMin = rc.Min,
            RatioToCompareMax = rc.Max,
        };
    }

    /// <summary>Documents whose text tokenizes to about <paramref name="tokens"/> tokens each.</summary>
    internal static string[] MakeDocuments(LlamaModel model, int count, int tokens)
    {
        var random = new Random(12345);
        var docs = new string[count];
        for (int i = 0; i < count; i++) docs[i] = TextOfTokens(model, random, tokens);
        return docs;
    }

    private static string TextOfTokens(LlamaModel model, Random random, int tokens)
    {
        string text = SyntheticText.Sentence(random, Math.Max(1, tokens * 3 / 4));
        // Grow or shrink word by word until the tokenizer agrees.
        var words = text.Split(' ').ToList();
        while (model.TokenizeText(" " + string.Join(' ', words)).Length < tokens) words.Add(SyntheticText.Sentence(random, 1).TrimEnd('.').ToLowerInvariant());
        while (words.Count > 1 && model.TokenizeText(" " + string.Join(' ', words)).Length > tokens) words.RemoveAt(words.Count - 1);
        return string.Join(' ', words);
    }

    /// <summary>
    /// <paramref name="count"/> distinct queries of exactly <paramref name="tokens"/> tokens: a shared stem and one
    /// distinct word, last, or first (<paramref name="distinctFirst"/>: no prefix cache can then serve one query's
    /// tokens from another's).
    /// </summary>
    internal static string[] MakeQueries(LlamaModel model, int count, int tokens, bool distinctFirst = false)
    {
        var random = new Random(distinctFirst ? 778 : 777);
        string stem = TextOfTokens(model, random, Math.Max(distinctFirst ? 1 : 0, tokens - 1));
        int stemLen = model.TokenizeText(" " + stem).Length;
        var queries = new List<string>(count);
        foreach (string w in SyntheticText.Words)
        {
            if (queries.Count == count) break;
            string q = distinctFirst ? w + " " + stem : stem + " " + w;
            if (model.TokenizeText(" " + q).Length == stemLen + 1) queries.Add(q);
        }
        if (queries.Count < count) throw new InvalidOperationException($"found only {queries.Count} of {count} distinct queries");
        return [.. queries];
    }
}
