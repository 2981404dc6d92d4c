using System.Net;
using System.Text;
using System.Text.Json;
using FastRank.Models;
using FastRank.Ranking;
using FastRank.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Server;

/// <summary>Concurrency, overload, timeouts, client disconnects, swaps under load and shutdown, on real servers.</summary>
public sealed class LoadAndLifecycleTests
{
    private const double Tolerance = 1e-4;

    private static StringContent Body(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    /// <summary>A request that keeps the tiny model busy for many decode calls (documents of ~200 tokens).</summary>
    private static object BigRequest(int documents) => new
    {
        model = "tiny",
        query = "a long running request",
        documents = Enumerable.Range(0, documents).Select(i => string.Join(' ', Enumerable.Repeat($"word{i % 97} text", 100))).ToArray(),
    };

    private static (int Index, double Score)[] Scores(string json) =>
        [.. JsonDocument.Parse(json).RootElement.GetProperty("results").EnumerateArray().Select(r => (r.GetProperty("index").GetInt32(), r.GetProperty("relevance_score").GetDouble()))];

    [Fact]
    public async Task SixteenConcurrentClients_GetTheScoresOfSerialCalls()
    {
        await using var server = await ServerHarness.StartAsync();
        var requests = Enumerable.Range(0, 16).Select(i => new
        {
            model = "tiny",
            query = $"query number {i} about topic {i % 3}",
            documents = Enumerable.Range(0, 1 + i % 6).Select(d => $"document {d} of request {i}: " + string.Join(' ', Enumerable.Repeat("filler", 3 * d + i))).ToArray(),
        }).ToArray();
        var serial = new List<(int, double)[]>();
        foreach (var r in requests)
        {
            using var response = await server.Client.PostAsync("/v2/rerank", Body(r));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            serial.Add(Scores(await response.Content.ReadAsStringAsync()));
        }
        var clients = Enumerable.Range(0, 16).Select(_ => server.NewClient(ServerHarness.ApiKey)).ToArray();
        try
        {
            var concurrent = await Task.WhenAll(requests.Select(async (r, i) =>
            {
                using var response = await clients[i].PostAsync("/v2/rerank", Body(r));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return Scores(await response.Content.ReadAsStringAsync());
            }));
            for (int i = 0; i < requests.Length; i++)
            {
                Assert.Equal(serial[i].Length, concurrent[i].Length);
                for (int k = 0; k < serial[i].Length; k++)
                {
                    Assert.Equal(serial[i][k].Item1, concurrent[i][k].Item1);
                    Assert.Equal(serial[i][k].Item2, concurrent[i][k].Item2, Tolerance);
                }
            }
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    [Fact]
    public async Task AFullQueue_Is429WithRetryAfter_AndASlowRequest_Is504()
    {
        await using var server = await ServerHarness.StartAsync(new Dictionary<string, string?>
        {
            ["FastRank:Queue"] = "1",
            // Long enough that a loaded machine still sends the second request before the first times out
            // (0.5 s was not, once, with the whole suite running).
            ["FastRank:RequestTimeout"] = "3",
        });
        var slow = server.Client.PostAsync("/v2/rerank", Body(BigRequest(2000)));
        await server.WaitForInFlightAsync(1);
        using (var refused = await server.Client.PostAsync("/v2/rerank", Body(new { query = "q", documents = new[] { "a" } })))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
            Assert.Contains("\"queue_full\"", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using var timedOut = await slow;
        Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
        Assert.Contains("\"timeout\"", await timedOut.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        // The server is usable afterwards.
        using var ok = await server.Client.PostAsync("/v2/rerank", Body(new { query = "q", documents = new[] { "a" } }));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task AClientThatDisconnects_CancelsItsWork()
    {
        await using var server = await ServerHarness.StartAsync();
        var pool = server.App.Services.GetRequiredService<ModelPool>();
        long DecodeCalls()
        {
            using var lease = pool.Acquire("tiny");
            return lease.Reranker.Engine(RerankMethod.Pointwise).Context.DecodeCalls;
        }
        long before = DecodeCalls();
        using var cts = new CancellationTokenSource();
        var call = server.Client.PostAsync("/v2/rerank", Body(BigRequest(2000)), cts.Token);
        await server.WaitForInFlightAsync(1);
        await Task.Delay(50);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        await server.WaitForInFlightAsync(0);
        long used = DecodeCalls() - before;
        // 2000 documents take at least 2000 / 16 decode calls; the cancelled request stopped long before.
        Assert.True(used < 2000 / 16, $"{used} decode calls after the disconnect");
        string metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Contains("fastrank_http_requests_total{route=\"/v2/rerank\",status=\"499\"} 1", metrics, StringComparison.Ordinal);
        using var ok = await server.Client.PostAsync("/v2/rerank", Body(new { query = "q", documents = new[] { "a" } }));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Shutdown_FinishesRequestsInFlight_ThenRefusesNewOnes()
    {
        var server = await ServerHarness.StartAsync();
        var inFlight = server.Client.PostAsync("/v2/rerank", Body(BigRequest(200)));
        await server.WaitForInFlightAsync(1);
        var stop = server.App.StopAsync();
        using (var response = await inFlight)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(200, Scores(await response.Content.ReadAsStringAsync()).Length);
        }
        await stop;
        await Assert.ThrowsAsync<HttpRequestException>(() => server.Client.PostAsync("/v2/rerank", Body(new { query = "q", documents = new[] { "a" } })));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task SwapsThroughTheAdminEndpoint_UnderLoad_FailNoRequest()
    {
        await using var server = await ServerHarness.StartAsync();
        using var admin = server.NewClient(ServerHarness.AdminKey);
        using var stop = new CancellationTokenSource();
        int ok = 0;
        var failures = new List<string>();
        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            using var client = server.NewClient(ServerHarness.ApiKey);
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.PostAsync("/v2/rerank", Body(new { model = "tiny", query = $"client {c}", documents = new[] { "a b c", "d e f", "g h i" } }));
                if (response.StatusCode == HttpStatusCode.OK) Interlocked.Increment(ref ok);
                else
                {
                    string failure = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                    lock (failures) failures.Add(failure);
                }
            }
        })).ToArray();
        for (int i = 0; i < 3; i++)
        {
            await Task.Delay(200);
            using var swap = await admin.PostAsync("/admin/models/tiny/swap", Body(new { model = TestModels.Tiny }));
            string text = await swap.Content.ReadAsStringAsync();
            Assert.True(swap.StatusCode == HttpStatusCode.OK, text);
            Assert.Equal(i + 2, JsonDocument.Parse(text).RootElement.GetProperty("new_version").GetInt32());
        }
        await Task.Delay(200);
        stop.Cancel();
        await Task.WhenAll(clients);
        Assert.Empty(failures);
        Assert.True(ok > 0);
        string metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Contains("fastrank_model_swaps_total 3", metrics, StringComparison.Ordinal);

        using var badSwap = await admin.PostAsync("/admin/models/tiny/swap", Body(new { model = "/no/such/file.gguf" }));
        Assert.Equal(HttpStatusCode.BadRequest, badSwap.StatusCode);
        using var unload = await admin.PostAsync("/admin/models/tiny/unload", null);
        Assert.Equal(HttpStatusCode.OK, unload.StatusCode);
        using var notReady = await server.Client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        using var load = await admin.PostAsync("/admin/models/tiny/load", null);
        Assert.Equal(HttpStatusCode.OK, load.StatusCode);
        using var ready = await server.Client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}

/// <summary>The options: flags, configuration keys and the environment reach <see cref="ServerOptions"/>; bad values are usage errors.</summary>
public sealed class ServeOptionsTests
{
    [Fact]
    public void Settings_BindToServerOptions_WithLoopbackDefaults()
    {
        var app = FastRankServer.Build(new Dictionary<string, string?>
        {
            ["FastRank:Models:a"] = "a.gguf",
            ["FastRank:Models:b"] = "b.gguf",
            ["FastRank:Use"] = "b",
            ["FastRank:Queue"] = "7",
            ["FastRank:RequestTimeout"] = "2.5",
        });
        var o = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value;
        Assert.Equal(("127.0.0.1", 8080, 7, 2.5, "b"), (o.Host, o.Port, o.Queue, o.RequestTimeout, o.DefaultModel));
        Assert.Equal(["a", "b"], app.Services.GetRequiredService<ModelPool>().Names.Order());
        Assert.True(app.Services.GetRequiredService<ModelPool>().Snapshot().Single(m => m.Name == "b").Pinned);
    }

    [Fact]
    public void Cli_BadServeOptions_AreUsageErrors()
    {
        foreach (var args in new[] { new[] { "serve", "--port", "70000" }, ["serve", "--queue", "0"], ["serve", "--method", "magic"], ["serve", "-m", "a=x.gguf", "--use", "b"] })
        {
            var (code, _, err) = Run(args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: {code} {err}");
            Assert.Contains("FastRank:", err, StringComparison.Ordinal);
        }
    }
}
