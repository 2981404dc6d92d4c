using System.CommandLine;
using System.Text.Json;
using FastRank.Ranking;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace FastRank.Cli.Commands;

internal static class RerankCommand
{
    public static Command Create(CliOutput output)
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model file", Required = true };
        var query = new Option<string>("--query", "-q") { Description = "The query", Required = true };
        var docs = new Option<string>("--docs", "-d") { Description = "Documents: a .jsonl file ({\"text\", \"id\"?} per line), a text file (one per line), or - for stdin", Required = true };
        var method = new Option<RerankMethod>("--method") { Description = "Ranking method (pointwise, first, listwise-generate)", DefaultValueFactory = _ => RerankMethod.Pointwise, CustomParser = MethodNames.Parse };
        var topN = new Option<int?>("--top-n", "-n") { Description = "Return only the N best documents" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var instruction = new Option<string?>("--instruction") { Description = "Pointwise instruction" };
        var template = new Option<string?>("--template") { Description = "Pointwise prompt template with {query}, {document} (and {instruction})" };
        var maxDocTokens = new Option<int>("--max-doc-tokens") { Description = "Per-document token budget (longer documents are truncated)", DefaultValueFactory = _ => 512 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all cores)" };
        var parallel = new Option<int>("--parallel") { Description = "Documents decoded together (0: automatic)" };
        var gpuLayers = new Option<int>("--gpu-layers") { Description = "Layers to offload to a GPU (GPU builds of llama.cpp only)" };
        var first = FirstCliOptions.Create();

        var cmd = new Command("rerank", "Rank documents by relevance to a query")
        {
            model, query, docs, method, topN, json, instruction, template, maxDocTokens, threads, parallel, gpuLayers,
        };
        first.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            bool verbose = parse.GetValue(Cli.Verbose);
            int? n = parse.GetValue(topN);
            if (n is < 0) throw new UsageException("--top-n must not be negative");
            if (parse.GetValue(maxDocTokens) < 1) throw new UsageException("--max-doc-tokens must be at least 1");
            var input = DocumentReader.Read(parse.GetValue(docs)!, Console.In);
            using var loggerFactory = verbose ? LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).AddFilter(l => l >= LogLevel.Information)) : null;
            var options = new RerankerOptions
            {
                Method = parse.GetValue(method),
                Instruction = parse.GetValue(instruction),
                PromptTemplate = parse.GetValue(template),
                MaxDocumentTokens = parse.GetValue(maxDocTokens),
                Threads = parse.GetValue(threads),
                ParallelSequences = parse.GetValue(parallel),
                GpuLayers = parse.GetValue(gpuLayers),
                First = first.Read(parse),
                LoggerFactory = loggerFactory,
            };
            string modelPath = parse.GetValue(model)!;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var ranker = Reranker.Load(modelPath, options);
            double loadMs = sw.Elapsed.TotalMilliseconds;
            var result = ranker.Rerank(parse.GetValue(query)!, input.Select(d => d.Text).ToArray(), n);
            if (parse.GetValue(json)) WriteJson(output.Out, result, input, loadMs);
            else WriteTable(output.Out, result, input, loadMs);
            return ExitCodes.Success;
        });
        return cmd;
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
