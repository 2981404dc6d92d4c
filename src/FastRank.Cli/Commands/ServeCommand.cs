using System.CommandLine;
using System.Globalization;
using FastRank.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace FastRank.Cli.Commands;

/// <summary>
/// <c>fastrank serve</c>: the rerank HTTP server. Every flag is a configuration key of
/// <see cref="ServerOptions"/> (<c>FastRank:...</c>), so appsettings.json and <c>FASTRANK__...</c>
/// environment variables set the same things; flags win.
/// </summary>
internal static class ServeCommand
{
    public static Command Create(CliOutput output)
    {
        var model = new Option<string[]>("--model", "-m")
        {
            Description = "Model: NAME=MODEL or MODEL (a GGUF file, catalog name, hf:// reference or URL); repeat for several. Default: the catalog's default model as 'default'",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var use = new Option<string?>("--use") { Description = "The model of requests that name none (default: the first --model)" };
        var host = new Option<string?>("--host") { Description = "Address to listen on (default 127.0.0.1, loopback only; 0.0.0.0 for all)" };
        var port = new Option<int?>("--port", "-p") { Description = "Port (default 8080; 0: any free port)" };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on the rerank and model routes" };
        var adminKey = new Option<string?>("--admin-key") { Description = "Enable /admin/models/... (load, swap, unload) with 'Authorization: Bearer KEY'" };
        var maxDocuments = new Option<int?>("--max-documents") { Description = "Most documents per request (default 1000; more: 413)" };
        var maxRequestBytes = new Option<long?>("--max-request-bytes") { Description = "Largest request body (default 8388608; larger: 413)" };
        var queue = new Option<int?>("--queue") { Description = "Most rerank requests admitted at once, running or waiting (default 64; more: 429)" };
        var timeout = new Option<double?>("--request-timeout") { Description = "Seconds a request may take (default 60; longer: 504)" };
        var method = new Option<string?>("--method") { Description = "Default method: pointwise, first, icr, listwise-generate (default: the model's preference)" };
        var maxDocTokens = new Option<int?>("--max-doc-tokens") { Description = "Per-document token budget (default 512; longer documents are truncated)" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads per model (0: all cores)" };
        var cacheDir = CliModels.CacheDir();
        var offline = CliModels.Offline();
        var cmd = new Command("serve", "Serve reranking over HTTP (Cohere v1/v2, Jina, llama-server and TEI rerank APIs)")
        {
            model, use, host, port, apiKey, adminKey, maxDocuments, maxRequestBytes, queue, timeout, method, maxDocTokens, threads, cacheDir, offline,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            void Set<T>(string key, T? value)
            {
                if (value is not null) settings[$"{ServerOptions.Section}:{key}"] = Convert.ToString(value, CultureInfo.InvariantCulture);
            }
            foreach (var (name, reference) in RerankCommand.ModelSpecs(parse.GetValue(model) ?? []))
            {
                if (reference is not null) Set($"Models:{name}", reference);
            }
            Set("Use", parse.GetValue(use));
            Set("Host", parse.GetValue(host));
            Set("Port", parse.GetValue(port));
            Set("ApiKey", parse.GetValue(apiKey));
            Set("AdminKey", parse.GetValue(adminKey));
            Set("MaxDocuments", parse.GetValue(maxDocuments));
            Set("MaxRequestBytes", parse.GetValue(maxRequestBytes));
            Set("Queue", parse.GetValue(queue));
            Set("RequestTimeout", parse.GetValue(timeout));
            Set("Method", parse.GetValue(method));
            Set("MaxDocumentTokens", parse.GetValue(maxDocTokens));
            Set("Threads", parse.GetValue(threads));
            Set("CacheDirectory", parse.GetValue(cacheDir));
            if (parse.GetValue(offline)) Set("Offline", true);
            WebApplication app;
            try
            {
                app = FastRankServer.Build(settings);
            }
            catch (ArgumentException ex)
            {
                throw new UsageException(ex.Message);
            }
            await using (app.ConfigureAwait(false))
            {
                // SIGTERM and Ctrl+C go to the host (stop accepting, drain, exit), not to this token.
                await app.StartAsync(ct).ConfigureAwait(false);
                foreach (var a in FastRankServer.Addresses(app)) output.Error.WriteLine($"fastrank serve: listening on {a}");
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            }
            return ExitCodes.Success;
        });
        return cmd;
    }
}
