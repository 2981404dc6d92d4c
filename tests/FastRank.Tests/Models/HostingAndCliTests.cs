using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using FastRank.Gguf;
using FastRank.Hosting;
using FastRank.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;
using static FastRank.Tests.InProcessCli;

namespace FastRank.Tests.Models;

public sealed class AddFastRankTests
{
    [Fact]
    public async Task AddFastRank_RegistersAPoolWithTheConfiguredModels_AndTheContainerDisposesIt()
    {
        var log = new CapturingLoggerFactory();
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(log);
        services.AddFastRank(o =>
        {
            o.CacheDirectory = TestModels.TempPath("cache");
            o.Offline = true;
            o.MemoryBudgetBytes = 1L << 30;
            o.RerankerOptions = new FastRank.Ranking.RerankerOptions { Threads = 1, ParallelSequences = 2 };
            o.AddModel("tiny", TestModels.Tiny, pinned: true);
        });
        ModelPool pool;
        await using (var provider = services.BuildServiceProvider())
        {
            pool = provider.GetRequiredService<ModelPool>();
            Assert.Same(pool, provider.GetRequiredService<ModelPool>());
            Assert.Same(pool.Resolver, provider.GetRequiredService<ModelResolver>());
            Assert.True(pool.Resolver.Offline);
            Assert.Equal(1L << 30, pool.MemoryBudgetBytes);
            var result = await pool.RerankAsync("tiny", "a query", ["one document", "another document"]);
            Assert.Equal(2, result.Count);
            Assert.True(pool.Snapshot().Single().Pinned);
            Assert.Contains("Loaded tiny v1", log.All, StringComparison.Ordinal); // the container's logger is used
        }
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.AcquireAsync("tiny"));
    }

    [Fact]
    public void WithoutModels_TheCatalogDefaultIsRegisteredAsDefault_AndNothingLoads()
    {
        var services = new ServiceCollection().AddFastRank(o => o.CacheDirectory = TestModels.TempPath("cache"));
        using var provider = services.BuildServiceProvider();
        var info = provider.GetRequiredService<ModelPool>().Snapshot().Single();
        Assert.Equal((FastRankServiceCollectionExtensions.DefaultModelName, "qwen3-reranker-0.6b", false), (info.Name, info.Reference, info.Loaded));
    }
}

/// <summary>The fastrank command's models, rerank (several models, the default) and quantize, run in-process.</summary>
public sealed class ModelsCliTests(ITestOutputHelper output)
{
    [Fact]
    public async Task List_Pull_Path_Rm_RoundTrip()
    {
        await using var server = new LoopbackHttpServer();
        byte[] bytes = await File.ReadAllBytesAsync(TestModels.Tiny);
        server.Serve("/files/tiny.gguf", new ServedFile { Body = bytes });
        string cache = TestModels.TempPath("cache");
        string url = server.Url("/files/tiny.gguf").ToString();

        var list = Run("models", "list", "--json", "--cache-dir", cache);
        Assert.Equal(0, list.Code);
        using (var doc = JsonDocument.Parse(list.Out))
        {
            Assert.Equal("qwen3-reranker-0.6b", doc.RootElement.GetProperty("default").GetString());
            Assert.All(doc.RootElement.GetProperty("models").EnumerateArray(), m => Assert.False(m.GetProperty("cached").GetBoolean()));
        }

        var pull = Run("models", "pull", url, "--cache-dir", cache);
        Assert.True(pull.Code == 0, pull.Err);
        Assert.Contains("MB/s", pull.Out, StringComparison.Ordinal);
        Assert.Contains("downloading", pull.Err, StringComparison.Ordinal); // plain progress lines off a terminal
        var again = Run("models", "pull", url, "--cache-dir", cache);
        Assert.Contains("already cached", again.Out, StringComparison.Ordinal);
        Assert.Single(server.Requests);

        var path = Run("models", "path", url, "--cache-dir", cache);
        Assert.Equal(0, path.Code);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path.Out.Trim()));

        var table = Run("models", "list", "--cache-dir", cache);
        Assert.Contains("tiny.gguf", table.Out, StringComparison.Ordinal);
        Assert.Contains("qwen3-reranker-0.6b (default)", table.Out, StringComparison.Ordinal);

        Assert.Equal(0, Run("models", "rm", url, "--cache-dir", cache).Code);
        Assert.False(File.Exists(path.Out.Trim()));
        var gone = Run("models", "rm", url, "--cache-dir", cache);
        Assert.Equal(1, gone.Code);
        Assert.Contains("not in the cache", gone.Err, StringComparison.Ordinal);
        Assert.Equal(1, Run("models", "path", url, "--cache-dir", cache).Code);
    }

    [Fact]
    public void Usage_And_Typed_Errors()
    {
        string cache = TestModels.TempPath("cache");
        Assert.Equal(2, Run("models", "rm", TestModels.Tiny, "--cache-dir", cache).Code);         // a local file
        Assert.Equal(2, Run("models", "pull", "hf://only-owner", "--cache-dir", cache).Code);     // malformed
        var unknown = Run("models", "pull", "no-such-model", "--cache-dir", cache);
        Assert.Equal(1, unknown.Code);
        Assert.Contains("unknown model 'no-such-model'", unknown.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Rerank_WithoutModel_UsesTheCatalogDefault_AndSaysWhenItIsNotCachedOffline()
    {
        string docs = TestModels.TempPath("docs.txt");
        File.WriteAllLines(docs, ["one", "two"]);
        var r = Run("rerank", "--query", "q", "--docs", docs, "--offline", "--cache-dir", TestModels.TempPath("cache"));
        Assert.Equal(1, r.Code);
        Assert.Contains("'qwen3-reranker-0.6b' is not in the cache", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Rerank_WithSeveralNamedModels_RanksWithEach_OrWithTheOneChosen()
    {
        string docs = TestModels.TempPath("docs.txt");
        File.WriteAllLines(docs, ["the river flows past the mill", "markets opened higher", "flour water and salt"]);
        string q8 = TestModels.Get("tiny", "q8_0");
        var both = Run("rerank", "--query", "mill", "--docs", docs, "--json", "--threads", "1", "--model", $"f32={TestModels.Tiny}", "--model", $"q8={q8}");
        Assert.True(both.Code == 0, both.Err);
        using (var doc = JsonDocument.Parse(both.Out))
        {
            var models = doc.RootElement.GetProperty("models").EnumerateArray().ToList();
            Assert.Equal(["f32", "q8"], models.Select(m => m.GetProperty("name").GetString()));
            Assert.Equal(Path.GetFileName(q8), models[1].GetProperty("model").GetString());
            Assert.All(models, m => Assert.Equal(3, m.GetProperty("results").GetArrayLength()));
        }
        var one = Run("rerank", "--query", "mill", "--docs", docs, "--json", "--threads", "1", "--model", $"f32={TestModels.Tiny}", "--model", $"q8={q8}", "--use", "q8");
        Assert.True(one.Code == 0, one.Err);
        using (var doc = JsonDocument.Parse(one.Out)) Assert.Equal(Path.GetFileName(q8), doc.RootElement.GetProperty("model").GetString());

        var bad = Run("rerank", "--query", "mill", "--docs", docs, "--model", $"a={TestModels.Tiny}", "--use", "b");
        Assert.Equal(2, bad.Code);
        Assert.Contains("--use b", bad.Err, StringComparison.Ordinal);
        Assert.Equal(2, Run("rerank", "--query", "mill", "--docs", docs, "--model", $"a={TestModels.Tiny}", "--model", $"a={q8}").Code);
    }

    [Fact]
    public void Quantize_WritesAValidatedModelOfTheTargetType()
    {
        string dst = TestModels.TempPath("tiny-q8.gguf");
        var sw = Stopwatch.StartNew();
        var r = Run("quantize", TestModels.Tiny, dst, "--type", "q8_0", "--threads", "1");
        Assert.True(r.Code == 0, r.Err);
        output.WriteLine(r.Out);
        Assert.Contains("validated", r.Out, StringComparison.Ordinal);
        Assert.Contains("writing", r.Err, StringComparison.Ordinal); // progress
        var f = GgufReader.Read(dst);
        Assert.Contains(f.Tensors, t => t.Type == GgmlType.Q8_0);
        Assert.True(f.FileSize < new FileInfo(TestModels.Tiny).Length);
        Assert.False(File.Exists(dst + ".partial"));
        using (var ranker = FastRank.Ranking.Reranker.Load(dst, new FastRank.Ranking.RerankerOptions { Threads = 1 }))
            Assert.Equal(2, ranker.Rerank("q", ["a", "b"]).Count);

        var exists = Run("quantize", TestModels.Tiny, dst, "--type", "q8_0");
        Assert.Equal(2, exists.Code);
        Assert.Contains("--force", exists.Err, StringComparison.Ordinal);
        Assert.Equal(2, Run("quantize", TestModels.Tiny, TestModels.TempPath("x.gguf"), "--type", "q9_9").Code);
        Assert.Equal(1, Run("quantize", TestModels.TempPath("missing.gguf"), TestModels.TempPath("y.gguf"), "--type", "q8_0").Code);
        string junk = TestModels.TempPath("junk.gguf");
        File.WriteAllBytes(junk, RandomNumberGenerator.GetBytes(1000));
        var invalid = Run("quantize", junk, TestModels.TempPath("z.gguf"), "--type", "q8_0");
        Assert.Equal(1, invalid.Code);
        Assert.Contains("invalid model file", invalid.Err, StringComparison.Ordinal);
    }
}

/// <summary>Throughput of the downloader on loopback (a figure for the README; asserts correctness only).</summary>
public sealed class DownloadThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task LoopbackThroughput()
    {
        byte[] body = RandomNumberGenerator.GetBytes(64 << 20);
        string sha = Convert.ToHexStringLower(SHA256.HashData(body));
        await using var server = new LoopbackHttpServer();
        server.Serve("/big.bin", new ServedFile { Body = body, LinkedEtag = sha });
        using var downloader = new ModelDownloader();
        var rates = new List<double>();
        for (int i = 0; i < 6; i++)
        {
            string dest = TestModels.TempPath("big.bin");
            var r = await downloader.DownloadAsync(new DownloadRequest(server.Url("/big.bin"), dest) { ValidateGguf = false });
            Assert.Equal(sha, r.Sha256);
            Assert.Equal(body.Length, new FileInfo(dest).Length);
            rates.Add(r.BytesPerSecond / 1e6);
            File.Delete(dest);
        }
        var warm = rates.Skip(1).Order().ToList();
        output.WriteLine($"loopback: 64 MiB, SHA-256 and write included: first {rates[0]:F0} MB/s, then median {warm[warm.Count / 2]:F0} (min {warm[0]:F0}, max {warm[^1]:F0}) MB/s");
    }
}
