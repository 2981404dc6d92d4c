using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FastRank.Ranking;

namespace FastRank.Cli.Commands;

/// <summary>
/// <c>fastrank prompt</c>: prints the exact prompts a method would decode for a query and documents (text,
/// token ids and pieces), split the way the engine decodes them: the head kept in the prefix cache across
/// queries, the query part shared by the call, and what each document, window or chunk adds.
/// </summary>
internal static class PromptCommand
{
    public static Command Create(CliOutput output)
    {
        var model = new Option<string>("--model", "-m") { Description = "Model: a GGUF file, a catalog name, hf://owner/repo/file.gguf or an https URL (default: the catalog's default model)" };
        var cacheDir = CliModels.CacheDir();
        var offline = CliModels.Offline();
        var method = new Option<RerankMethod>("--method") { Description = "Ranking method (pointwise, first, listwise-generate, icr)", DefaultValueFactory = _ => RerankMethod.Pointwise, CustomParser = MethodNames.Parse };
        var query = new Option<string>("--query", "-q") { Description = "The query", Required = true };
        var document = new Option<string[]>("--document") { Description = "A document (repeat for several)", Arity = ArgumentArity.ZeroOrMore };
        var docs = new Option<string?>("--docs", "-d") { Description = "Documents: a .jsonl file ({\"text\"} per line), a text file (one per line), or - for stdin" };
        var json = new Option<bool>("--json") { Description = "Print JSON: every part's text, token ids and pieces" };
        var rerankerOptions = RerankerCliOptions.PromptOnly();
        var cmd = new Command("prompt", "Show the exact prompts a method decodes: text, token ids and pieces, and which part comes from the prefix cache")
        {
            model, cacheDir, offline, method, query, document, docs, json,
        };
        rerankerOptions.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            var texts = new List<string>(parse.GetValue(document) ?? []);
            if (parse.GetValue(docs) is { } source) texts.AddRange(DocumentReader.Read(source, Console.In).Select(d => d.Text));
            if (texts.Count == 0) throw new UsageException("give documents with --document TEXT (repeatable) or --docs FILE");
            bool verbose = parse.GetValue(Cli.Verbose);
            using var loggerFactory = CliModels.Logging(verbose);
            var options = rerankerOptions.Read(parse, parse.GetValue(method), loggerFactory);
            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), parse.GetValue(offline), loggerFactory);
            var resolved = await CliModels.ResolveWithProgressAsync(resolver, CliModels.Parse(resolver, parse.GetValue(model)), output, ct).ConfigureAwait(false);
            bool explicitMethod = parse.GetResult(method) is { Implicit: false };
            if (!explicitMethod && resolved.Entry is not null) options = resolved.Entry.ApplyTo(options);
            using var ranker = Reranker.Load(resolved.Path, options);
            var views = PromptInspection.Explain(ranker, options.Method, parse.GetValue(query)!, texts);
            if (parse.GetValue(json)) WriteJson(output.Out, ranker, options.Method, views);
            else WriteText(output.Out, ranker, options.Method, views);
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static string Describe(string role) => role switch
    {
        "head" => "from the prefix cache, kept across queries",
        "query" => "from the prefix cache, shared by this call",
        "documents" => "decoded once, shared by the query and calibration passes",
        "query-span" => "the query pass",
        "calibration-span" => "the content-free calibration pass",
        _ => "decoded per item",
    };

    private static void WriteText(TextWriter w, Reranker ranker, RerankMethod method, IReadOnlyList<PromptView> views)
    {
        var model = ranker.Model;
        w.WriteLine($"{Path.GetFileName(model.Path)}: {MethodNames.Name(method)}, BOS {(model.AddBos ? "added" : "not added")}");
        foreach (var view in views)
        {
            w.WriteLine($"== {view.Name}: {view.Parts.Sum(p => p.Tokens.Length)} tokens ==");
            foreach (var part in view.Parts)
            {
                string items = part.Documents.Length == 0 ? "" : " [documents " + string.Join(",", part.Documents) + "]";
                w.WriteLine($"-- {part.Role}{items}: {part.Tokens.Length} tokens ({Describe(part.Role)})");
                w.WriteLine(model.Detokenize(part.Tokens));
                w.WriteLine("-- tokens: " + string.Join(' ', part.Tokens.Select(t => t.ToString(CultureInfo.InvariantCulture) + ":" + Escape(model.TokenPiece(t)))));
            }
        }
    }

    private static void WriteJson(TextWriter w, Reranker ranker, RerankMethod method, IReadOnlyList<PromptView> views)
    {
        var model = ranker.Model;
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            j.WriteStartObject();
            j.WriteString("model", Path.GetFileName(model.Path));
            j.WriteString("method", MethodNames.Name(method));
            j.WriteBoolean("add_bos", model.AddBos);
            j.WriteStartArray("prompts");
            foreach (var view in views)
            {
                j.WriteStartObject();
                j.WriteString("name", view.Name);
                j.WriteNumber("tokens", view.Parts.Sum(p => p.Tokens.Length));
                j.WriteStartArray("parts");
                foreach (var part in view.Parts)
                {
                    j.WriteStartObject();
                    j.WriteString("role", part.Role);
                    j.WriteString("source", Describe(part.Role));
                    j.WriteStartArray("documents");
                    foreach (int d in part.Documents) j.WriteNumberValue(d);
                    j.WriteEndArray();
                    j.WriteString("text", model.Detokenize(part.Tokens));
                    j.WriteStartArray("ids");
                    foreach (int t in part.Tokens) j.WriteNumberValue(t);
                    j.WriteEndArray();
                    j.WriteStartArray("pieces");
                    foreach (int t in part.Tokens) j.WriteStringValue(model.TokenPiece(t));
                    j.WriteEndArray();
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        w.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>A token's piece on one line: control characters escaped, spaces shown as they are, in quotes.</summary>
    private static string Escape(string piece)
    {
        var sb = new StringBuilder("'");
        foreach (char c in piece)
        {
            sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\'' => "\\'",
                '\\' => "\\\\",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return sb.Append('\'').ToString();
    }
}
