using System.Globalization;
using System.Text;
using System.Text.Json;
using FastRank.Diagnostics;
using FastRank.Evaluation.Metrics;
using FastRank.Ranking;

namespace FastRank.Evaluation.Runner;

/// <summary>
/// Writes an evaluation's files: one TREC run per system (<c>first-stage.trec</c>, <c>NAME.trec</c>), per-query values
/// and costs (<c>per-query.tsv</c>), and the report (<c>report.md</c>, <c>report.json</c>).
/// </summary>
public static class EvalReportWriter
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes every file into <paramref name="directory"/> (created if needed); returns the report's path.</summary>
    public static string Write(EvalOutcome outcome, string directory)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        Directory.CreateDirectory(directory);
        outcome.FirstStage.Run.Write(Path.Combine(directory, "first-stage.trec"));
        foreach (var s in outcome.Systems) s.Run.Write(Path.Combine(directory, s.Name + ".trec"));
        File.WriteAllText(Path.Combine(directory, "per-query.tsv"), PerQueryTsv(outcome));
        File.WriteAllText(Path.Combine(directory, "report.json"), Json(outcome));
        string md = Path.Combine(directory, "report.md");
        File.WriteAllText(md, Markdown(outcome));
        return md;
    }

    /// <summary>Per query and system: the measures, latency and tokens (tab separated, a header line).</summary>
    public static string PerQueryTsv(EvalOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var sb = new StringBuilder();
        var metrics = outcome.Options.Metrics;
        sb.Append("system\tquery");
        foreach (var m in metrics) sb.Append('\t').Append(m.Name);
        sb.AppendLine("\tlatency_ms\tprompt_tokens\tcached_tokens");
        foreach (var s in All(outcome))
        {
            var costs = s.Costs.ToDictionary(c => c.QueryId, StringComparer.Ordinal);
            foreach (var q in s.Evaluation.PerQuery)
            {
                sb.Append(s.Name).Append('\t').Append(q.QueryId);
                foreach (double v in q.Values) sb.Append('\t').Append(v.ToString("F4", Inv));
                if (costs.TryGetValue(q.QueryId, out var c))
                    sb.Append(Inv, $"\t{c.LatencyMs:F1}\t{c.PromptTokens}\t{c.CachedTokens}");
                else
                    sb.Append("\t\t\t");
                sb.AppendLine();
            }
        }
        return sb.ToString();
    }

    /// <summary>The Markdown report: the table of means, costs, significance against the first stage.</summary>
    public static string Markdown(EvalOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var metrics = outcome.Options.Metrics;
        var sb = new StringBuilder();
        void L(string s = "") => sb.AppendLine(s);
        L($"# FastRank evaluation: {outcome.Dataset}");
        L();
        L(string.Create(Inv, $"- First stage: {outcome.FirstStageName}, top {outcome.Options.TopK} reranked; {outcome.QueryIds.Count} queries (judged queries, every one counted in every mean)."));
        L($"- Measures as trec_eval defines them ({string.Join(", ", metrics.Select(m => $"{m.Name} = {TrecEval(m)}"))}).");
        L($"- Machine: {MachineInfo.Current()}.");
        L($"- Started {outcome.Started:yyyy-MM-dd HH:mm} UTC.");
        L();
        sb.Append("| system | model | method |");
        foreach (var m in metrics) sb.Append(' ').Append(m.Name).Append(" |");
        L(" ms/query (mean) | ms/query (p95) | prompt tokens/query | cached |");
        sb.Append("| --- | --- | --- |");
        foreach (var _ in metrics) sb.Append(" ---: |");
        L(" ---: | ---: | ---: | ---: |");
        foreach (var s in All(outcome))
        {
            sb.Append(Inv, $"| {s.Name} | {s.Model ?? "-"} | {(s.Method is { } me ? RerankMethodNames.Name(me) : "-")} |");
            for (int i = 0; i < metrics.Count; i++)
            {
                sb.Append(Inv, $" {s.Evaluation.Means[i]:F4}");
                if (s.VersusFirstStage.Count > 0 && s.VersusFirstStage[i].RandomizationP < 0.05 && s.VersusFirstStage[i].TTestP < 0.05) sb.Append('*');
                sb.Append(" |");
            }
            if (s.Costs.Count > 0)
            {
                var lat = s.Costs.Select(c => c.LatencyMs).Order().ToArray();
                L(string.Create(Inv, $" {lat.Average():F1} | {Percentile(lat, 0.95):F1} | {s.Costs.Average(c => (double)c.PromptTokens):F0} | {s.Costs.Average(c => (double)c.CachedTokens):F0} |"));
            }
            else
            {
                L(" - | - | - | - |");
            }
        }
        L();
        L("`*`: different from the first stage at p < 0.05 by both the paired t-test and the paired randomization test (two-sided).");
        if (outcome.Systems.Count > 0)
        {
            L();
            L("## Against the first stage");
            L();
            L("| system | measure | mean difference | t | p (t-test) | p (randomization) |");
            L("| --- | --- | ---: | ---: | ---: | ---: |");
            foreach (var s in outcome.Systems)
            {
                for (int i = 0; i < metrics.Count; i++)
                {
                    var c = s.VersusFirstStage[i];
                    string perms = c.Permutations == 0 ? " (exact)" : string.Create(Inv, $" ({c.Permutations} permutations)");
                    L(string.Create(Inv, $"| {s.Name} | {metrics[i].Name} | {c.MeanDifference:+0.0000;-0.0000;0.0000} | {Num(c.TStatistic, "F2")} | {Num(c.TTestP, "G3")} | {c.RandomizationP:G3}{perms} |"));
                }
            }
            if (outcome.Comparisons.Count > 0)
            {
                L();
                L("## Between methods");
                L();
                L("| system | against | measure | mean difference | t | p (t-test) | p (randomization) |");
                L("| --- | --- | --- | ---: | ---: | ---: | ---: |");
                foreach (var pair in outcome.Comparisons)
                {
                    for (int i = 0; i < metrics.Count; i++)
                    {
                        var c = pair.PerMetric[i];
                        L(string.Create(Inv, $"| {pair.B} | {pair.A} | {metrics[i].Name} | {c.MeanDifference:+0.0000;-0.0000;0.0000} | {Num(c.TStatistic, "F2")} | {Num(c.TTestP, "G3")} | {c.RandomizationP:G3} |"));
                    }
                }
            }
            L();
            L("## Cost");
            L();
            L("| system | queries | documents | total s | prompt tokens | cached tokens | truncated documents |");
            L("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var s in outcome.Systems)
            {
                L(string.Create(Inv, $"| {s.Name} | {s.Costs.Count} | {s.Costs.Sum(c => c.Documents)} | {s.TotalSeconds:F1} | {s.Costs.Sum(c => c.PromptTokens)} | {s.Costs.Sum(c => c.CachedTokens)} | {s.Costs.Sum(c => c.TruncatedDocuments)} |"));
            }
        }
        L();
        L("Files: `first-stage.trec`" + string.Concat(outcome.Systems.Select(s => $", `{s.Name}.trec`")) + ", `per-query.tsv`, `report.json`.");
        return sb.ToString();
    }

    /// <summary>The JSON report: settings, means, per-query values and costs, comparisons.</summary>
    public static string Json(EvalOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var metrics = outcome.Options.Metrics;
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteString("dataset", outcome.Dataset);
            j.WriteString("first_stage", outcome.FirstStageName);
            j.WriteNumber("top_k", outcome.Options.TopK);
            j.WriteNumber("queries", outcome.QueryIds.Count);
            j.WriteStartArray("metrics");
            foreach (var m in metrics) j.WriteStringValue(m.Name);
            j.WriteEndArray();
            j.WriteString("machine", MachineInfo.Current().ToString());
            j.WriteString("started_utc", outcome.Started.ToString("O", Inv));
            j.WriteStartArray("systems");
            foreach (var s in All(outcome))
            {
                j.WriteStartObject();
                j.WriteString("name", s.Name);
                if (s.Model is not null) j.WriteString("model", s.Model);
                if (s.Method is { } me) j.WriteString("method", RerankMethodNames.Name(me));
                j.WriteStartObject("mean");
                for (int i = 0; i < metrics.Count; i++) j.WriteNumber(metrics[i].Name, s.Evaluation.Means[i]);
                j.WriteEndObject();
                if (s.Costs.Count > 0)
                {
                    var lat = s.Costs.Select(c => c.LatencyMs).Order().ToArray();
                    j.WriteStartObject("latency_ms");
                    j.WriteNumber("mean", Math.Round(lat.Average(), 3));
                    j.WriteNumber("p50", Math.Round(Percentile(lat, 0.5), 3));
                    j.WriteNumber("p95", Math.Round(Percentile(lat, 0.95), 3));
                    j.WriteNumber("total", Math.Round(lat.Sum(), 3));
                    j.WriteEndObject();
                    j.WriteStartObject("tokens");
                    j.WriteNumber("prompt", s.Costs.Sum(c => c.PromptTokens));
                    j.WriteNumber("cached", s.Costs.Sum(c => c.CachedTokens));
                    j.WriteNumber("truncated_documents", s.Costs.Sum(c => c.TruncatedDocuments));
                    j.WriteEndObject();
                }
                if (s.VersusFirstStage.Count > 0)
                {
                    j.WriteStartObject("versus_first_stage");
                    for (int i = 0; i < metrics.Count; i++) WriteComparison(j, metrics[i].Name, s.VersusFirstStage[i]);
                    j.WriteEndObject();
                }
                var costs = s.Costs.ToDictionary(c => c.QueryId, StringComparer.Ordinal);
                j.WriteStartArray("per_query");
                foreach (var q in s.Evaluation.PerQuery)
                {
                    j.WriteStartObject();
                    j.WriteString("query", q.QueryId);
                    for (int i = 0; i < metrics.Count; i++) j.WriteNumber(metrics[i].Name, q.Values[i]);
                    if (costs.TryGetValue(q.QueryId, out var c))
                    {
                        j.WriteNumber("latency_ms", Math.Round(c.LatencyMs, 3));
                        j.WriteNumber("documents", c.Documents);
                        j.WriteNumber("prompt_tokens", c.PromptTokens);
                        j.WriteNumber("cached_tokens", c.CachedTokens);
                    }
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartArray("comparisons");
            foreach (var pair in outcome.Comparisons)
            {
                j.WriteStartObject();
                j.WriteString("system", pair.B);
                j.WriteString("against", pair.A);
                for (int i = 0; i < metrics.Count; i++) WriteComparison(j, metrics[i].Name, pair.PerMetric[i]);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>trec_eval's measure and, for a reciprocal rank with a cutoff, the <c>-M</c> option that gives it.</summary>
    private static string TrecEval(MetricSpec m) =>
        m.Kind == MetricKind.ReciprocalRank && m.Cutoff is { } k ? $"recip_rank with -M {k}" : m.TrecEvalName;

    private static IEnumerable<SystemOutcome> All(EvalOutcome o) => new[] { o.FirstStage }.Concat(o.Systems);

    private static void WriteComparison(Utf8JsonWriter j, string name, PairedComparison c)
    {
        j.WriteStartObject(name);
        j.WriteNumber("mean_difference", c.MeanDifference);
        WriteNumberOrNull(j, "t", c.TStatistic);
        WriteNumberOrNull(j, "p_t_test", c.TTestP);
        j.WriteNumber("p_randomization", c.RandomizationP);
        j.WriteNumber("permutations", c.Permutations);
        j.WriteEndObject();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter j, string name, double value)
    {
        if (double.IsFinite(value)) j.WriteNumber(name, value);
        else j.WriteNull(name);
    }

    private static string Num(double v, string format) => double.IsFinite(v) ? v.ToString(format, Inv) : "-";

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
