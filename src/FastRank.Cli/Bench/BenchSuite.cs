using System.Diagnostics;
using System.Globalization;
using FastRank.Diagnostics;
using FastRank.Gguf;
using FastRank.Kernels;
using FastRank.Ranking;

namespace FastRank.Cli.Bench;

/// <summary>What a suite run measures.</summary>
/// <param name="Workload">What every point shares.</param>
/// <param name="Methods">Methods measured (pointwise, first, icr).</param>
/// <param name="DocCounts">Documents per call of the documents sweep (at <paramref name="BaseDocTokens"/>).</param>
/// <param name="BaseDocTokens">Tokens per document of the documents sweep.</param>
/// <param name="DocTokenCounts">Tokens per document of the length sweep (at <paramref name="BaseDocs"/>); empty: none.</param>
/// <param name="BaseDocs">Documents per call of the length sweep.</param>
/// <param name="Repetitions">Timed repetitions per point.</param>
/// <param name="Warmup">Untimed repetitions per point.</param>
/// <param name="FloorRounds">Calibration runs of every floor candidate per point.</param>
/// <param name="ModelLabel">How the model is named in the report.</param>
/// <param name="Targets">Also run each method's target benchmark (the workload and targets).</param>
internal sealed record SuiteOptions(
    SuiteWorkload Workload, IReadOnlyList<RerankMethod> Methods, IReadOnlyList<int> DocCounts, int BaseDocTokens,
    IReadOnlyList<int> DocTokenCounts, int BaseDocs, int Repetitions, int Warmup, int FloorRounds, string ModelLabel, bool Targets)
{
    /// <summary>The points of one method: the documents sweep, then the length sweep, without repeats, cheapest first.</summary>
    public IReadOnlyList<(int Docs, int DocTokens)> Points() =>
        [.. DocCounts.Select(d => (d, BaseDocTokens)).Concat(DocTokenCounts.Select(t => (BaseDocs, t))).Distinct().OrderBy(p => p.Item1 * p.Item2)];
}

/// <summary>The machine a report was measured on.</summary>
internal sealed record MachineReport(string Cpu, int Cores, string Simd, string Kernels, string Os, string Runtime)
{
    public static MachineReport Current()
    {
        var m = MachineInfo.Current();
        return new MachineReport(m.Cpu, m.Cores, m.Simd, RankKernels.Description, m.Os, m.Runtime);
    }
}

/// <summary>The model a report was measured with.</summary>
internal sealed record ModelReport(string Name, string File, double SizeMb, string? Architecture, long? Layers, long? EmbeddingSize, string? FileType)
{
    public static ModelReport Of(string path, string label)
    {
        var h = GgufReader.Read(path);
        return new ModelReport(label, Path.GetFileName(path), new FileInfo(path).Length / 1e6, h.Architecture,
            h.GetArchInteger("block_count"), h.GetArchInteger("embedding_length"), h.GetInteger("general.file_type")?.ToString(CultureInfo.InvariantCulture));
    }
}

/// <summary>Each method's target benchmark (the workloads and targets of issues 2, 4 and 5).</summary>
internal sealed record TargetReports(PointwiseBenchReport? Pointwise, FirstBenchReport? First, IcrBenchReport? Icr);

/// <summary>Everything a suite run measured.</summary>
internal sealed record SuiteReport(
    string Command, string Date, double WallSeconds, MachineReport Machine, ModelReport Model,
    int Repetitions, int Warmup, int FloorRounds, int BaseDocTokens, int BaseDocs, int PrefixTokens, int QueryTokens, int Threads,
    IReadOnlyList<string> Methods, IReadOnlyList<int> DocCounts, IReadOnlyList<int> DocTokenCounts,
    IReadOnlyList<PointResult> Points, TargetReports? Targets);

/// <summary>Runs a suite: every method at every point, then (optionally) the target benchmarks.</summary>
internal static class BenchSuite
{
    public static SuiteReport Run(SuiteOptions o, string command, BenchProgress progress)
    {
        long start = Stopwatch.GetTimestamp();
        var points = new List<PointResult>();
        var perMethod = o.Points();
        int steps = o.Methods.Count * perMethod.Count + (o.Targets ? o.Methods.Count : 0);
        progress.Begin(steps);
        int inputs = PointRunner.Inputs(Math.Max(1, o.FloorRounds), o.Warmup, o.Repetitions);
        foreach (var method in o.Methods)
        {
            foreach (var (docs, docTokens) in perMethod)
            {
                string name = RerankMethodNames.Name(method);
                progress.Step($"{name}: {docs} documents of {docTokens} tokens");
                using var setup = SuiteMethods.Setup(method, o.Workload, docs, docTokens, inputs);
                var point = PointRunner.Run(name, docs, docTokens, setup, o.FloorRounds, o.Warmup, o.Repetitions, progress.Line);
                points.Add(point);
                string baselines = string.Concat(point.Baselines.Select(b => $", {b.Name}/fastrank {b.OverFastRank}"));
                progress.Line(string.Create(CultureInfo.InvariantCulture,
                    $"{name} {docs}x{docTokens}: fastrank {point.FastRank.P50Ms:F0} ms, floor {point.Floor.P50Ms:F0} ms, ratio {point.RatioToFloor}{baselines}"));
            }
        }

        TargetReports? targets = null;
        if (o.Targets)
        {
            var w = o.Workload;
            PointwiseBenchReport? pw = null;
            FirstBenchReport? first = null;
            IcrBenchReport? icr = null;
            foreach (var method in o.Methods)
            {
                progress.Step($"{RerankMethodNames.Name(method)}: target benchmark");
                switch (method)
                {
                    case RerankMethod.Pointwise:
                        pw = PointwiseBench.Run(new PointwiseBenchOptions(w.ModelPath, 64, 128, 100, o.Repetitions, o.Warmup, w.Threads, 0,
                            w.FloorInFlight, false) { LlamaSharpContexts = w.LlamaSharpContexts, GpuLayers = w.GpuLayers }, progress.Line);
                        break;
                    case RerankMethod.First:
                        first = FirstBench.Run(new FirstBenchOptions(w.ModelPath, 20, 100, w.QueryTokens, 100, o.Repetitions, o.Warmup, w.Threads,
                            w.FloorMicroBatches, false) { GpuLayers = w.GpuLayers }, progress.Line);
                        break;
                    case RerankMethod.Icr:
                        icr = IcrBench.Run(new IcrBenchOptions(w.ModelPath, 20, 128, o.Repetitions, o.Warmup, w.Threads, 0) { GpuLayers = w.GpuLayers }, progress.Line);
                        break;
                }
            }
            targets = new TargetReports(pw, first, icr);
        }
        progress.End();

        var model = ModelReport.Of(o.Workload.ModelPath, o.ModelLabel);
        return new SuiteReport(command, DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            Stopwatch.GetElapsedTime(start).TotalSeconds, MachineReport.Current(), model,
            o.Repetitions, o.Warmup, o.FloorRounds, o.BaseDocTokens, o.BaseDocs, o.Workload.PrefixTokens, o.Workload.QueryTokens, o.Workload.ThreadCount,
            [.. o.Methods.Select(RerankMethodNames.Name)], o.DocCounts, o.DocTokenCounts, points, targets);
    }
}
