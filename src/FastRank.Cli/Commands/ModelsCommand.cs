using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FastRank.Diagnostics;
using FastRank.Models;
using FastRank.Ranking;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace FastRank.Cli.Commands;

/// <summary>Options and helpers that the model-aware commands share.</summary>
internal static class CliModels
{
    public static Option<string?> CacheDir(bool recursive = false) => new("--cache-dir")
    {
        Description = "Model download cache (default: $FASTRANK_CACHE, else ~/.cache/fastrank)",
        Recursive = recursive,
    };

    public static Option<bool> Offline(bool recursive = false) => new("--offline")
    {
        Description = "Never download; use cached models only (also FASTRANK_OFFLINE=1)",
        Recursive = recursive,
    };

    public static ModelResolver CreateResolver(string? cacheDir, bool offline, ILoggerFactory? logging) =>
        new(new ModelResolverOptions { CacheDirectory = cacheDir, Offline = offline ? true : null, LoggerFactory = logging });

    public static ILoggerFactory? Logging(bool verbose) =>
        verbose ? LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).AddFilter(l => l >= LogLevel.Information)) : null;

    /// <summary>Parses a reference, turning malformed ones into usage errors.</summary>
    public static ModelReference Parse(ModelResolver resolver, string? text)
    {
        try
        {
            return resolver.Parse(text);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }
    }

    /// <summary>Resolves <paramref name="reference"/>, showing download progress on <paramref name="output"/>'s error stream.</summary>
    public static async Task<ResolvedModel> ResolveWithProgressAsync(ModelResolver resolver, ModelReference reference, CliOutput output, CancellationToken ct)
    {
        if (!reference.IsRemote || resolver.Cache.TryGetCached(reference) is not null || resolver.Offline)
            return await resolver.ResolveAsync(reference, null, ct).ConfigureAwait(false);
        return await WithProgressAsync(output, reference.DisplayName, "downloading", p => resolver.ResolveAsync(reference, p, ct)).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a progress display: a Spectre.Console bar when standard error is a
    /// terminal, plain lines (every 10% or 10 s) otherwise.
    /// </summary>
    public static async Task<T> WithProgressAsync<T>(CliOutput output, string label, string verb, Func<IProgress<DownloadProgress>, Task<T>> work)
    {
        bool terminal = ReferenceEquals(output.Error, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal)
        {
            var plain = new PlainProgress(output.Error, verb);
            var result = await work(plain).ConfigureAwait(false);
            plain.Done();
            return result;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T value = default!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(label), maxValue: 1);
                task.IsIndeterminate = true;
                var progress = new SyncProgress<DownloadProgress>(p =>
                {
                    if (p.TotalBytes is { } total && total > 0)
                    {
                        task.IsIndeterminate = false;
                        task.MaxValue = total;
                    }
                    task.Value = p.BytesReceived;
                });
                value = await work(progress).ConfigureAwait(false);
                task.Value = task.MaxValue;
                task.StopTask();
            }).ConfigureAwait(false);
        return value;
    }

    public static string Size(long bytes) => bytes switch
    {
        >= 1_000_000_000 => (bytes / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " GB",
        >= 1_000_000 => (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture) + " MB",
        >= 1_000 => (bytes / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " kB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    /// <summary>An <see cref="IProgress{T}"/> that runs the handler on the reporting thread, in order.</summary>
    internal sealed class SyncProgress<T>(Action<T> handler) : IProgress<T>
    {
        public void Report(T value) => handler(value);
    }

    /// <summary>Progress as plain lines for logs and pipes.</summary>
    private sealed class PlainProgress(TextWriter writer, string verb) : IProgress<DownloadProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private int _lastDecile = -1;
        private double _lastSeconds = -100;
        private DownloadProgress? _last;

        public void Report(DownloadProgress p)
        {
            _last = p;
            int decile = p.TotalBytes is { } t && t > 0 ? (int)(p.BytesReceived * 10 / t) : -1;
            double s = _clock.Elapsed.TotalSeconds;
            if (decile == _lastDecile && s - _lastSeconds < 10) return;
            _lastDecile = decile;
            _lastSeconds = s;
            Write(p);
        }

        public void Done()
        {
            if (_last is { } p && _lastDecile != 10) Write(p);
        }

        private void Write(DownloadProgress p)
        {
            string pct = p.TotalBytes is { } t && t > 0 ? $"{p.BytesReceived * 100.0 / t,5:F1}% " : "";
            string of = p.TotalBytes is { } total ? $" of {Size(total)}" : "";
            string resumed = p.ResumedFrom > 0 ? $", resumed at {Size(p.ResumedFrom)}" : "";
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{verb} {p.Name}: {pct}({Size(p.BytesReceived)}{of}, {p.BytesPerSecond / 1e6:F1} MB/s{resumed})"));
        }
    }
}

internal static class ModelsCommand
{
    public static Command Create(CliOutput output)
    {
        var cacheDir = CliModels.CacheDir(recursive: true);
        var cmd = new Command("models", "The model catalog and the download cache: list, pull, rm, path, bench") { cacheDir };
        cmd.Add(List(output, cacheDir));
        cmd.Add(Pull(output, cacheDir));
        cmd.Add(Remove(output, cacheDir));
        cmd.Add(PathOf(output, cacheDir));
        cmd.Add(Bench(output, cacheDir));
        return cmd;
    }

    private static Command List(CliOutput output, Option<string?> cacheDir)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var cmd = new Command("list", "List the catalog's models with their cache state, and other cached files") { json };
        cmd.SetAction(parse =>
        {
            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), offline: true, null);
            var cache = resolver.Cache;
            var rows = resolver.Catalog.Entries.Select(e =>
            {
                var r = ModelReference.FromCatalog(e);
                string? path = cache.TryGetCached(r);
                return (Entry: e, Path: path, Size: path is null ? 0 : new FileInfo(path).Length, Partial: cache.PartialBytes(r));
            }).ToList();
            var catalogPaths = rows.Select(r => cache.PathFor(ModelReference.FromCatalog(r.Entry))).ToHashSet(StringComparer.Ordinal);
            var others = cache.List().Where(c => !catalogPaths.Contains(c.Path)).ToList();
            if (parse.GetValue(json))
            {
                WriteListJson(output.Out, resolver, rows, others);
                return ExitCodes.Success;
            }
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output.Out) });
            if (!ReferenceEquals(output.Out, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 200; // pipes and files get whole rows
            var table = new Table().AddColumns("name", "kind", "methods", "quant", "size", "cached", "licence", "source");
            foreach (var (e, path, size, partial) in rows)
            {
                string cached = path is not null ? "yes" : partial > 0 && e.SizeBytes is { } s ? $"partial {partial * 100.0 / s:F0}%" : partial > 0 ? "partial" : "no";
                table.AddRow(Markup.Escape(e.Name == resolver.Catalog.Default.Name ? e.Name + " (default)" : e.Name), Markup.Escape(e.Kind),
                    Markup.Escape(string.Join(", ", e.Methods.Select(m => m.Method))), Markup.Escape(e.Quantization ?? ""),
                    e.SizeBytes is { } b ? CliModels.Size(b) : path is not null ? CliModels.Size(size) : "?", cached, Markup.Escape(e.License ?? ""),
                    Markup.Escape(e.HfReference));
            }
            console.Write(table);
            if (others.Count > 0)
            {
                var other = new Table().AddColumns("other cached file", "size", "state", "source");
                foreach (var c in others)
                {
                    other.AddRow(Markup.Escape(Path.GetRelativePath(cache.Directory, c.Path)), CliModels.Size(c.SizeBytes), c.Partial ? "partial" : "complete",
                        Markup.Escape(c.Metadata?.Source ?? ""));
                }
                console.Write(other);
            }
            long total = cache.List().Sum(c => c.SizeBytes);
            output.Out.WriteLine($"cache: {cache.Directory} ({CliModels.Size(total)}){(resolver.Offline ? "" : "")}");
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static void WriteListJson(TextWriter w, ModelResolver resolver, List<(CatalogEntry Entry, string? Path, long Size, long Partial)> rows, List<CachedModel> others)
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteString("cache", resolver.Cache.Directory);
            j.WriteString("default", resolver.Catalog.Default.Name);
            j.WriteStartArray("models");
            foreach (var (e, path, size, partial) in rows)
            {
                j.WriteStartObject();
                j.WriteString("name", e.Name);
                j.WriteString("kind", e.Kind);
                j.WriteString("repo", e.Repo);
                j.WriteString("file", e.File);
                j.WriteString("quantization", e.Quantization);
                if (e.SizeBytes is { } s) j.WriteNumber("size_bytes", s);
                else j.WriteNull("size_bytes");
                j.WriteString("license", e.License);
                j.WriteStartArray("methods");
                foreach (var m in e.Methods) j.WriteStringValue(m.Method);
                j.WriteEndArray();
                j.WriteBoolean("cached", path is not null);
                if (path is not null)
                {
                    j.WriteString("path", path);
                    j.WriteNumber("cached_bytes", size);
                }
                j.WriteNumber("partial_bytes", partial);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartArray("other");
            foreach (var c in others)
            {
                j.WriteStartObject();
                j.WriteString("path", c.Path);
                j.WriteNumber("size_bytes", c.SizeBytes);
                j.WriteBoolean("partial", c.Partial);
                j.WriteString("source", c.Metadata?.Source);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        w.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static Command Pull(CliOutput output, Option<string?> cacheDir)
    {
        var models = new Argument<string[]>("model") { Description = "Catalog names, hf://owner/repo/file.gguf references or URLs (none: the catalog's default)", Arity = ArgumentArity.ZeroOrMore };
        var cmd = new Command("pull", "Download models into the cache (resumes partial downloads; verifies SHA-256 and GGUF)") { models };
        cmd.SetAction(async (parse, ct) =>
        {
            using var logging = CliModels.Logging(parse.GetValue(Cli.Verbose));
            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), offline: false, logging);
            string[] names = parse.GetValue(models) is { Length: > 0 } given ? given : [resolver.Catalog.Default.Name];
            var refs = names.Select(n => CliModels.Parse(resolver, n)).ToList();
            foreach (var r in refs)
            {
                if (!r.IsRemote) throw new UsageException($"'{r.Text}' is a local file; pull downloads catalog names, hf:// references and URLs");
                var resolved = await CliModels.ResolveWithProgressAsync(resolver, r, output, ct).ConfigureAwait(false);
                if (resolved.Download is { Downloaded: true } d)
                {
                    string verified = d.ChecksumSource switch
                    {
                        "catalog" => "verified against the catalog's pin",
                        "x-linked-etag" => "verified against the server's X-Linked-Etag",
                        _ => "not verified: neither the catalog nor the server gave a checksum",
                    };
                    output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{r.DisplayName}: {resolved.Path} ({CliModels.Size(d.Bytes)} in {d.Elapsed.TotalSeconds:F1} s, {d.BytesPerSecond / 1e6:F1} MB/s; SHA-256 {d.Sha256} {verified})"));
                }
                else
                {
                    output.Out.WriteLine($"{r.DisplayName}: {resolved.Path} (already cached)");
                }
            }
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static Command Remove(CliOutput output, Option<string?> cacheDir)
    {
        var models = new Argument<string[]>("model") { Description = "Catalog names, hf:// references or URLs to remove from the cache", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("rm", "Remove downloaded models (and partial downloads) from the cache") { models };
        cmd.SetAction(parse =>
        {
            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), offline: true, null);
            int missing = 0;
            foreach (string name in parse.GetValue(models)!)
            {
                var r = CliModels.Parse(resolver, name);
                if (!r.IsRemote) throw new UsageException($"'{name}' is a local file; rm only removes downloads from the cache");
                string path = resolver.Cache.PathFor(r);
                if (resolver.Cache.Remove(r))
                {
                    output.Out.WriteLine($"removed {r.DisplayName} ({path})");
                }
                else
                {
                    output.Error.WriteLine($"fastrank: {r.DisplayName} is not in the cache ({path})");
                    missing++;
                }
            }
            return missing == 0 ? ExitCodes.Success : ExitCodes.Failure;
        });
        return cmd;
    }

    private static Command PathOf(CliOutput output, Option<string?> cacheDir)
    {
        var model = new Argument<string>("model") { Description = "A catalog name, hf:// reference or URL (none: the default)", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("path", "Print the cached file of a model (exit 1 when it is not cached; never downloads)") { model };
        cmd.SetAction(async (parse, ct) =>
        {
            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), offline: true, null);
            var resolved = await resolver.ResolveAsync(CliModels.Parse(resolver, parse.GetValue(model)), null, ct).ConfigureAwait(false);
            output.Out.WriteLine(resolved.Path);
            return ExitCodes.Success;
        });
        return cmd;
    }

    private static Command Bench(CliOutput output, Option<string?> cacheDir)
    {
        var model = new Option<string>("--model", "-m") { Description = "The model (path, catalog name, hf:// or URL)", Required = true };
        var swapTo = new Option<string?>("--swap-to") { Description = "Second model to swap with (default: the same file, reloaded)" };
        var cycles = new Option<int>("--cycles") { Description = "Load/unload cycles for the memory figure", DefaultValueFactory = _ => 50 };
        var repeats = new Option<int>("--repeats") { Description = "Loads and swaps timed (median reported)", DefaultValueFactory = _ => 5 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all cores)" };
        var cmd = new Command("bench", "Measure model load time against reading the file (page cache), hot-swap latency, and resident memory over load/unload cycles")
        {
            model, swapTo, cycles, repeats, threads,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            int n = parse.GetValue(cycles), reps = parse.GetValue(repeats);
            if (n < 1 || reps < 1) throw new UsageException("--cycles and --repeats must be at least 1");
            using var logging = CliModels.Logging(parse.GetValue(Cli.Verbose));
            using var resolver = CliModels.CreateResolver(parse.GetValue(cacheDir), offline: false, logging);
            string a = (await CliModels.ResolveWithProgressAsync(resolver, CliModels.Parse(resolver, parse.GetValue(model)), output, ct).ConfigureAwait(false)).Path;
            string b = parse.GetValue(swapTo) is { } other
                ? (await CliModels.ResolveWithProgressAsync(resolver, CliModels.Parse(resolver, other), output, ct).ConfigureAwait(false)).Path
                : a;
            var options = new RerankerOptions { Threads = parse.GetValue(threads) };
            var report = await ModelBench.RunAsync(resolver, a, b, options, n, reps, ct).ConfigureAwait(false);
            foreach (string line in report) output.Out.WriteLine(line);
            return ExitCodes.Success;
        });
        return cmd;
    }
}

/// <summary>The figures of <c>fastrank models bench</c>.</summary>
internal static class ModelBench
{
    public static async Task<List<string>> RunAsync(ModelResolver resolver, string a, string b, RerankerOptions options, int cycles, int repeats, CancellationToken ct)
    {
        var lines = new List<string>();
        long size = new FileInfo(a).Length;
        string[] docs = ["a llama is a domesticated South American camelid", "the stock market fell on Tuesday", "llamas are used as pack animals"];

        // Floor: one read of the whole file from the page cache (read once before to bring it there).
        ReadAll(a);
        var floor = new List<double>();
        var load = new List<double>();
        var weights = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            long t = Stopwatch.GetTimestamp();
            ReadAll(a);
            floor.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            t = Stopwatch.GetTimestamp();
            using (Engine.LlamaModel.Load(a)) weights.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            t = Stopwatch.GetTimestamp();
            using (Reranker.Load(a, options)) load.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }

        // Swap latency: from the swap call until the first request served by the new version.
        var swap = new List<double>();
        var swapLoad = new List<double>();
        await using (var pool = new ModelPool(resolver, new ModelPoolOptions { RerankerOptions = options }))
        {
            pool.Register("m", a);
            await pool.RerankAsync("m", "what is a llama?", docs, ct: ct).ConfigureAwait(false);
            for (int i = 0; i < repeats; i++)
            {
                string target = i % 2 == 0 ? b : a;
                long t = Stopwatch.GetTimestamp();
                var result = await pool.SwapAsync("m", target, ct: ct).ConfigureAwait(false);
                using (var lease = await pool.AcquireAsync("m", ct).ConfigureAwait(false))
                {
                    if (lease.Version != result.NewVersion) throw new InvalidOperationException("the first request after the swap was not served by the new version");
                    await lease.RerankAsync("what is a llama?", docs, ct: ct).ConfigureAwait(false);
                }
                swap.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                swapLoad.Add(result.LoadTime.TotalMilliseconds);
            }
        }

        // Resident memory over load/unload cycles (load + warm-up + one request + unload).
        long rssBefore = Settle();
        long rssAfter1 = 0, rssAfterN = 0;
        await using (var pool = new ModelPool(resolver, new ModelPoolOptions { RerankerOptions = options }))
        {
            pool.Register("m", a);
            for (int i = 1; i <= cycles; i++)
            {
                await pool.RerankAsync("m", "what is a llama?", docs, ct: ct).ConfigureAwait(false);
                pool.Unload("m");
                if (i == 1) rssAfter1 = Settle();
            }
            rssAfterN = Settle();
        }

        var inv = CultureInfo.InvariantCulture;
        lines.Add(string.Create(inv, $"model: {a} ({CliModels.Size(size)}){(b != a ? $"; swap partner: {b}" : "")}"));
        lines.Add(string.Create(inv, $"machine: {MachineInfo.Current()}"));
        lines.Add("");
        lines.Add("| figure | median | min | max |");
        lines.Add("| --- | ---: | ---: | ---: |");
        lines.Add(Row("read the file from the page cache (floor), ms", floor));
        lines.Add(Row("LlamaModel.Load (validate GGUF, llama.cpp load: mmap, vocabulary), ms", weights));
        lines.Add(Row("Reranker.Load (the above + method setup + context with its KV cache), ms", load));
        lines.Add(Row("swap call -> first request served by the new model, ms", swap));
        lines.Add(Row("  of which resolve + load + warm-up of the new version, ms", swapLoad));
        lines.Add("");
        lines.Add(string.Create(inv, $"load / floor: model {Median(weights) / Math.Max(1e-6, Median(floor)):F1}x, reranker {Median(load) / Math.Max(1e-6, Median(floor)):F1}x"));
        lines.Add(string.Create(inv, $"resident memory (after GC and malloc_trim): before {rssBefore / 1e6:F1} MB, after 1 load/unload cycle {rssAfter1 / 1e6:F1} MB, after {cycles} cycles {rssAfterN / 1e6:F1} MB ({(rssAfterN - rssAfter1) / 1e6:+0.0;-0.0} MB)"));
        return lines;

        static string Row(string name, List<double> v) => string.Create(CultureInfo.InvariantCulture, $"| {name} | {Median(v):F1} | {v.Min():F1} | {v.Max():F1} |");
    }

    private static long Settle() => ProcessMemory.SettledResidentBytes();

    private static double Median(List<double> v)
    {
        var s = v.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static void ReadAll(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        byte[] buffer = new byte[1 << 20];
        while (f.Read(buffer, 0, buffer.Length) > 0)
        {
        }
    }
}
