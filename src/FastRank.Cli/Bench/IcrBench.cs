using System.Diagnostics;
using System.Globalization;
using FastRank.Diagnostics;
using FastRank.Engine;
using FastRank.Ranking;

namespace FastRank.Cli.Bench;

/// <summary>Settings of an ICR benchmark run.</summary>
/// <param name="ModelPath">GGUF model.</param>
/// <param name="Documents">Documents per call.</param>
/// <param name="DocumentTokens">Tokens per document (about).</param>
/// <param name="Repetitions">Timed repetitions.</param>
/// <param name="Warmup">Untimed repetitions first.</param>
/// <param name="Threads">llama.cpp threads (0: every core).</param>
/// <param name="MaxContextTokens">ICR's context; 0 sizes it to hold the whole list in one prompt.</param>
internal sealed record IcrBenchOptions(string ModelPath, int Documents, int DocumentTokens, int Repetitions, int Warmup, int Threads, int MaxContextTokens)
{
    /// <summary>Skip the listwise-generate baseline on the same documents.</summary>
    public bool SkipGenerate { get; init; }

    /// <summary>Layers offloaded to a GPU (GPU builds of llama.cpp only).</summary>
    public int GpuLayers { get; init; }
}

/// <summary>What one ICR benchmark run measured. Ratios are medians (min, max) of per-repetition ratios.</summary>
internal sealed record IcrBenchReport(
    string Method, int Docs, int DocTokens, int PromptTokens, int QuerySpanTokens, int Chunks, int Cells, int MicroBatch, int Threads,
    double IcrMs, double IcrP95Ms, double UncalibratedMs, double FloorMs, double WarmMs,
    double PrefixMs, double QueryPassesMs, double QueryPassesNoReadoutMs,
    double RatioToFloor, double RatioToFloorMin, double RatioToFloorMax,
    double CalibratedOverUncalibrated, double CalibratedOverUncalibratedMin, double CalibratedOverUncalibratedMax,
    double UncalibratedOverFloor, double UncalibratedOverFloorMin, double UncalibratedOverFloorMax,
    double ReadoutCost, double ReadoutCostMin, double ReadoutCostMax,
    double WarmOverFloor, double WarmOverFloorMin, double WarmOverFloorMax,
    double CpuRatioToFloor, double CpuRatioToFloorMin, double CpuRatioToFloorMax,
    double CpuCalibratedOverUncalibrated, double CpuCalibratedOverUncalibratedMin, double CpuCalibratedOverUncalibratedMax,
    double PeakRssMb, double ModelMb, double KvMb, int Repetitions, string Machine,
    double GenerateMs = double.NaN, double RatioToGenerate = double.NaN, double RatioToGenerateMin = double.NaN, double RatioToGenerateMax = double.NaN,
    double GeneratedTokensPerWindow = double.NaN)
{
    public void Print(TextWriter w)
    {
        var c = CultureInfo.InvariantCulture;
        w.WriteLine(string.Create(c, $"icr: {Docs} documents of {DocTokens} tokens, {PromptTokens} prompt tokens in {Chunks} prompt(s), query span {QuerySpanTokens} tokens; context {Cells} cells, micro-batch {MicroBatch}, {Threads} threads, {Repetitions} repetitions"));
        w.WriteLine(string.Create(c, $"  icr (masked calibration) {IcrMs,9:F1} ms (p95 {IcrP95Ms:F1}): documents {PrefixMs:F1} ms, query passes {QueryPassesMs:F1} ms"));
        w.WriteLine(string.Create(c, $"  icr (no calibration)     {UncalibratedMs,9:F1} ms"));
        w.WriteLine(string.Create(c, $"  icr, documents cached    {WarmMs,9:F1} ms (a second query over the same documents)"));
        w.WriteLine(string.Create(c, $"  floor                    {FloorMs,9:F1} ms (one prefill of documents + query span, flash attention off, no callback)"));
        w.WriteLine(string.Create(c, $"  icr / floor                 {RatioToFloor:F3} (min {RatioToFloorMin:F3}, max {RatioToFloorMax:F3}); target <= 1.25"));
        w.WriteLine(string.Create(c, $"  uncalibrated / floor        {UncalibratedOverFloor:F3} (min {UncalibratedOverFloorMin:F3}, max {UncalibratedOverFloorMax:F3})"));
        w.WriteLine(string.Create(c, $"  calibrated / uncalibrated   {CalibratedOverUncalibrated:F3} (min {CalibratedOverUncalibratedMin:F3}, max {CalibratedOverUncalibratedMax:F3}); target <= 1.10"));
        w.WriteLine(string.Create(c, $"  query passes, readout on / off {ReadoutCost:F3} (min {ReadoutCostMin:F3}, max {ReadoutCostMax:F3}); off: {QueryPassesNoReadoutMs:F1} ms"));
        w.WriteLine(string.Create(c, $"  cached documents / floor    {WarmOverFloor:F3} (min {WarmOverFloorMin:F3}, max {WarmOverFloorMax:F3})"));
        w.WriteLine(string.Create(c, $"  process CPU time: icr / floor {CpuRatioToFloor:F3} (min {CpuRatioToFloorMin:F3}, max {CpuRatioToFloorMax:F3}), calibrated / uncalibrated {CpuCalibratedOverUncalibrated:F3} (min {CpuCalibratedOverUncalibratedMin:F3}, max {CpuCalibratedOverUncalibratedMax:F3})"));
        if (!double.IsNaN(GenerateMs))
            w.WriteLine(string.Create(c, $"  listwise-generate {GenerateMs,9:F1} ms ({GeneratedTokensPerWindow:F1} tokens generated per window); icr / listwise-generate {RatioToGenerate:F3} (min {RatioToGenerateMin:F3}, max {RatioToGenerateMax:F3}); target <= 0.4"));
        w.WriteLine(string.Create(c, $"  peak RSS {PeakRssMb:F0} MB; model {ModelMb:F0} MB, ICR KV {KvMb:F0} MB"));
        w.WriteLine($"  machine: {Machine}");
    }
}

/// <summary>
/// Measures ICR in one process, interleaved repetition by repetition (the order rotating), against the
/// floor: one prefill of the same prompt (documents and query span) in a context with flash attention
/// off and no eval callback. Also: ICR without calibration, ICR with the attention readout switched off
/// (the callback runs but asks for nothing; isolates the readout's cost in the query passes), and a
/// second query over documents whose KV is kept. Every ICR call but the last starts from no cached
/// documents. Beside wall-clock time the bench records the process's CPU time of the whole ICR call, the
/// uncalibrated call and the floor: on a shared machine other processes stretch wall-clock time, not the
/// CPU time of the work (with one llama.cpp thread; with more, spinning threads count too).
/// </summary>
internal static class IcrBench
{
    public static IcrBenchReport Run(IcrBenchOptions o, Action<string>? progress = null)
    {
        int threads = o.Threads > 0 ? o.Threads : Environment.ProcessorCount;
        // Enough context for the whole list in one prompt unless told otherwise.
        int cells = o.MaxContextTokens > 0 ? o.MaxContextTokens : RankingMethods.CellsFor(o.Documents * (o.DocumentTokens + 12) + 512);
        RerankerOptions Options(IcrCalibration calibration) => new()
        {
            Method = RerankMethod.Icr,
            Threads = threads,
            GpuLayers = o.GpuLayers,
            MaxDocumentTokens = Math.Max(512, o.DocumentTokens + 16),
            KvCacheBudgetBytes = 8L << 30,
            Icr = new IcrOptions { Calibration = calibration, MaxContextTokens = cells },
        };
        using var ranker = Reranker.Load(o.ModelPath, Options(IcrCalibration.Masked));
        using var plain = Reranker.Load(o.ModelPath, Options(IcrCalibration.None));
        var model = ranker.Model;
        var icr = (IcrMethod)ranker.Method(RerankMethod.Icr);
        var icrPlain = (IcrMethod)plain.Method(RerankMethod.Icr);
        var engine = ranker.Engine(RerankMethod.Icr);
        int ubatch = engine.Context.Config.MicroBatchSize;

        var docs = PointwiseBench.MakeDocuments(model, o.Documents, o.DocumentTokens);
        var queries = PointwiseBench.MakeQueries(model, 2 * (o.Warmup + o.Repetitions), 12);
        var prompt = icr.BuildPrompt(queries[0], docs);
        int promptTokens = prompt.Chunks.Sum(c => c.Prefix.Length + prompt.QuerySuffix.Length);
        using var floorCtx = new InferenceContext(model, new ContextConfig(1, icr.Cells, ubatch, ubatch, false, threads));

        var icrMs = new List<double>();
        var plainMs = new List<double>();
        var floorMs = new List<double>();
        var warmMs = new List<double>();
        var prefixMs = new List<double>();
        var passMs = new List<double>();
        var passOffMs = new List<double>();
        var rFloor = new List<double>();
        var rCal = new List<double>();
        var rPlain = new List<double>();
        var rReadout = new List<double>();
        var rWarm = new List<double>();
        var rCpuFloor = new List<double>();
        var rCpuCal = new List<double>();
        var genMs = new List<double>();
        var rGen = new List<double>();
        long generated = 0, generateWindows = 0;
        var gen = (ListwiseGenerateMethod)ranker.Method(RerankMethod.ListwiseGenerate);
        int contenders = o.SkipGenerate ? 4 : 5;
        for (int rep = 0; rep < o.Warmup + o.Repetitions; rep++)
        {
            bool timed = rep >= o.Warmup;
            string query = queries[2 * rep], second = queries[2 * rep + 1];
            var repPrompt = icr.BuildPrompt(query, docs);
            double floor = 0, full = 0, uncal = 0, warm = 0, prefix = 0, pass = 0, passOff = 0, floorCpu = 0, fullCpu = 0, uncalCpu = 0, generate = double.NaN;
            // Four (five with listwise-generate) measurements, the order rotating with the repetition so that none always runs first.
            for (int k = 0; k < contenders; k++)
            {
                switch ((k + rep) % contenders)
                {
                    case 4:
                        (generate, _) = Time(() => ranker.Rerank(query, docs, RerankMethod.ListwiseGenerate));
                        if (timed)
                        {
                            generated += gen.LastWindowStats.GeneratedTokens;
                            generateWindows += gen.LastWindowStats.Windows;
                        }
                        break;
                    case 0:
                        (floor, floorCpu) = Time(() =>
                        {
                            foreach (var chunk in repPrompt.Chunks)
                            {
                                floorCtx.ClearAll();
                                SequenceBatcher.Run(floorCtx, [new DecodeJob(0, 0, [.. chunk.Prefix, .. repPrompt.QuerySuffix], 0, false)], null, default);
                            }
                        });
                        break;
                    case 1:
                        icr.ForgetDocuments();
                        RerankResult? r = null;
                        (_, fullCpu) = Time(() => r = ranker.Rerank(query, docs));
                        full = r!.Timings.TotalMs;
                        prefix = r.Timings.PrefixMs;
                        pass = r.Timings.ScoreMs;
                        // The same documents again, another query: only its query span is decoded.
                        warm = ranker.Rerank(second, docs).Timings.TotalMs;
                        break;
                    case 2:
                        icrPlain.ForgetDocuments();
                        (_, uncalCpu) = Time(() => uncal = plain.Rerank(query, docs).Timings.TotalMs);
                        break;
                    case 3:
                        icr.ForgetDocuments();
                        icr.Capture.ReadoutEnabled = false;
                        try { passOff = ranker.Rerank(query, docs).Timings.ScoreMs; }
                        finally { icr.Capture.ReadoutEnabled = true; }
                        break;
                }
            }
            progress?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"{(timed ? "rep" : "warm-up")} {rep + 1 - (timed ? o.Warmup : 0)}: icr {full:F0} ms (documents {prefix:F0}, query passes {pass:F0}, readout off {passOff:F0}; CPU {fullCpu:F0}), uncalibrated {uncal:F0} ms (CPU {uncalCpu:F0}), cached {warm:F0} ms, floor {floor:F0} ms (CPU {floorCpu:F0}), listwise-generate {generate:F0} ms"));
            if (!timed) continue;
            icrMs.Add(full);
            plainMs.Add(uncal);
            floorMs.Add(floor);
            warmMs.Add(warm);
            prefixMs.Add(prefix);
            passMs.Add(pass);
            passOffMs.Add(passOff);
            rFloor.Add(full / floor);
            rCal.Add(full / uncal);
            rPlain.Add(uncal / floor);
            rReadout.Add(pass / passOff);
            rWarm.Add(warm / floor);
            rCpuFloor.Add(fullCpu / floorCpu);
            rCpuCal.Add(fullCpu / uncalCpu);
            if (!double.IsNaN(generate))
            {
                genMs.Add(generate);
                rGen.Add(full / generate);
            }
        }

        double peakMb = ProcessMemory.PeakDuring(() =>
        {
            icr.ForgetDocuments();
            ranker.Rerank(queries[0], docs);
        }) / 1e6;
        var config = engine.Context.Config;
        double kvMb = (double)config.Sequences * config.CellsPerSequence * model.KvBytesPerCell / 1e6;
        var f = Stat.Of(rFloor);
        var cal = Stat.Of(rCal);
        var pl = Stat.Of(rPlain);
        var ro = Stat.Of(rReadout);
        var wm = Stat.Of(rWarm);
        var im = Stat.Of(icrMs);
        var cf = Stat.Of(rCpuFloor);
        var cc = Stat.Of(rCpuCal);
        var rg = Stat.Of(rGen);
        return new IcrBenchReport(
            "icr", o.Documents, (int)Math.Round(docs.Average(d => model.TokenizeText(" " + d).Length)), promptTokens, prompt.QuerySuffix.Length,
            prompt.Chunks.Length, icr.Cells, ubatch, threads,
            im.Median, im.P95, Stat.Of(plainMs).Median, Stat.Of(floorMs).Median, Stat.Of(warmMs).Median,
            Stat.Of(prefixMs).Median, Stat.Of(passMs).Median, Stat.Of(passOffMs).Median,
            f.Median, f.Min, f.Max, cal.Median, cal.Min, cal.Max, pl.Median, pl.Min, pl.Max, ro.Median, ro.Min, ro.Max, wm.Median, wm.Min, wm.Max,
            cf.Median, cf.Min, cf.Max, cc.Median, cc.Min, cc.Max,
            peakMb, new FileInfo(o.ModelPath).Length / 1e6, kvMb, o.Repetitions, MachineInfo.Current().ToString(),
            Stat.Of(genMs).Median, rg.Median, rg.Min, rg.Max, generateWindows == 0 ? double.NaN : (double)generated / generateWindows);
    }

    /// <summary>Wall-clock and process CPU milliseconds of <paramref name="a"/>.</summary>
    private static (double WallMs, double CpuMs) Time(Action a)
    {
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        long t = Stopwatch.GetTimestamp();
        a();
        double wall = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        self.Refresh();
        return (wall, (self.TotalProcessorTime - cpu).TotalMilliseconds);
    }
}
