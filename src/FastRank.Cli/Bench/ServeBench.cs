using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FastRank.Diagnostics;
using FastRank.Models;
using FastRank.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastRank.Cli.Bench;

/// <summary>What <c>fastrank bench --serve</c> measures.</summary>
/// <param name="ModelPath">The GGUF file served.</param>
/// <param name="Label">The model as the report names it.</param>
/// <param name="Clients">Concurrent clients of each point.</param>
/// <param name="Documents">Documents per request.</param>
/// <param name="DocTokens">Tokens per document.</param>
/// <param name="DocumentsPerPoint">Documents each point sends in all (requests = this / documents, at least 2 per client).</param>
/// <param name="Threads">CPU threads of the model (0: all cores).</param>
/// <param name="PeerUrl">Another server with the same API (llama-server --rerank) run with the identical workload.</param>
/// <param name="PeerModel">The model name sent to the peer.</param>
/// <param name="SwapSeconds">Seconds of the swap soak after the points (0: none): the largest client count sends requests without pause while the
/// model is hot-swapped through the admin endpoint every <paramref name="SwapEvery"/> seconds.</param>
/// <param name="SwapEvery">Seconds between swaps of the swap soak.</param>
internal sealed record ServeBenchOptions(string ModelPath, string Label, int[] Clients, int[] Documents, int[] DocTokens, int DocumentsPerPoint,
    int Threads, Uri? PeerUrl, string PeerModel, int SwapSeconds = 0, double SwapEvery = 10);

/// <summary>The swap soak of <c>fastrank bench --serve --swap-seconds N</c>.</summary>
/// <param name="Seconds">Its length.</param>
/// <param name="SwapEvery">Seconds between the end of a swap and the next.</param>
/// <param name="Clients">Concurrent clients.</param>
/// <param name="Documents">Documents per request.</param>
/// <param name="Requests">Requests answered.</param>
/// <param name="Failed">Requests that failed (any status but 200, or a wrong answer).</param>
/// <param name="Swaps">Swaps done (each a new version of the model).</param>
/// <param name="SwapFailures">Swaps refused or failed.</param>
/// <param name="RssAfterWarmupMb">Resident memory at the end of the warm-up (the first swap done).</param>
/// <param name="RssEndMb">Resident memory at the end.</param>
/// <param name="RssMaxMb">Largest resident memory sampled after the warm-up.</param>
internal sealed record SwapSoak(double Seconds, double SwapEvery, int Clients, int Documents, int Requests, int Failed, int Swaps, int SwapFailures,
    double RssAfterWarmupMb, double RssEndMb, double RssMaxMb)
{
    /// <summary>Resident memory growth after the warm-up, end over start.</summary>
    public double RssGrowth => RssEndMb / RssAfterWarmupMb - 1;
}

/// <summary>One measured point: a target (fastrank over HTTP, the in-process library, the peer) under one load.</summary>
internal sealed record ServePoint(string Target, int DocTokens, int Documents, int Clients, int Requests, double DocumentsPerSecond,
    double P50Ms, double P95Ms, double P99Ms, int Errors, double PeakRssMb);

/// <summary>The report of <c>fastrank bench --serve</c>.</summary>
internal sealed record ServeBenchReport(string Model, string Machine, string Command, IReadOnlyList<ServePoint> Points, SwapSoak? Soak = null)
{
    public string Markdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("# fastrank serve: loopback load").AppendLine();
        sb.Append(CultureInfo.InvariantCulture, $"Model: {Model}. Machine: {Machine}.").AppendLine().AppendLine();
        sb.Append(CultureInfo.InvariantCulture, $"Produced by `{Command}`. Each point sends its requests (distinct queries, the same documents) from N concurrent clients to `/v1/rerank`; `in-process` is the same requests through the library, one at a time (the reference); peak RSS is the process's (server and clients).").AppendLine().AppendLine();
        sb.AppendLine("| target | doc tokens | docs/request | clients | requests | docs/s | p50 ms | p95 ms | p99 ms | errors | peak RSS MB |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var p in Points)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {p.Target} | {p.DocTokens} | {p.Documents} | {p.Clients} | {p.Requests} | {p.DocumentsPerSecond:F1} | {p.P50Ms:F1} | {p.P95Ms:F1} | {p.P99Ms:F1} | {p.Errors} | {p.PeakRssMb:F0} |");
        }
        sb.AppendLine().AppendLine("Ratios (fastrank over HTTP / in-process one at a time, docs/s):").AppendLine();
        foreach (var g in Points.Where(p => p.Target == "fastrank").GroupBy(p => (p.DocTokens, p.Documents)))
        {
            var reference = Points.FirstOrDefault(p => p.Target == "in-process" && p.DocTokens == g.Key.DocTokens && p.Documents == g.Key.Documents);
            if (reference is null) continue;
            string ratios = string.Join(", ", g.Select(p => string.Create(CultureInfo.InvariantCulture,
                $"{p.Clients} client(s) {p.DocumentsPerSecond / reference.DocumentsPerSecond:F2}x (p50 {p.P50Ms / reference.P50Ms:F2}x)")));
            sb.Append(CultureInfo.InvariantCulture, $"- {g.Key.DocTokens} tokens x {g.Key.Documents} docs: {ratios}").AppendLine();
        }
        if (Soak is { } k)
        {
            sb.AppendLine().AppendLine("## Hot swaps under load").AppendLine();
            sb.Append(CultureInfo.InvariantCulture,
                $"{k.Clients} clients sent {k.Documents}-document requests without pause for {k.Seconds:F0} s while the model was swapped through `POST /admin/models/bench/swap` every {k.SwapEvery:F0} s after the previous swap ended (a new version loaded and warmed up beside the old one, which is retired when its last request ends).").AppendLine().AppendLine();
            sb.AppendLine("| requests | failed | swaps | failed swaps | RSS after warm-up MB | RSS end MB | RSS max MB | RSS growth |");
            sb.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {k.Requests} | {k.Failed} | {k.Swaps} | {k.SwapFailures} | {k.RssAfterWarmupMb:F0} | {k.RssEndMb:F0} | {k.RssMaxMb:F0} | {k.RssGrowth * 100:F1}% |");
        }
        return sb.ToString();
    }
}

/// <summary>
/// <c>fastrank bench --serve</c>: starts <c>fastrank serve</c> in-process on loopback and loads it with 1, 4 and 16
/// concurrent clients; the same requests through the library one at a time for reference; optionally a peer server.
/// </summary>
internal static class ServeBench
{
    private const string ModelName = "bench";
    private static readonly string AdminKey = Guid.NewGuid().ToString("N");

    public static async Task<ServeBenchReport> RunAsync(ServeBenchOptions o, string command, Action<string> progress, CancellationToken ct)
    {
        var app = FastRankServer.Build(new Dictionary<string, string?>
        {
            ["FastRank:Port"] = "0",
            [$"FastRank:Models:{ModelName}"] = o.ModelPath,
            ["FastRank:Threads"] = o.Threads.ToString(CultureInfo.InvariantCulture),
            ["FastRank:Queue"] = "4096",
            ["FastRank:MaxDocuments"] = "100000",
            ["FastRank:MaxRequestBytes"] = (256L << 20).ToString(CultureInfo.InvariantCulture),
            ["FastRank:RequestTimeout"] = "3600",
            ["FastRank:MaxDocumentTokens"] = Math.Max(512, o.DocTokens.Max() + 8).ToString(CultureInfo.InvariantCulture),
            ["FastRank:AdminKey"] = AdminKey,
        }, b => b.Logging.ClearProviders());
        await using var _ = app.ConfigureAwait(false);
        await app.StartAsync(ct).ConfigureAwait(false);
        var baseAddress = FastRankServer.Addresses(app)[0];
        var pool = app.Services.GetRequiredService<ModelPool>();
        var points = new List<ServePoint>();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromHours(1) };
        string[] soakDocuments, soakQueries;
        using (var lease = await pool.AcquireAsync(ModelName, ct).ConfigureAwait(false))
        {
            soakDocuments = PointwiseBench.MakeDocuments(lease.Reranker.Model, o.Documents.Max(), o.DocTokens.Min());
            soakQueries = PointwiseBench.MakeQueries(lease.Reranker.Model, 257, 16, distinctFirst: true);
            foreach (int tokens in o.DocTokens)
            {
                foreach (int docs in o.Documents)
                {
                    var documents = PointwiseBench.MakeDocuments(lease.Reranker.Model, docs, tokens);
                    int maxRequests = Math.Max(2 * o.Clients.Max(), (o.DocumentsPerPoint + docs - 1) / docs);
                    var queries = PointwiseBench.MakeQueries(lease.Reranker.Model, maxRequests + 1, 16, distinctFirst: true);

                    // The reference: the same requests through the library, one at a time.
                    int refRequests = Math.Max(2, (o.DocumentsPerPoint + docs - 1) / docs);
                    await lease.Reranker.RerankAsync(queries[^1], documents, ct: ct).ConfigureAwait(false);
                    ProcessMemory.ResetPeak();
                    var latencies = new List<double>();
                    long t0 = Stopwatch.GetTimestamp();
                    for (int r = 0; r < refRequests; r++)
                    {
                        long s = Stopwatch.GetTimestamp();
                        await lease.Reranker.RerankAsync(queries[r], documents, ct: ct).ConfigureAwait(false);
                        latencies.Add(Stopwatch.GetElapsedTime(s).TotalMilliseconds);
                    }
                    points.Add(Point("in-process", tokens, docs, 1, latencies, 0, Stopwatch.GetElapsedTime(t0).TotalSeconds));
                    progress($"{tokens} tokens x {docs} docs: in-process {points[^1].DocumentsPerSecond:F1} docs/s");

                    foreach (int clients in o.Clients)
                    {
                        int requests = Math.Max(2 * clients, (o.DocumentsPerPoint + docs - 1) / docs);
                        points.Add(await LoadAsync("fastrank", http, new Uri(baseAddress, "/v1/rerank"), ModelName, queries, documents, tokens, clients, requests, ct).ConfigureAwait(false));
                        progress($"{tokens} tokens x {docs} docs, {clients} clients: fastrank {points[^1].DocumentsPerSecond:F1} docs/s, p50 {points[^1].P50Ms:F1} ms");
                        if (o.PeerUrl is { } peer)
                        {
                            points.Add(await LoadAsync("peer", http, new Uri(peer, "/v1/rerank"), o.PeerModel, queries, documents, tokens, clients, requests, ct).ConfigureAwait(false));
                            progress($"{tokens} tokens x {docs} docs, {clients} clients: peer {points[^1].DocumentsPerSecond:F1} docs/s");
                        }
                    }
                }
            }
        }
        SwapSoak? soak = null;
        if (o.SwapSeconds > 0)
            soak = await SwapSoakAsync(http, baseAddress, o, soakQueries, soakDocuments, progress, ct).ConfigureAwait(false);
        await app.StopAsync(ct).ConfigureAwait(false);
        return new ServeBenchReport(o.Label, MachineInfo.Current().ToString(), command, points, soak);
    }

    /// <summary>
    /// The largest client count sends requests without pause for <see cref="ServeBenchOptions.SwapSeconds"/> while an admin client
    /// swaps the model (the same file, so every swap loads a new version) every <see cref="ServeBenchOptions.SwapEvery"/> seconds.
    /// Resident memory is sampled every 250 ms; the warm-up ends with the first swap.
    /// </summary>
    private static async Task<SwapSoak> SwapSoakAsync(HttpClient http, Uri baseAddress, ServeBenchOptions o, string[] queries, string[] documents,
        Action<string> progress, CancellationToken ct)
    {
        int clients = o.Clients.Max();
        var url = new Uri(baseAddress, "/v1/rerank");
        int requests = 0, failed = 0, swaps = 0, swapFailures = 0;
        double warmRss = double.NaN, maxRss = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var deadline = Stopwatch.GetTimestamp() + (long)(o.SwapSeconds * (double)Stopwatch.Frequency);
        var load = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (int r = c; Stopwatch.GetTimestamp() < deadline; r += clients)
            {
                bool ok;
                try
                {
                    using var response = await http.PostAsJsonAsync(url, new { model = ModelName, query = queries[r % queries.Length], documents }, ct).ConfigureAwait(false);
                    using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), default, ct).ConfigureAwait(false);
                    ok = response.IsSuccessStatusCode && body.RootElement.GetProperty("results").GetArrayLength() == documents.Length;
                }
                catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    ok = false;
                }
                Interlocked.Increment(ref requests);
                if (!ok) Interlocked.Increment(ref failed);
            }
        }, ct)).ToArray();
        var swapper = Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(o.SwapEvery), stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                if (Stopwatch.GetTimestamp() >= deadline) break;
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseAddress, $"/admin/models/{ModelName}/swap"))
                {
                    Content = JsonContent.Create(new { model = o.ModelPath }),
                };
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminKey);
                try
                {
                    using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
                    if (response.IsSuccessStatusCode) swaps++;
                    else swapFailures++;
                }
                catch (HttpRequestException)
                {
                    swapFailures++;
                }
                if (swaps == 1 && double.IsNaN(warmRss)) warmRss = ProcessMemory.ResidentBytes() / 1e6;
                progress($"swap soak: {swaps} swaps, {Volatile.Read(ref requests)} requests, {Volatile.Read(ref failed)} failed, RSS {ProcessMemory.ResidentBytes() / 1e6:F0} MB");
            }
        }, ct);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(250, ct).ConfigureAwait(false);
            if (!double.IsNaN(warmRss)) maxRss = Math.Max(maxRss, ProcessMemory.ResidentBytes() / 1e6);
        }
        await Task.WhenAll(load).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        await swapper.ConfigureAwait(false);
        double endRss = ProcessMemory.ResidentBytes() / 1e6;
        if (double.IsNaN(warmRss)) warmRss = endRss;
        return new SwapSoak(o.SwapSeconds, o.SwapEvery, clients, documents.Length, requests, failed, swaps, swapFailures, warmRss, endRss, Math.Max(maxRss, endRss));
    }

    private static async Task<ServePoint> LoadAsync(string target, HttpClient http, Uri url, string model, string[] queries, string[] documents,
        int tokens, int clients, int requests, CancellationToken ct)
    {
        // One warm-up request (connections, first decode), then the timed load.
        using (var warm = await http.PostAsJsonAsync(url, new { model, query = queries[^1], documents }, ct).ConfigureAwait(false))
        {
        }
        ProcessMemory.ResetPeak();
        var latencies = new List<double>();
        int errors = 0, next = -1;
        long t0 = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            int r;
            while ((r = Interlocked.Increment(ref next)) < requests)
            {
                long s = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    using var response = await http.PostAsJsonAsync(url, new { model, query = queries[r % (queries.Length - 1)], documents }, ct).ConfigureAwait(false);
                    using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), default, ct).ConfigureAwait(false);
                    ok = response.IsSuccessStatusCode && body.RootElement.GetProperty("results").GetArrayLength() == documents.Length;
                }
                catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    ok = false;
                }
                double ms = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
                lock (latencies)
                {
                    if (ok) latencies.Add(ms);
                    else errors++;
                }
            }
        }, ct))).ConfigureAwait(false);
        return Point(target, tokens, documents.Length, clients, latencies, errors, Stopwatch.GetElapsedTime(t0).TotalSeconds);
    }

    private static ServePoint Point(string target, int tokens, int docs, int clients, List<double> latencies, int errors, double seconds)
    {
        latencies.Sort();
        double Pct(double p) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
        return new ServePoint(target, tokens, docs, clients, latencies.Count + errors, latencies.Count * docs / seconds, Pct(0.50), Pct(0.95), Pct(0.99), errors,
            ProcessMemory.PeakResidentBytes() / 1e6);
    }
}
