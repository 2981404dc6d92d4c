using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FastRank.Diagnostics;
using FastRank.Models;
using FastRank.Ranking;
using FastRank.Server;
using FastRank.Synthetic;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastRank.Cli.Bench;

/// <summary>What <c>fastrank bench --soak</c> runs.</summary>
/// <param name="ModelPath">The GGUF file.</param>
/// <param name="Label">The model as the report names it.</param>
internal sealed record SoakOptions(string ModelPath, string Label)
{
    /// <summary>Library calls (the soak ends at this count or at <see cref="Minutes"/>, whichever comes first).</summary>
    public int Calls { get; init; } = 10_000;

    /// <summary>Calls through the server (0: no server phase).</summary>
    public int ServerCalls { get; init; } = 2_000;

    /// <summary>Concurrent callers.</summary>
    public int Callers { get; init; } = 8;

    /// <summary>Time limit of each phase in minutes (null: none).</summary>
    public double? Minutes { get; init; }

    /// <summary>Share of calls cancelled at a random point.</summary>
    public double CancelShare { get; init; } = 0.1;

    /// <summary>Share of calls whose query and documents are hostile text (control-token spellings, surrogates, NUL, long runs).</summary>
    public double HostileShare { get; init; } = 0.1;

    /// <summary>Most documents of a call.</summary>
    public int MaxDocuments { get; init; } = 10;

    /// <summary>Most words of a document.</summary>
    public int MaxDocumentWords { get; init; } = 80;

    /// <summary>llama.cpp threads.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Seed of every random choice.</summary>
    public int Seed { get; init; } = 15;

    /// <summary>Share of the calls of a phase counted as warm-up (growth is measured from its end).</summary>
    public double WarmupShare { get; init; } = 0.1;

    /// <summary>Whether to try a context far larger than memory (the typed-error check).</summary>
    public bool AllocationFailure { get; init; } = true;

    /// <summary>Where progress lines go (null: nowhere).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Action<string>? Progress { get; init; }
}

/// <summary>One sample of the process's resources during a phase.</summary>
internal sealed record SoakSample(string Phase, double Seconds, int Calls, double RssMb, int Threads, int Handles, double ManagedMb = 0);

/// <summary>One cancelled call: when Cancel() was called into the call, how long it took to end, and the method's decode-call time.</summary>
internal sealed record SoakCancellation(string Phase, string Method, double DelayMs, double LatencyMs, double DecodeCallMs, bool Completed);

/// <summary>The figures of one phase (library or server).</summary>
internal sealed record SoakPhase(
    string Name, int Calls, int Completed, int Cancelled, int CompletedDespiteCancel, int Rejected, int Errors, int HostileCalls, int ControlTokenInjections,
    int TruncatedDocuments, int ProbeChecks, int ProbeMismatches, double MaxProbeDifference, double Seconds,
    double RssWarmMb, double RssEndMb, double ManagedWarmMb, double ManagedEndMb, int ThreadsWarm, int ThreadsEnd, int HandlesWarm, int HandlesEnd, double PeakRssMb,
    IReadOnlyDictionary<string, int> CallsByMethod, IReadOnlyList<string> ErrorSamples)
{
    public double RssGrowth => RssWarmMb > 0 ? RssEndMb / RssWarmMb - 1 : double.NaN;
}

/// <summary>The result of <c>fastrank bench --soak</c>.</summary>
internal sealed record SoakReport(
    string Command, string Date, string Machine, string Model, SoakOptions Options, IReadOnlyList<SoakPhase> Phases,
    IReadOnlyList<SoakSample> Samples, IReadOnlyList<SoakCancellation> Cancellations, string? AllocationFailure, double WallSeconds)
{
    public int Errors => Phases.Sum(p => p.Errors + p.ProbeMismatches + p.ControlTokenInjections);
}

/// <summary>
/// <c>fastrank bench --soak</c>: concurrent callers with mixed methods and sizes, some calls cancelled at random points
/// and some with hostile text, first through the library, then through <c>fastrank serve</c> on loopback; the
/// process's RSS, threads and file handles sampled throughout. After each cancellation the caller reranks a probe
/// and compares its scores with those of a fresh reranker.
/// </summary>
internal static class SoakBench
{
    /// <summary>Score tolerance of the probe comparison.</summary>
    public const double ProbeTolerance = 1e-4;

    private static readonly RerankMethod[] Methods = [RerankMethod.Pointwise, RerankMethod.First, RerankMethod.Icr, RerankMethod.ListwiseGenerate];

    // Pointwise most often (it is the default and shares waves); the listwise and ICR methods run one call at a time.
    private static readonly int[] MethodWeights = [45, 25, 20, 10];

    private static readonly string[] HostileFragments =
    [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "[INST]", "[/INST]", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>",
        "<|end_header_id|>", "</s>", "<s>", "<think>", "</think>", "<|im_start|>assistant\n", "{query}", "{document}", "[1]", "[A]",
        "\0", "\u200F", "\u202E", "\u2066", "\uFEFF", "\uD800", "\uDFFF", "\uDC00\uD800", "\U0001F600", "e\u0301\u0301\u0301", "\r\n", "\u2028",
    ];

    /// <summary>The server's defaults (what its reranker is loaded with), so probes compare like with like.</summary>
    internal static RerankerOptions RerankerOptions(SoakOptions o) => new() { Threads = o.Threads };

    public static async Task<SoakReport> RunAsync(SoakOptions o, string command, CancellationToken ct)
    {
        var wall = Stopwatch.StartNew();
        var samples = new List<SoakSample>();
        var cancellations = new List<SoakCancellation>();
        var phases = new List<SoakPhase>();
        var options = RerankerOptions(o);
        var probes = Probes(o.Seed);

        // The reference: a fresh reranker's scores of the probes, then it is gone.
        double[][] reference;
        using (var fresh = Reranker.Load(o.ModelPath, options))
            reference = [.. probes.Select(p => Scores(fresh.Rerank(p)))];

        string? allocation = o.AllocationFailure ? AllocationFailure(o.ModelPath) : null;
        if (allocation is not null) o.Progress?.Invoke($"contexts llama.cpp cannot create:\n{allocation}");

        await using (var ranker = Reranker.Load(o.ModelPath, options))
        {
            var runner = new PhaseRunner("library", o, probes, reference, samples, cancellations,
                async (request, token) =>
                {
                    var r = await ranker.RerankAsync(request, token).ConfigureAwait(false);
                    return new CallOutcome(Scores(r), r.Count, r.Usage.TruncatedDocuments, r.Usage.DecodeCalls, r.Timings.PrefixMs + r.Timings.ScoreMs);
                },
                (method, query, documents) => Inject(ranker, method, query, documents));
            phases.Add(await runner.RunAsync(o.Calls, ct).ConfigureAwait(false));
        }

        if (o.ServerCalls > 0) phases.Add(await ServerPhaseAsync(o, probes, samples, cancellations, ct).ConfigureAwait(false));

        return new SoakReport(command, DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), MachineInfo.Current().ToString(),
            o.Label, o, phases, samples, cancellations, allocation, wall.Elapsed.TotalSeconds);
    }

    private static async Task<SoakPhase> ServerPhaseAsync(SoakOptions o, RerankRequest[] probes, List<SoakSample> samples, List<SoakCancellation> cancellations, CancellationToken ct)
    {
        const string ModelName = "soak";
        var app = FastRankServer.Build(new Dictionary<string, string?>
        {
            ["FastRank:Port"] = "0",
            [$"FastRank:Models:{ModelName}"] = o.ModelPath,
            ["FastRank:Threads"] = o.Threads.ToString(CultureInfo.InvariantCulture),
            ["FastRank:Queue"] = "4096",
            ["FastRank:MaxRequestBytes"] = (64L << 20).ToString(CultureInfo.InvariantCulture),
            ["FastRank:RequestTimeout"] = "3600",
        }, b => b.Logging.ClearProviders());
        await using var _ = app.ConfigureAwait(false);
        await app.StartAsync(ct).ConfigureAwait(false);
        var url = new Uri(FastRankServer.Addresses(app)[0], "/v2/rerank");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromHours(1) };

        async Task<CallOutcome> Post(RerankRequest request, CancellationToken token)
        {
            using var content = new ByteArrayContent(RequestBody(ModelName, request));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync(url, content, token).ConfigureAwait(false);
            string text = await response.Content.ReadAsStringAsync(token).ConfigureAwait(false);
            if (response.StatusCode == System.Net.HttpStatusCode.BadRequest && text.Contains("\"invalid_request\"", StringComparison.Ordinal))
                throw new RequestRejectedException(text);
            if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{(int)response.StatusCode}: {text}");
            using var json = JsonDocument.Parse(text);
            var results = json.RootElement.GetProperty("results");
            var scores = new double[request.Documents.Count];
            foreach (var r in results.EnumerateArray()) scores[r.GetProperty("index").GetInt32()] = r.GetProperty("relevance_score").GetDouble();
            return new CallOutcome(scores, results.GetArrayLength(), 0, 0, double.NaN);
        }

        // The reference of the server phase: the probes on the server's fresh reranker, before any other request.
        double[][] reference = new double[probes.Length][];
        for (int i = 0; i < probes.Length; i++) reference[i] = (await Post(probes[i], ct).ConfigureAwait(false)).Scores;
        var pool = app.Services.GetRequiredService<ModelPool>();
        Reranker served;
        using (var lease = await pool.AcquireAsync(ModelName, ct).ConfigureAwait(false)) served = lease.Reranker;
        var runner = new PhaseRunner("server", o, probes, reference, samples, cancellations, Post,
            (method, query, documents) => Inject(served, method, query, documents));
        var phase = await runner.RunAsync(o.ServerCalls, ct).ConfigureAwait(false);
        await app.StopAsync(ct).ConfigureAwait(false);
        return phase;
    }

    /// <summary>A call's scores by input index.</summary>
    internal static double[] Scores(RerankResult result)
    {
        var scores = new double[result.Count];
        foreach (var r in result) scores[r.Index] = r.Score;
        return scores;
    }

    /// <summary>One probe per method: a fixed query and four documents.</summary>
    internal static RerankRequest[] Probes(int seed)
    {
        var random = new Random(seed);
        return [.. Methods.Select(m => new RerankRequest(SyntheticText.Sentence(random, 8), [.. Enumerable.Range(0, 4).Select(_ => SyntheticText.Sentence(random, 24))]) { Method = m })];
    }

    /// <summary>
    /// Special (control or marker) tokens that <paramref name="query"/> and <paramref name="documents"/> add to the
    /// method's prompt beyond the template's own (the same call with harmless text): 0 unless text became a control token.
    /// </summary>
    internal static int Inject(Reranker ranker, RerankMethod method, string query, IReadOnlyList<string> documents)
    {
        var model = ranker.Model;
        var plain = PromptInspection.Explain(ranker, method, "q", [.. documents.Select(_ => "d")]);
        var views = PromptInspection.Explain(ranker, method, query, documents);
        int injected = 0;
        foreach (var part in views.SelectMany(v => v.Parts))
        {
            var reference = plain.SelectMany(v => v.Parts).First(p => p.Role == part.Role);
            int expected = reference.Tokens.Count(model.IsSpecialToken), actual = part.Tokens.Count(model.IsSpecialToken);
            if (actual > expected) injected += actual - expected;
        }
        return injected;
    }

    private static bool IsSpecialToken(this FastRank.Engine.LlamaModel model, int token) =>
        (model.Attributes(token) & (FastRank.Interop.LlamaTokenAttr.Control | FastRank.Interop.LlamaTokenAttr.UserDefined)) != 0;

    /// <summary>
    /// Contexts llama.cpp cannot create, each tried by <c>fastrank rerank</c> in a child process (a native crash must not
    /// end the soak): more sequences than llama.cpp's 256, and a KV cache far beyond memory. Each line: the setting, the
    /// exit code (or signal) and the last line the child printed.
    /// </summary>
    internal static string AllocationFailure(string modelPath)
    {
        string docs = Path.Combine(Path.GetTempPath(), $"fastrank-soak-docs-{Environment.ProcessId}.txt");
        File.WriteAllText(docs, "a\nb\n");
        try
        {
            var lines = new List<string>();
            foreach (var (what, args) in (IEnumerable<(string, string[])>)[
                ("255 parallel sequences (llama.cpp allows 256 with FastRank's own)", ["--parallel", "255"]),
                ("64 sequences x 1 M tokens of KV (18 GB, beyond the pool's budget)", ["--parallel", "64", "--max-doc-tokens", "1048576"]),
            ])
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (string a in (string[])[typeof(SoakBench).Assembly.Location, "rerank", "-m", modelPath, "-q", "q", "-d", docs, "--threads", "1", .. args])
                    psi.ArgumentList.Add(a);
                using var p = Process.Start(psi)!;
                var err = p.StandardError.ReadToEndAsync();
                string stdout = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                string last = (err.Result + stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
                // .NET reports a signal as 128 + its number.
                string exit = p.ExitCode switch { 0 => "exit 0 (created)", 134 => "SIGABRT (crash)", 137 => "SIGKILL", 139 => "SIGSEGV (crash)", var c => $"exit {c}" };
                lines.Add($"{what}: {exit}; {last}");
            }
            return string.Join("\n", lines);
        }
        finally
        {
            File.Delete(docs);
        }
    }

    /// <summary>
    /// The body of a server call, written here rather than by System.Text.Json (PostAsJsonAsync): its writer escapes
    /// each string into pooled buffers of up to six times the string's length, and the shared pool, which keeps them,
    /// is the server's too in this process, so the client's buffers would count as the server's growth. The same
    /// JSON as System.Text.Json's default writer: every unit outside printable ASCII, quotes and the HTML-sensitive ones as
    /// <c>\uXXXX</c>, a lone surrogate as U+FFFD.
    /// </summary>
    internal static byte[] RequestBody(string model, RerankRequest request)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("{\"model\":");
        JsonString(sb, model);
        sb.Append(",\"query\":");
        JsonString(sb, request.Query);
        sb.Append(",\"documents\":[");
        for (int i = 0; i < request.Documents.Count; i++)
        {
            if (i > 0) sb.Append(',');
            JsonString(sb, request.Documents[i]);
        }
        sb.Append("],\"method\":");
        JsonString(sb, RerankMethodNames.Name(request.Method ?? RerankMethod.Pointwise));
        sb.Append('}');
        return System.Text.Encoding.ASCII.GetBytes(sb.ToString());
    }

    private static void JsonString(System.Text.StringBuilder sb, string s)
    {
        sb.Append('"');
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}\\u{(int)s[++i]:X4}");
                continue;
            }
            if (char.IsSurrogate(c)) c = '\uFFFD';
            if (c == '\\') sb.Append(@"\\");
            else if (c < 0x20 || c > 0x7E || c is '"' or '<' or '>' or '&' or '\'' or '+' or '`') sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else sb.Append(c);
        }
        sb.Append('"');
    }

    /// <summary>What a phase's call returned.</summary>
    internal sealed record CallOutcome(double[] Scores, int Count, int TruncatedDocuments, int DecodeCalls, double DecodeMs);

    /// <summary>The callers of one phase, its sampler and its figures.</summary>
    private sealed class PhaseRunner(string name, SoakOptions o, RerankRequest[] probes, double[][] reference, List<SoakSample> samples,
        List<SoakCancellation> cancellations, Func<RerankRequest, CancellationToken, Task<CallOutcome>> call, Func<RerankMethod, string, IReadOnlyList<string>, int> inject)
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, int> _byMethod = [];
        private readonly List<string> _errorSamples = [];
        private readonly double[] _decodeMs = [.. Methods.Select(_ => double.NaN)];
        private readonly double[] _callMs = [.. Methods.Select(_ => 20.0)];
        private int _warming;
        private int _rejected;
        private int _next = -1, _done, _completed, _cancelled, _completedDespite, _errors, _hostile, _injected, _truncated, _probes, _mismatches;
        private double _maxDiff;

        public async Task<SoakPhase> RunAsync(int calls, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            var deadline = o.Minutes is { } m ? TimeSpan.FromMinutes(m) : TimeSpan.MaxValue;
            int warmCalls = Math.Max(1, (int)(calls * o.WarmupShare));
            double rssWarm = 0, managedWarm = 0;
            int threadsWarm = 0, handlesWarm = 0;
            bool warm = false;
            using var stop = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    Sample(clock);
                    try { await Task.Delay(250, stop.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { }
                }
            }, CancellationToken.None);
            var callers = Enumerable.Range(0, o.Callers).Select(c => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref _next)) < calls && clock.Elapsed < deadline && !ct.IsCancellationRequested)
                {
                    await OneAsync(i).ConfigureAwait(false);
                    int done = Interlocked.Increment(ref _done);
                    // Warm-up ends after its share of the calls, or of the time limit when that comes first.
                    bool warmNow = done >= warmCalls || (o.Minutes is { } limit && clock.Elapsed.TotalMinutes >= limit * 2.5 * o.WarmupShare);
                    if (warmNow && Interlocked.Exchange(ref _warming, 1) == 0)
                    {
                        // Warm-up over: the settled baseline (GC and malloc_trim, so allocator plateaus are not counted as growth).
                        rssWarm = ProcessMemory.SettledResidentBytes() / 1e6;
                        managedWarm = GC.GetTotalMemory(forceFullCollection: false) / 1e6; // live: the settling ran a full GC
                        threadsWarm = ProcessResources.Threads();
                        handlesWarm = ProcessResources.Handles();
                        ProcessMemory.ResetPeak();
                        Volatile.Write(ref warm, true);
                        o.Progress?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{name}: warm after {done} calls, RSS {rssWarm:F0} MB, {threadsWarm} threads, {handlesWarm} handles"));
                    }
                    if (_done % Math.Max(1, calls / 20) == 0)
                        o.Progress?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{name}: {_done}/{calls} calls, {_errors} errors, {_cancelled} cancelled, RSS {ProcessMemory.ResidentBytes() / 1e6:F0} MB"));
                }
            }, CancellationToken.None)).ToArray();
            await Task.WhenAll(callers).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            await sampler.ConfigureAwait(false);
            double seconds = clock.Elapsed.TotalSeconds;
            double rssEnd = ProcessMemory.SettledResidentBytes() / 1e6;
            double managedEnd = GC.GetTotalMemory(forceFullCollection: false) / 1e6;
            if (!Volatile.Read(ref warm))
            {
                rssWarm = rssEnd;
                managedWarm = managedEnd;
                threadsWarm = ProcessResources.Threads();
                handlesWarm = ProcessResources.Handles();
            }
            Sample(clock);
            return new SoakPhase(name, _done, _completed, _cancelled, _completedDespite, _rejected, _errors, _hostile, _injected, _truncated, _probes, _mismatches, _maxDiff,
                seconds, rssWarm, rssEnd, managedWarm, managedEnd, threadsWarm, ProcessResources.Threads(), handlesWarm, ProcessResources.Handles(), ProcessMemory.PeakResidentBytes() / 1e6,
                new SortedDictionary<string, int>(_byMethod), [.. _errorSamples]);
        }

        private void Sample(Stopwatch clock)
        {
            var s = new SoakSample(name, clock.Elapsed.TotalSeconds, Volatile.Read(ref _done), ProcessMemory.ResidentBytes() / 1e6, ProcessResources.Threads(), ProcessResources.Handles(),
                GC.GetTotalMemory(forceFullCollection: false) / 1e6);
            lock (samples) samples.Add(s);
        }

        private async Task OneAsync(int i)
        {
            // Deterministic per seed, phase and call (HashCode.Combine is seeded at random per process).
            var random = new Random(unchecked((o.Seed * 7919) ^ (name.Length * 104729) ^ (name[0] * 31) ^ (i * 1_000_003)));
            var method = Pick(random);
            int m = Array.IndexOf(Methods, method);
            bool hostile = random.NextDouble() < o.HostileShare;
            var request = hostile ? Hostile(random, method) : Ordinary(random, method);
            bool cancel = random.NextDouble() < o.CancelShare;
            lock (_gate) _byMethod[RerankMethodNames.Name(method)] = _byMethod.GetValueOrDefault(RerankMethodNames.Name(method)) + 1;
            if (hostile)
            {
                Interlocked.Increment(ref _hostile);
                try { Interlocked.Add(ref _injected, inject(method, request.Query, request.Documents)); }
                catch (Exception ex) { Error($"prompt inspection of a hostile call: {ex.GetType().Name}: {ex.Message}"); }
            }
            using var cts = new CancellationTokenSource();
            long started = Stopwatch.GetTimestamp(), endedAt = 0;
            var task = call(request, cts.Token);
            var ended = task.ContinueWith(_ => Volatile.Write(ref endedAt, Stopwatch.GetTimestamp()), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            double delay = 0;
            long cancelledAt = 0;
            if (cancel)
            {
                // A random point of the call: up to 1.2x the method's recent call time.
                delay = random.NextDouble() * 1.2 * Volatile.Read(ref _callMs[m]);
                await Task.WhenAny(task, Task.Delay(TimeSpan.FromMilliseconds(delay))).ConfigureAwait(false);
                if (!task.IsCompleted)
                {
                    cancelledAt = Stopwatch.GetTimestamp();
                    await cts.CancelAsync().ConfigureAwait(false);
                }
            }
            try
            {
                var outcome = await task.ConfigureAwait(false);
                await ended.ConfigureAwait(false);
                if (outcome.Count != request.Documents.Count || outcome.Scores.Any(s => !double.IsFinite(s)))
                    Error($"{RerankMethodNames.Name(method)}: {outcome.Count} results for {request.Documents.Count} documents");
                else
                    Interlocked.Increment(ref _completed);
                Interlocked.Add(ref _truncated, outcome.TruncatedDocuments);
                if (cancelledAt != 0) Interlocked.Increment(ref _completedDespite);
                double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (!hostile) Volatile.Write(ref _callMs[m], 0.8 * Volatile.Read(ref _callMs[m]) + 0.2 * ms);
                if (outcome.DecodeCalls > 0 && double.IsFinite(outcome.DecodeMs))
                {
                    double per = outcome.DecodeMs / outcome.DecodeCalls;
                    lock (_gate) _decodeMs[m] = double.IsNaN(_decodeMs[m]) ? per : 0.9 * _decodeMs[m] + 0.1 * per;
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                await ended.ConfigureAwait(false);
                Interlocked.Increment(ref _cancelled);
            }
            catch (RequestRejectedException) when (hostile)
            {
                // The server's typed answer to a request it does not take (an empty query): what hostile text may earn.
                Interlocked.Increment(ref _rejected);
            }
            catch (Exception ex)
            {
                Error($"{RerankMethodNames.Name(method)}{(hostile ? " (hostile text)" : "")}: {ex.GetType().Name}: {ex.Message}");
            }
            if (cancelledAt != 0)
            {
                double latency = Stopwatch.GetElapsedTime(cancelledAt, Volatile.Read(ref endedAt)).TotalMilliseconds;
                double decode;
                lock (_gate) decode = _decodeMs[m];
                lock (cancellations) cancellations.Add(new SoakCancellation(name, RerankMethodNames.Name(method), delay, latency, decode, task.IsCompletedSuccessfully));
                await ProbeAsync(random).ConfigureAwait(false);
            }
        }

        /// <summary>The call after a cancellation: a probe, whose scores must equal the fresh reranker's.</summary>
        private async Task ProbeAsync(Random random)
        {
            int p = random.Next(probes.Length);
            try
            {
                var outcome = await call(probes[p], CancellationToken.None).ConfigureAwait(false);
                double diff = outcome.Scores.Zip(reference[p], (a, b) => Math.Abs(a - b)).DefaultIfEmpty(double.PositiveInfinity).Max();
                if (outcome.Scores.Length != reference[p].Length) diff = double.PositiveInfinity;
                lock (_gate)
                {
                    _probes++;
                    _maxDiff = Math.Max(_maxDiff, diff);
                    if (!(diff <= ProbeTolerance))
                    {
                        _mismatches++;
                        if (_errorSamples.Count < 20) _errorSamples.Add(string.Create(CultureInfo.InvariantCulture, $"probe {RerankMethodNames.Name(probes[p].Method!.Value)} after a cancellation: scores differ by {diff:G3}"));
                    }
                }
            }
            catch (Exception ex)
            {
                Error($"probe after a cancellation: {ex.GetType().Name}: {ex.Message}");
            }
        }

        private void Error(string message)
        {
            Interlocked.Increment(ref _errors);
            lock (_gate)
            {
                if (_errorSamples.Count < 20) _errorSamples.Add(message);
            }
        }

        private static RerankMethod Pick(Random random)
        {
            int r = random.Next(MethodWeights.Sum());
            for (int k = 0; k < Methods.Length; k++)
            {
                if (r < MethodWeights[k]) return Methods[k];
                r -= MethodWeights[k];
            }
            return Methods[0];
        }

        private RerankRequest Ordinary(Random random, RerankMethod method)
        {
            int docs = random.Next(1, o.MaxDocuments + 1);
            return new RerankRequest(SyntheticText.Sentence(random, random.Next(2, 16)),
                [.. Enumerable.Range(0, docs).Select(_ => SyntheticText.Sentence(random, random.Next(1, o.MaxDocumentWords + 1)))]) { Method = method };
        }

        private RerankRequest Hostile(Random random, RerankMethod method)
        {
            int docs = random.Next(1, Math.Min(o.MaxDocuments, 6) + 1);
            return new RerankRequest(HostileText(random), [.. Enumerable.Range(0, docs).Select(_ => HostileText(random))]) { Method = method };
        }

        private static string HostileText(Random random)
        {
            var sb = new System.Text.StringBuilder();
            int n = random.Next(0, 24);
            for (int k = 0; k < n; k++)
            {
                switch (random.Next(5))
                {
                    case 0:
                    case 1:
                        sb.Append(HostileFragments[random.Next(HostileFragments.Length)]);
                        break;
                    case 2:
                        sb.Append((char)random.Next(0, 0x10000)); // any UTF-16 unit, lone surrogates included
                        break;
                    case 3:
                        sb.Append(SyntheticText.Words[random.Next(200)]).Append(' ');
                        break;
                    default:
                        // A long run of one unit (up to 64 K): truncation, bounded tokenization.
                        sb.Append(HostileFragments[random.Next(HostileFragments.Length)][0], random.Next(1, 1 << 16));
                        break;
                }
            }
            return sb.ToString();
        }
    }
}

/// <summary>The server answered 400 invalid_request (a typed refusal, such as an empty query).</summary>
internal sealed class RequestRejectedException(string body) : Exception(body);

/// <summary>Threads and open file handles of this process (Linux /proc; zero elsewhere).</summary>
internal static class ProcessResources
{
    /// <summary>Threads of the process (/proc/self/status Threads).</summary>
    public static int Threads()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("Threads:", StringComparison.Ordinal)) return int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
        }
        return 0;
    }

    /// <summary>Open file descriptors of the process (/proc/self/fd).</summary>
    public static int Handles()
    {
        try
        {
            return Directory.GetFiles("/proc/self/fd").Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
