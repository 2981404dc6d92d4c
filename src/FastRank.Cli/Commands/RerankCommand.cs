using System.CommandLine;
using System.Text.Json;
using FastRank.Models;
using FastRank.Ranking;
using Spectre.Console;

namespace FastRank.Cli.Commands;

internal static class RerankCommand
{
    public static Command Create(CliOutput output)
    {
        var model = new Option<string[]>("--model", "-m")
        {
            Description = "Model: a GGUF file, a catalog name, hf://owner/repo/file.gguf or an https URL; NAME=MODEL names it (repeat for several). " +
                "Default: the catalog's default model, downloaded on first use",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var use = new Option<string[]>("--use") { Description = "With several --model: rank with these names only (default: each in turn)", Arity = ArgumentArity.ZeroOrMore };
        var cacheDir = CliModels.CacheDir();
        var offline = CliModels.Offline();
        var query = new Option<string>("--query", "-q") { Description = "The query", Required = true };
        var docs = new Option<string>("--docs", "-d") { Description = "Documents: a .jsonl file ({\"text\", \"id\"?} per line), a text file (one per line), or - for stdin", Required = true };
        var method = new Option<RerankMethod>("--method") { Description = "Ranking method (pointwise, first, listwise-generate)", DefaultValueFactory = _ => RerankMethod.Pointwise, CustomParser = MethodNames.Parse };
        var topN = new Option<int?>("--top-n", "-n") { Description = "Return only the N best documents" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var rerankerOptions = RerankerCliOptions.Create();

        var cmd = new Command("rerank", "Rank documents by relevance to a query")
        {
            model, query, docs, method, topN, json, use, cacheDir, offline,
        };
        rerankerOptions.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            bool verbose = parse.GetValue(Cli.Verbose);
            int? n = parse.GetValue(topN);
            if (n is < 0) throw new UsageException("--top-n must not be negative");
            using var loggerFactory = CliModels.Logging(verbose);
            var options = rerankerOptions.Read(parse, parse.GetValue(method), loggerFactory);
            var input = DocumentReader.Read(parse.GetValue(docs)!, Console.In);
            // Every --model becomes a name in a pool; the selected ones rank in turn (each downloaded first if needed).
            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), parse.GetValue(offline), loggerFactory);
            var specs = ModelSpecs(parse.GetValue(model) ?? []);
            string[] selected = parse.GetValue(use) is { Length: > 0 } u ? [.. u.Distinct(StringComparer.Ordinal)] : [.. specs.Select(x => x.Name)];
            foreach (string name in selected)
            {
                if (!specs.Any(x => x.Name == name)) throw new UsageException($"--use {name}: no --model of that name (names: {string.Join(", ", specs.Select(x => x.Name))})");
            }
            bool explicitMethod = parse.GetResult(method) is { Implicit: false };
            await using var pool = new ModelPool(resolver, new ModelPoolOptions { WarmUp = false, RerankerOptions = options, LoggerFactory = loggerFactory });
            var results = new List<(string Name, RerankResult Result, double LoadMs)>();
            foreach (string name in selected)
            {
                var reference = CliModels.Parse(resolver, specs.First(x => x.Name == name).Reference);
                var resolved = await CliModels.ResolveWithProgressAsync(resolver, reference, output, ct).ConfigureAwait(false);
                var sw = System.Diagnostics.Stopwatch.StartNew();
                // A catalog model brings its preferred method and prompt settings unless --method is given.
                pool.Register(name, resolved.Path, explicitMethod || resolved.Entry is null ? options : resolved.Entry.ApplyTo(options));
                using var lease = await pool.AcquireAsync(name, ct).ConfigureAwait(false);
                double loadMs = sw.Elapsed.TotalMilliseconds;
                var result = await lease.RerankAsync(parse.GetValue(query)!, input.Select(d => d.Text).ToArray(), n, ct).ConfigureAwait(false);
                results.Add((name, result, loadMs));
                if (selected.Length > 1) pool.Unload(name); // one model in memory at a time
            }
            if (results.Count == 1)
            {
                if (parse.GetValue(json)) WriteJson(output.Out, results[0].Result, input, results[0].LoadMs);
                else WriteTable(output.Out, results[0].Result, input, results[0].LoadMs);
                return ExitCodes.Success;
            }
            if (parse.GetValue(json))
            {
                output.Out.WriteLine("{\"models\": [");
                for (int i = 0; i < results.Count; i++)
                {
                    using var item = new StringWriter();
                    WriteJson(item, results[i].Result, input, results[i].LoadMs);
                    string obj = item.ToString().TrimEnd();
                    obj = "{\"name\": " + JsonSerializer.Serialize(results[i].Name) + ", " + obj.TrimStart()[1..];
                    output.Out.WriteLine(obj + (i < results.Count - 1 ? "," : ""));
                }
                output.Out.WriteLine("]}");
                return ExitCodes.Success;
            }
            foreach (var (name, result, loadMs) in results)
            {
                output.Out.WriteLine($"== {name} ==");
                WriteTable(output.Out, result, input, loadMs);
            }
            return ExitCodes.Success;
        });
        return cmd;
    }

    /// <summary>Parses <c>--model</c> values: <c>NAME=MODEL</c> or <c>MODEL</c> (named by its catalog name or file name); none: the catalog's default.</summary>
    internal static List<(string Name, string? Reference)> ModelSpecs(string[] values)
    {
        var specs = new List<(string Name, string? Reference)>();
        if (values.Length == 0)
        {
            specs.Add(("default", null));
            return specs;
        }
        foreach (string v in values)
        {
            int eq = v.IndexOf('=', StringComparison.Ordinal);
            string name, reference;
            // NAME=MODEL only when NAME is a plain word: URLs with query strings and paths keep their '='.
            if (eq > 0 && v[..eq].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                name = v[..eq];
                reference = v[(eq + 1)..];
            }
            else
            {
                reference = v;
                name = v.StartsWith("hf://", StringComparison.OrdinalIgnoreCase) || v.Contains("://", StringComparison.Ordinal) || File.Exists(v)
                    ? Path.GetFileNameWithoutExtension(v.Split('?')[0].TrimEnd('/'))
                    : v;
            }
            if (string.IsNullOrWhiteSpace(reference)) throw new UsageException($"--model {v}: no model after '='");
            if (specs.Any(x => x.Name == name)) throw new UsageException($"--model: the name '{name}' is used twice (use NAME=MODEL)");
            specs.Add((name, reference));
        }
        return specs;
    }

    private static void WriteJson(TextWriter w, RerankResult result, List<InputDocument> input, double loadMs)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteString("model", result.Model);
            j.WriteString("method", MethodNames.Name(result.Method));
            j.WriteStartArray("results");
            foreach (var r in result)
            {
                j.WriteStartObject();
                j.WriteNumber("index", r.Index);
                if (input[r.Index].Id is { } id) j.WriteString("id", id);
                j.WriteNumber("relevance_score", r.Score);
                j.WriteNumber("raw_score", r.RawScore);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartObject("usage");
            j.WriteNumber("prompt_tokens", result.Usage.PromptTokens);
            j.WriteNumber("cached_tokens", result.Usage.CachedTokens);
            j.WriteNumber("truncated_documents", result.Usage.TruncatedDocuments);
            j.WriteEndObject();
            j.WriteStartObject("timings_ms");
            j.WriteNumber("load", Math.Round(loadMs, 2));
            j.WriteNumber("tokenize", Math.Round(result.Timings.TokenizeMs, 2));
            j.WriteNumber("prefix", Math.Round(result.Timings.PrefixMs, 2));
            j.WriteNumber("score", Math.Round(result.Timings.ScoreMs, 2));
            j.WriteNumber("total", Math.Round(result.Timings.TotalMs, 2));
            j.WriteEndObject();
            j.WriteEndObject();
        }
        w.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static void WriteTable(TextWriter w, RerankResult result, List<InputDocument> input, double loadMs)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w) });
        var table = new Table().AddColumns("#", "index", "id", "score", "document");
        int rank = 1;
        foreach (var r in result)
        {
            string text = input[r.Index].Text;
            if (text.Length > 70) text = text[..67] + "...";
            table.AddRow((rank++).ToString(System.Globalization.CultureInfo.InvariantCulture), r.Index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(input[r.Index].Id ?? ""), r.Score.ToString("F4", System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(text));
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape(
            $"{result.Model} ({MethodNames.Name(result.Method)}): {input.Count} documents, {result.Usage.PromptTokens} prompt tokens " +
            $"({result.Usage.CachedTokens} from cache), {result.Usage.TruncatedDocuments} truncated; load {loadMs:F0} ms, rerank {result.Timings.TotalMs:F0} ms"));
    }
}
