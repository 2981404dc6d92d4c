using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FastRank.Cli.Bench;

/// <summary>
/// The outputs of a suite: a console table, JSON, and a report folder (README.md with the tables, report.json,
/// and the charts latency-vs-documents.png and latency-vs-doc-tokens.png). Every figure comes from the run.
/// </summary>
internal static class BenchReportWriter
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Json(SuiteReport r) => JsonSerializer.Serialize(r, Commands.BenchCommand.ReportJson);

    /// <summary>The console table: one row per method and point.</summary>
    public static void PrintTable(TextWriter w, SuiteReport r)
    {
        w.WriteLine($"machine: {r.Machine.Cpu}, {r.Machine.Cores} cores, {r.Machine.Simd}; kernels: {r.Machine.Kernels}");
        w.WriteLine(string.Create(C, $"model: {r.Model.Name} ({r.Model.File}, {r.Model.SizeMb:F1} MB); {r.Repetitions} repetitions, {r.Warmup} warm-up, {r.Threads} threads"));
        var rows = new List<string[]>
        {
            new[] { "method", "docs", "tok/doc", "p50 ms", "p95 ms", "floor ms", "fastrank/floor", "baselines (baseline/fastrank)", "tokens/s", "peak MB" },
        };
        foreach (var p in r.Points) rows.Add(Row(p));
        int[] width = [.. Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(row => row[i].Length))];
        foreach (var row in rows)
            w.WriteLine(string.Join("  ", row.Select((cell, i) => i is 0 or 7 ? cell.PadRight(width[i]) : cell.PadLeft(width[i]))).TrimEnd());
        if (r.Targets is { } t) PrintTargets(w, t);
    }

    private static string[] Row(PointResult p) =>
    [
        p.Method, p.Docs.ToString(C), p.DocTokens.ToString(C), p.FastRank.P50Ms.ToString("F0", C), p.FastRank.P95Ms.ToString("F0", C),
        p.Floor.P50Ms.ToString("F0", C), p.RatioToFloor.ToString(),
        string.Join("; ", p.Baselines.Select(b => $"{b.Name} {b.OverFastRank}")),
        p.TokensPerSecond.ToString("F0", C), p.PeakRssMb.ToString("F0", C),
    ];

    private static void PrintTargets(TextWriter w, TargetReports t)
    {
        w.WriteLine("targets:");
        foreach (var row in TargetRows(t)) w.WriteLine($"  {row.Issue}: {row.What}: {row.Measured} (target {row.Target}) {(row.Met ? "met" : "MISSED")}");
    }

    private sealed record TargetRow(string Issue, string What, string Target, string Measured, bool Met);

    private static string R(double median, double min, double max) => string.Create(C, $"{median:F3} ({min:F3}-{max:F3})");

    private static IEnumerable<TargetRow> TargetRows(TargetReports t)
    {
        if (t.Pointwise is { } p)
        {
            string work = $"{p.Docs} docs x {p.DocTokens} tokens, prefix {p.PrefixTokens}";
            yield return new("2", $"pointwise / floor ({work})", "<= 1.10", R(p.RatioToFloor, p.RatioToFloorMin, p.RatioToFloorMax), p.RatioToFloor <= 1.10);
            yield return new("2", "naive / pointwise", string.Create(C, $">= {p.NaiveTarget:F3}"), R(p.SpeedupVsNaive, p.SpeedupVsNaiveMin, p.SpeedupVsNaiveMax), p.SpeedupVsNaive >= p.NaiveTarget);
            yield return new("2", "peak RSS", string.Create(C, $"<= {p.MemoryBudgetMb:F0} MB"), string.Create(C, $"{p.PeakRssMb:F0} MB"), p.PeakRssMb <= p.MemoryBudgetMb);
            if (!double.IsNaN(p.SpeedupVsLlamaSharp))
                yield return new("7", "LLamaReranker / pointwise (no target)", "-", R(p.SpeedupVsLlamaSharp, p.SpeedupVsLlamaSharpMin, p.SpeedupVsLlamaSharpMax), true);
        }
        if (t.First is { } f)
        {
            yield return new("4", $"FIRST window / floor ({f.Docs} docs x {f.DocTokens} tokens)", "<= 1.05", R(f.RatioToFloor, f.RatioToFloorMin, f.RatioToFloorMax), f.RatioToFloor <= 1.05);
            yield return new("4", "listwise-generate / FIRST", ">= 1.2", R(f.SpeedupVsGenerate, f.SpeedupVsGenerateMin, f.SpeedupVsGenerateMax), f.SpeedupVsGenerate >= 1.2);
            if (f.LongDocs > 0)
            {
                long expected = (long)(f.LongWindows - 1) * f.LongPrefixTokens + (f.LongPrefixTokens - f.LongPrefixDecodedTokens);
                yield return new("4", $"{f.LongDocs} docs ({f.LongWindows} windows): cached_tokens", string.Create(C, $"= {expected} (head and query decoded once)"),
                    string.Create(C, $"{f.LongCachedTokens}; {f.LongPrefixDecodedTokens} prefix tokens decoded"), f.LongCachedTokens == expected && f.LongPrefixDecodedTokens <= f.LongPrefixTokens);
                yield return new("4", $"FIRST {f.LongDocs} docs / floor (no target)", "-", R(f.LongRatioToFloor, f.LongRatioToFloorMin, f.LongRatioToFloorMax), true);
            }
        }
        if (t.Icr is { } i)
        {
            yield return new("5", $"ICR / floor ({i.Docs} docs x {i.DocTokens} tokens)", "<= 1.25", R(i.RatioToFloor, i.RatioToFloorMin, i.RatioToFloorMax), i.RatioToFloor <= 1.25);
            yield return new("5", "ICR calibrated / uncalibrated", "<= 1.10", R(i.CalibratedOverUncalibrated, i.CalibratedOverUncalibratedMin, i.CalibratedOverUncalibratedMax), i.CalibratedOverUncalibrated <= 1.10);
            if (!double.IsNaN(i.RatioToGenerate))
                yield return new("5", "ICR / listwise-generate", "<= 0.4", R(i.RatioToGenerate, i.RatioToGenerateMin, i.RatioToGenerateMax), i.RatioToGenerate <= 0.4);
        }
    }

    /// <summary>Writes README.md, report.json and the charts into <paramref name="dir"/>.</summary>
    public static void WriteFolder(string dir, SuiteReport r)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "report.json"), Json(r) + "\n");
        var docsPoints = r.Points.Where(p => p.DocTokens == r.BaseDocTokens && r.DocCounts.Contains(p.Docs)).ToList();
        var lengthPoints = r.Points.Where(p => p.Docs == r.BaseDocs && r.DocTokenCounts.Contains(p.DocTokens)).ToList();
        if (docsPoints.Count > 0)
            BenchCharts.Write(Path.Combine(dir, "latency-vs-documents.png"), $"Latency vs documents ({r.BaseDocTokens} tokens each), {r.Model.Name}", "documents per call", docsPoints, p => p.Docs);
        if (lengthPoints.Count > 0)
            BenchCharts.Write(Path.Combine(dir, "latency-vs-doc-tokens.png"), $"Latency vs document length ({r.BaseDocs} documents), {r.Model.Name}", "tokens per document", lengthPoints, p => p.DocTokens);
        File.WriteAllText(Path.Combine(dir, "README.md"), Markdown(r, docsPoints.Count > 0, lengthPoints.Count > 0));
    }

    /// <summary>The Markdown report.</summary>
    public static string Markdown(SuiteReport r, bool docsChart, bool lengthChart)
    {
        var s = new StringBuilder();
        void L(string line = "") => s.Append(line).Append('\n');
        L($"# FastRank benchmark: {r.Machine.Cpu}");
        L();
        L("<!-- Generated by `fastrank bench`; do not edit by hand. -->");
        L();
        L($"- Command: `{r.Command}`");
        L(string.Create(C, $"- Date: {r.Date}; wall time {r.WallSeconds / 60:F1} min"));
        L($"- Machine: {r.Machine.Cpu}, {r.Machine.Cores} cores, {r.Machine.Simd}; {r.Machine.Os}; {r.Machine.Runtime}");
        L($"- FastRank kernels: {r.Machine.Kernels}");
        L(string.Create(C, $"- Model: {r.Model.Name} (`{r.Model.File}`, {r.Model.Architecture}, {r.Model.Layers} layers, {r.Model.EmbeddingSize}-dim, {r.Model.SizeMb:F1} MB)"));
        L(string.Create(C, $"- Each point: {r.Repetitions} timed repetitions after {r.Warmup} warm-up, FastRank, the floor and the baselines interleaved in one process (the order rotating), a new query each repetition; {r.Threads} llama.cpp threads. Ratios are medians of per-repetition ratios (min-max)."));
        L("- The floor is the fastest of several ways of computing the tokens FastRank must compute (chosen per point by calibration); see the definitions below.");
        L();
        if (r.Targets is { } t)
        {
            L("## Targets (issues 2, 4, 5)");
            L();
            L("| issue | measure | target | measured: median (min-max) | |");
            L("|---|---|---|---|---|");
            foreach (var row in TargetRows(t)) L($"| {row.Issue} | {row.What} | {row.Target} | {row.Measured} | {(row.Met ? "met" : "**missed**")} |");
            L();
        }
        var headline = r.Points.Where(p => p.DocTokens == r.BaseDocTokens && p.Docs is 20 or 100).ToList();
        if (headline.Count > 0)
        {
            L(string.Create(C, $"## Every method at 20 and 100 documents ({r.BaseDocTokens} tokens each)"));
            L();
            Table(s, headline);
        }
        if (docsChart)
        {
            L(string.Create(C, $"## Scaling with the number of documents ({r.BaseDocTokens} tokens each)"));
            L();
            L("![latency vs documents](latency-vs-documents.png)");
            L();
            Table(s, r.Points.Where(p => p.DocTokens == r.BaseDocTokens && r.DocCounts.Contains(p.Docs)));
        }
        if (lengthChart)
        {
            L(string.Create(C, $"## Scaling with document length ({r.BaseDocs} documents)"));
            L();
            L("![latency vs document length](latency-vs-doc-tokens.png)");
            L();
            Table(s, r.Points.Where(p => p.Docs == r.BaseDocs && r.DocTokenCounts.Contains(p.DocTokens)));
        }
        if (r.Points.Count > 0)
        {
            L("## Floor and baseline settings");
            L();
            L("| method | docs | tok/doc | floor (fastest setting) | calibration medians, ms | baselines | notes |");
            L("|---|---:|---:|---|---|---|---|");
            foreach (var p in r.Points)
            {
                string cal = string.Join("; ", p.FloorCalibrationMs.Select(kv => string.Create(C, $"{kv.Key}: {kv.Value:F0}")));
                string bl = string.Join("; ", p.Baselines.Select(b => b.Setting.Length > 0
                        ? $"{b.Name}: {b.Setting}{(b.Tokens is { } n ? string.Create(C, $", {n} tokens ({n / (b.Timing.P50Ms / 1000):F0} tokens/s)") : "")}"
                        : b.Name)
                    .Concat(p.SkippedBaselines.Select(kv => $"{kv.Key}: not run ({kv.Value})")));
                L(string.Create(C, $"| {p.Method} | {p.Docs} | {p.DocTokens} | {p.FloorSetting} | {cal} | {bl} | {p.Notes} |"));
            }
            L();
        }
        L("## Definitions");
        L();
        L("- **pointwise floor**: the shared prefix once plus every document's suffix, decoded by llama.cpp as independent sequences with no sharing and no logits (sequences in flight x flash attention x micro-batches planned like FastRank's or cut by llama.cpp).");
        L("- **naive**: each document's whole prompt (prefix + suffix) decoded alone, the KV cache cleared in between (what a C# user would write).");
        L("- **llamasharp-reranker**: LLamaSharp's `LLamaReranker` on the same query and documents, on the model's rank head (`cls.output.weight` = the yes/no rows of the output head, pooling RANK). It uses its own prompt: the query's tokens followed by the document's, no instruction or chat template (so fewer tokens than FastRank's prompt; the token count is in the settings table); every document's tokens are decoded with the query, whole documents packed into one llama_decode call up to the context size (context = batch = micro-batch; the fastest of the sizes tried), and the score is llama.cpp's pooled RANK output.");
        L("- **FIRST floor**: the tokens of the windows not served by the prefix cache (the query once, every window's passages and tail; the head is cached), decoded on one sequence with no logits (micro-batch x flash attention).");
        L("- **ICR floor**: one prefill of every chunk's prompt (documents and query span) in a context with flash attention off and no eval callback. ICR runs with masked calibration (its default), its documents never cached between repetitions.");
        L("- **listwise-generate**: the same windows as FIRST, the permutation generated greedily token by token (the RankGPT-style baseline). On a synthetic model with random weights it generates until its budget or a stop; the tokens it generated are in the notes.");
        L("- **tokens/s**: unique tokens (those the floor computes) per second of FastRank's median.");
        L("- **peak RSS**: the process's high-water mark (VmHWM) while FastRank reranks once more, reset after the floor's and the baselines' contexts were freed and the native heap trimmed; it includes the .NET runtime, the mapped model and whatever earlier points left on the managed heap.");
        return s.ToString();
    }

    private static void Table(StringBuilder s, IEnumerable<PointResult> points)
    {
        s.Append("| method | docs | tok/doc | unique tokens | FastRank p50 ms | p95 ms | floor p50 ms | FastRank / floor | baseline / FastRank | tokens/s | peak RSS MB |\n");
        s.Append("|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|\n");
        foreach (var p in points.OrderBy(p => p.Method).ThenBy(p => p.Docs).ThenBy(p => p.DocTokens))
        {
            string bl = string.Join("<br>", p.Baselines.Select(b => string.Create(C, $"{b.Name}: {b.OverFastRank} ({b.Timing.P50Ms:F0} ms)")));
            s.Append(string.Create(C,
                $"| {p.Method} | {p.Docs} | {p.DocTokens} | {p.UniqueTokens} | {p.FastRank.P50Ms:F0} | {p.FastRank.P95Ms:F0} | {p.Floor.P50Ms:F0} | {p.RatioToFloor} | {bl} | {p.TokensPerSecond:F0} | {p.PeakRssMb:F0} |\n"));
        }
        s.Append('\n');
    }
}
