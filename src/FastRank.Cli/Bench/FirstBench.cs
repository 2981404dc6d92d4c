using System.Diagnostics;
using FastRank.Diagnostics;
using FastRank.Engine;
using FastRank.Ranking;

namespace FastRank.Cli.Bench;

/// <summary>Settings of a FIRST benchmark run.</summary>
internal sealed record FirstBenchOptions(
    string ModelPath, int Documents, int DocumentTokens, int QueryTokens, int LongDocuments, int Repetitions, int Warmup, int Threads,
    IReadOnlyList<int> FloorMicroBatches, bool SkipGenerate)
{
    /// <summary>Layers offloaded to a GPU (GPU builds of llama.cpp only).</summary>
    public int GpuLayers { get; init; }
}

/// <summary>What one FIRST benchmark run measured. Ratios are medians (min, max) of per-repetition ratios.</summary>
internal sealed record FirstBenchReport(
    string Method, int Docs, int DocTokens, int WindowPromptTokens, int UncachedTokens, int PrefixTokens, int HeadTokens,
    double FirstMs, double FirstP95Ms, double FloorMs, string FloorSetting, IReadOnlyDictionary<string, double> FloorMsBySetting,
    double GenerateMs, double GeneratedTokensPerWindow, int GenerationBudget,
    double RatioToFloor, double RatioToFloorMin, double RatioToFloorMax,
    double SpeedupVsGenerate, double SpeedupVsGenerateMin, double SpeedupVsGenerateMax,
    int LongDocs, int LongWindows, long LongPromptTokens, long LongCachedTokens, int LongPrefixTokens, long LongPrefixDecodedTokens,
    double LongFirstMs, double LongFloorMs, double LongRatioToFloor, double LongRatioToFloorMin, double LongRatioToFloorMax,
    bool FlashAttention, int MicroBatch, double PeakRssMb, double ModelMb, double KvMb, int CellsPerSequence, int Repetitions, string Machine)
{
    /// <summary>Prints the report as text.</summary>
    public void Print(TextWriter w)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var r = this;
        w.WriteLine(string.Create(c, $"first: one window of {r.Docs} documents of about {r.DocTokens} tokens: {r.WindowPromptTokens} prompt tokens, " +
            $"{r.UncachedTokens} not served by the prefix cache (head {r.HeadTokens}, prefix {r.PrefixTokens}); {r.Repetitions} repetitions, interleaved"));
        w.WriteLine(string.Create(c, $"  first      {r.FirstMs,9:F1} ms (p95 {r.FirstP95Ms:F1}; micro-batch {r.MicroBatch}, flash attention {(r.FlashAttention ? "on" : "off")})"));
        w.WriteLine(string.Create(c, $"  floor      {r.FloorMs,9:F1} ms (fastest setting by median: {r.FloorSetting})"));
        foreach (var (setting, ms) in r.FloorMsBySetting) w.WriteLine(string.Create(c, $"    {setting}: {ms:F1} ms"));
        w.WriteLine(string.Create(c, $"  generate   {r.GenerateMs,9:F1} ms ({r.GeneratedTokensPerWindow:F1} tokens generated per window, budget {r.GenerationBudget})"));
        w.WriteLine(string.Create(c, $"  first / floor     {r.RatioToFloor:F3} (min {r.RatioToFloorMin:F3}, max {r.RatioToFloorMax:F3}); target <= 1.05"));
        w.WriteLine(string.Create(c, $"  generate / first  {r.SpeedupVsGenerate:F3} (min {r.SpeedupVsGenerateMin:F3}, max {r.SpeedupVsGenerateMax:F3}); target >= 1.2"));
        if (r.LongDocs > 0)
        {
            w.WriteLine(string.Create(c, $"  {r.LongDocs} documents: {r.LongWindows} windows, {r.LongPromptTokens} prompt tokens, cached_tokens {r.LongCachedTokens} " +
                $"= {r.LongWindows - 1} x the {r.LongPrefixTokens}-token prefix (head and query, decoded once) + {r.LongPrefixTokens - r.LongPrefixDecodedTokens} " +
                $"(the part of the first window's prefix already cached by earlier calls: the head); {r.LongPrefixDecodedTokens} prefix tokens decoded"));
            w.WriteLine(string.Create(c, $"  {r.LongDocs} documents: first {r.LongFirstMs:F1} ms, floor {r.LongFloorMs:F1} ms, first / floor {r.LongRatioToFloor:F3} (min {r.LongRatioToFloorMin:F3}, max {r.LongRatioToFloorMax:F3})"));
        }
        w.WriteLine(string.Create(c, $"  peak RSS {r.PeakRssMb:F0} MB; model {r.ModelMb:F0} MB + KV {r.KvMb:F0} MB (4 sequences x {r.CellsPerSequence} cells)"));
        w.WriteLine($"  machine: {r.Machine}");
    }
}

/// <summary>
/// Measures FIRST in one process, interleaved repetition by repetition, against the floor and against
/// listwise-generate on the same window and model:
/// <list type="bullet">
/// <item>one window (20 documents by default): a new query each repetition, so the head comes from the
/// prefix cache and the query, the passages and the tail are computed;</item>
/// <item>the floor: exactly those tokens (the window's prompt minus the cached head) decoded on top of the
/// head, with no logits read, in several settings (micro-batch sizes, flash attention on and off); the
/// setting with the lowest median is the floor, and each repetition's ratio is taken against that
/// setting's time in the same repetition (a minimum over settings per repetition would favour the floor
/// by picking the luckiest of several noisy samples);</item>
/// <item>listwise-generate: the same prompt, then greedy generation of the permutation;</item>
/// <item>100 documents (9 windows): FIRST against the floor of the same unique tokens (the query once, the
/// nine windows' passages and tails; the one-window floor's best setting), with usage showing the head
/// decoded once.</item>
/// </list>
/// </summary>
internal static class FirstBench
{
    public static FirstBenchReport Run(FirstBenchOptions o, Action<string>? progress = null)
    {
        var options = new RerankerOptions { Method = RerankMethod.First, Threads = o.Threads, GpuLayers = o.GpuLayers };
        using var ranker = Reranker.Load(o.ModelPath, options);
        var model = ranker.Model;
        var first = (FirstMethod)ranker.Method(RerankMethod.First);
        var config = first.ContextConfig(options);
        int threads = RankingMethods.Threads(options);
        int window = first.Settings.WindowSize;
        int n = Math.Min(o.Documents, window);
        if (n < o.Documents) progress?.Invoke($"one window holds {window} documents: measuring {n}");

        var docs = PointwiseBench.MakeDocuments(model, n, o.DocumentTokens);
        var longDocs = PointwiseBench.MakeDocuments(model, o.LongDocuments, o.DocumentTokens);
        int longReps = o.LongDocuments > 0 ? Math.Max(2, (o.Repetitions + 1) / 2) : 0;
        var queries = PointwiseBench.MakeQueries(model, o.Warmup + o.Repetitions + longReps + 1, o.QueryTokens);
        int[] identity = [.. Enumerable.Range(0, n)];

        var settings = o.FloorMicroBatches.SelectMany(b => new[] { (Batch: b, Fa: false), (Batch: b, Fa: true) }).ToArray();
        var floorContexts = settings.Select(s => new InferenceContext(model, new ContextConfig(1, config.CellsPerSequence, s.Batch, s.Batch, s.Fa, threads))).ToArray();

        var firstMs = new List<double>();
        var floorBySetting = settings.Select(_ => new List<double>()).ToArray();
        var generateMs = new List<double>();
        var ratioGenerate = new List<double>();
        int promptTokens = 0, uncached = 0, prefixTokens = 0, headTokens = 0;
        long generated = 0;
        int generateWindows = 0, generationBudget = 0;
        var longFirst = new List<double>();
        var longFloor = new List<double>();
        int best = 0;
        RerankResult? longResult = null;
        int longPrefix = 0, longWindows = 0;
        long prefixDecoded = 0;
        try
        {
            for (int rep = 0; rep < o.Warmup + o.Repetitions; rep++)
            {
                bool timed = rep >= o.Warmup;
                string query = queries[rep];
                var call = first.Prompt.Build(query, docs, first.PassageBudget, options.MaxQueryTokens);
                int[] head = call.Head(n);
                int[] prefix = call.Prefix(n);
                int[] prompt = [.. prefix, .. call.WindowSuffix(identity)];
                int[] rest = prompt[head.Length..];

                var floorMs = new double[settings.Length];
                for (int f = 0; f < settings.Length; f++) floorMs[f] = Floor(floorContexts[f], head, [(head.Length, rest)]);

                RerankResult? result = null;
                double fMs = Contender.Time(() => result = ranker.Rerank(query, docs, RerankMethod.First));
                if (result!.Usage.PromptTokens != prompt.Length) throw new InvalidOperationException("the bench's prompt differs from FIRST's");
                double gMs = double.NaN;
                if (!o.SkipGenerate)
                {
                    gMs = Contender.Time(() => ranker.Rerank(query, docs, RerankMethod.ListwiseGenerate));
                    var gen = (ListwiseGenerateMethod)ranker.Method(RerankMethod.ListwiseGenerate);
                    generationBudget = gen.GenerationBudget;
                    if (timed)
                    {
                        generated += gen.LastWindowStats.GeneratedTokens;
                        generateWindows += gen.LastWindowStats.Windows;
                    }
                }
                progress?.Invoke($"{(timed ? "rep" : "warm-up")} {rep + 1 - (timed ? o.Warmup : 0)}: first {fMs:F0} ms, floor {floorMs.Min():F0} ms (fastest setting), generate {gMs:F0} ms");
                if (!timed) continue;
                promptTokens = prompt.Length;
                uncached = rest.Length;
                prefixTokens = prefix.Length;
                headTokens = head.Length;
                firstMs.Add(fMs);
                for (int f = 0; f < settings.Length; f++) floorBySetting[f].Add(floorMs[f]);
                if (!double.IsNaN(gMs))
                {
                    generateMs.Add(gMs);
                    ratioGenerate.Add(gMs / fMs);
                }
            }

            // Many documents: nine windows over one prefix, against the floor's best setting of one window.
            best = BestSetting(floorBySetting);
            for (int rep = 0; rep < longReps; rep++)
            {
                // A query that shares nothing with the cached ones but the head (the cache would otherwise
                // serve the common start of the bench's queries, which differ only in their last word).
                string query = $"{Synthetic.SyntheticText.Words[200 + rep]} {queries[o.Warmup + o.Repetitions + rep]}";
                var (head, jobs, prefixLength) = FloorJobs(first, query, longDocs, options);
                longPrefix = prefixLength;
                double floorMs = Floor(floorContexts[best], head, jobs);

                var engine = ranker.Engine(RerankMethod.First);
                long decoded0 = engine.Prefixes.DecodedTokens;
                double fMs = Contender.Time(() => longResult = ranker.Rerank(query, longDocs, RerankMethod.First));
                prefixDecoded = engine.Prefixes.DecodedTokens - decoded0;
                longWindows = first.LastWindowStats.Windows;
                longFirst.Add(fMs);
                longFloor.Add(floorMs);
                progress?.Invoke($"{longDocs.Length} documents, rep {rep + 1}: first {fMs:F0} ms ({longWindows} windows), floor {floorMs:F0} ms; " +
                    $"cached {longResult!.Usage.CachedTokens} of {longResult.Usage.PromptTokens} prompt tokens");
            }
        }
        finally
        {
            foreach (var c in floorContexts) c.Dispose();
        }

        // Peak memory of FastRank alone: the floor's contexts are gone.
        double peakMb = ProcessMemory.PeakDuring(() => ranker.Rerank(queries[^1], docs, RerankMethod.First)) / 1e6;

        var rf = Stat.Of(firstMs.Select((ms, i) => ms / floorBySetting[best][i]).ToArray());
        var lr = Stat.Of(longFirst.Select((ms, i) => ms / longFloor[i]).ToArray());
        var fs = Stat.Of(firstMs);
        var rg = Stat.Of(ratioGenerate);
        return new FirstBenchReport(
            "first", n, o.DocumentTokens, promptTokens, uncached, prefixTokens, headTokens,
            fs.Median, fs.P95, Stat.Of(floorBySetting[best]).Median, Setting(settings[best]),
            settings.Select((s, f) => (Setting(s), Stat.Of(floorBySetting[f]).Median)).ToDictionary(x => x.Item1, x => x.Median),
            Stat.Of(generateMs).Median, generateWindows == 0 ? double.NaN : (double)generated / generateWindows, generationBudget,
            rf.Median, rf.Min, rf.Max, rg.Median, rg.Min, rg.Max,
            o.LongDocuments, longWindows, longResult?.Usage.PromptTokens ?? 0, longResult?.Usage.CachedTokens ?? 0, longPrefix, prefixDecoded,
            Stat.Of(longFirst).Median, Stat.Of(longFloor).Median, lr.Median, lr.Min, lr.Max,
            config.FlashAttention, config.MicroBatchSize,
            peakMb, new FileInfo(o.ModelPath).Length / 1e6, (double)config.Sequences * config.CellsPerSequence * model.KvBytesPerCell / 1e6,
            config.CellsPerSequence, o.Repetitions, MachineInfo.Current().ToString());
    }

    /// <summary>
    /// The floor's work for FIRST on <paramref name="docs"/>: the head (served by the prefix cache, decoded
    /// untimed), then the query part once, then each window's suffix on top of the window's prefix. Which tokens
    /// those are does not depend on the final order, so the windows are walked with the identity.
    /// Returns the head, the jobs and the prefix length of a full window.
    /// </summary>
    internal static (int[] Head, List<(int Keep, int[] Tokens)> Jobs, int PrefixLength) FloorJobs(
        FirstMethod first, string query, IReadOnlyList<string> docs, RerankerOptions options)
    {
        int window = first.Settings.WindowSize;
        var call = first.Prompt.Build(query, docs, first.PassageBudget, options.MaxQueryTokens);
        int w = Math.Min(window, docs.Count);
        int[] head = call.Head(w);
        int[] prefix = call.Prefix(w);
        int[] queryPart = prefix[head.Length..];
        var jobs = new List<(int, int[])> { (head.Length, queryPart) };
        ListwiseWindows.Run(docs.Count, window, first.Settings.Stride, (_, items, perm) =>
        {
            if (items.Length == w)
            {
                jobs.Add((head.Length + queryPart.Length, call.WindowSuffix(items)));
            }
            else
            {
                // A shorter top window has its own prefix: decode it from where it leaves the head.
                int[] own = call.Prefix(items.Length);
                int common = own.AsSpan().CommonPrefixLength(head);
                jobs.Add((common, [.. own[common..], .. call.WindowSuffix(items)]));
            }
            for (int k = 0; k < perm.Length; k++) perm[k] = k;
        });
        return (head, jobs, prefix.Length);
    }

    private static int BestSetting(List<double>[] bySetting)
    {
        int best = 0;
        for (int f = 1; f < bySetting.Length; f++)
            if (Stat.Of(bySetting[f]).Median < Stat.Of(bySetting[best]).Median) best = f;
        return best;
    }

    /// <summary>
    /// Decodes <paramref name="head"/> (untimed: the prefix cache holds it), then, timed, each job's tokens
    /// on the same sequence cut back to the job's starting position, with no logits. Returns the timed milliseconds.
    /// </summary>
    internal static double Floor(InferenceContext ctx, int[] head, IReadOnlyList<(int Keep, int[] Tokens)> jobs)
    {
        ctx.ClearAll();
        SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, head, 0, false)], null, default);
        long t = Stopwatch.GetTimestamp();
        foreach (var (keep, tokens) in jobs)
        {
            ctx.Truncate(0, keep);
            SequenceBatcher.Run(ctx, [new DecodeJob(0, keep, tokens, 0, false)], null, default);
        }
        return Stopwatch.GetElapsedTime(t).TotalMilliseconds;
    }

    private static string Setting((int Batch, bool Fa) s) => $"micro-batch {s.Batch}, flash attention {(s.Fa ? "on" : "off")}";
}
