using System.Collections.Concurrent;
using FastRank.Diagnostics;
using FastRank.Models;
using FastRank.Ranking;
using FastRank.Synthetic;
using Xunit.Abstractions;

namespace FastRank.Tests.Models;

/// <summary>The pool on real llama.cpp loads of synthetic models: load on use, hot swap under load, budget, pinning, freeing.</summary>
public sealed class ModelPoolTests(ITestOutputHelper output)
{
    /// <summary>A second tiny model with other weights (seed 8; TestModels.Tiny is seed 7).</summary>
    private static readonly Lazy<string> TinyB = new(() =>
    {
        string path = TestModels.TempPath("tiny-seed8.gguf");
        SyntheticModelGenerator.Generate(new SyntheticModelOptions(ModelShape.Get("tiny"), Seed: 8), path);
        return path;
    });

    private static readonly string[] Docs =
    [
        "the river flows past the old mill",
        "a quiet village near the mountains",
        "markets opened higher on strong earnings",
        "the recipe needs flour water and salt",
    ];

    private const string Query = "where is the mill";

    private static readonly RerankerOptions Small = new() { Threads = 1, ParallelSequences = 4, MaxDocumentTokens = 64 };

    private static ModelResolver Resolver() => new(new ModelResolverOptions { CacheDirectory = TestModels.TempPath("cache"), Offline = true });

    private static ModelPool Pool(long budget = 8L << 30, CapturingLoggerFactory? log = null, TimeSpan? wait = null) =>
        new(Resolver(), new ModelPoolOptions { MemoryBudgetBytes = budget, RerankerOptions = Small, LoggerFactory = log, BudgetWaitTimeout = wait ?? TimeSpan.FromSeconds(30) });

    /// <summary>Scores by document index from a lone reranker of <paramref name="path"/>.</summary>
    private static double[] ReferenceScores(string path)
    {
        using var r = Reranker.Load(path, Small);
        return ByIndex(r.Rerank(Query, Docs));
    }

    private static double[] ByIndex(RerankResult result)
    {
        var s = new double[Docs.Length];
        foreach (var d in result) s[d.Index] = d.Score;
        return s;
    }

    private static bool Same(double[] a, double[] b) => a.Zip(b).All(p => Math.Abs(p.First - p.Second) <= 1e-6);

    [Fact]
    public async Task LoadsOnFirstUse_Once_EvenWhenManyAskAtOnce()
    {
        var log = new CapturingLoggerFactory();
        await using var pool = Pool(log: log);
        pool.Register("tiny", TestModels.Tiny);
        Assert.False(pool.Snapshot().Single().Loaded);
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => pool.RerankAsync("tiny", Query, Docs))));
        Assert.All(results, r => Assert.Equal(Docs.Length, r.Count));
        var info = pool.Snapshot().Single();
        Assert.True(info.Loaded);
        Assert.Equal(1, info.Version);
        Assert.Equal(0, info.ActiveLeases);
        Assert.True(info.MemoryBytes > new FileInfo(TestModels.Tiny).Length);
        Assert.Single(log.Messages, m => m.Contains("Loaded tiny v1", StringComparison.Ordinal));
        Assert.Contains("warm-up", log.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownName_IsTyped()
    {
        await using var pool = Pool();
        pool.Register("a", TestModels.Tiny);
        var ex = await Assert.ThrowsAsync<ModelNotRegisteredException>(() => pool.AcquireAsync("b"));
        Assert.Contains("registered: a", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => pool.Register("a", TestModels.Tiny));
    }

    [Fact]
    public async Task SwapUnderLoad_NoRequestFails_AndEveryResultComesFromExactlyOneVersion()
    {
        double[] refA = ReferenceScores(TestModels.Tiny), refB = ReferenceScores(TinyB.Value);
        Assert.False(Same(refA, refB)); // the two models are distinguishable by their scores

        var log = new CapturingLoggerFactory();
        await using var pool = Pool(log: log);
        pool.Register("m", TestModels.Tiny);
        await pool.LoadAsync("m");

        const int swaps = 8;
        var results = new ConcurrentBag<(int Version, double[] Scores)>();
        var failures = new ConcurrentBag<Exception>();
        using var stop = new CancellationTokenSource();
        var callers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var lease = await pool.AcquireAsync("m");
                    var r = await lease.RerankAsync(Query, Docs);
                    results.Add((lease.Version, ByIndex(r)));
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                }
            }
        })).ToArray();

        var latencies = new List<double>();
        for (int i = 0; i < swaps; i++)
        {
            await Task.Delay(30);
            var t = System.Diagnostics.Stopwatch.GetTimestamp();
            await pool.SwapAsync("m", i % 2 == 0 ? TinyB.Value : TestModels.Tiny);
            latencies.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (!results.Any(r => r.Version == swaps + 1) && deadline.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(20);
        await stop.CancelAsync();
        await Task.WhenAll(callers);

        Assert.Empty(failures);
        Assert.True(results.Count >= swaps, $"only {results.Count} requests ran");
        foreach (var (version, scores) in results)
        {
            bool a = Same(scores, refA), b = Same(scores, refB);
            Assert.True(a ^ b, $"v{version}: scores match {(a && b ? "both models" : "neither model")}");
            Assert.Equal(version % 2 == 1, a); // odd versions are model A (v1 = A, v2 = B, ...)
        }
        Assert.Contains(results, r => r.Version == swaps + 1);
        var info = pool.Snapshot().Single();
        Assert.Equal(swaps + 1, info.Version);
        Assert.Equal(0, info.RetiredVersions);
        Assert.Equal(swaps, log.Messages.Count(m => m.Contains("Freed m v", StringComparison.Ordinal)));
        output.WriteLine($"{results.Count} requests across {swaps} swaps, 0 failures; swap call {latencies.Min():F0}..{latencies.Max():F0} ms (median {latencies.Order().ElementAt(latencies.Count / 2):F0})");
    }

    [Fact]
    public async Task RequestOnTheOldVersion_FinishesOnIt_AndTheOldVersionIsFreedAfterIt()
    {
        double[] refA = ReferenceScores(TestModels.Tiny), refB = ReferenceScores(TinyB.Value);
        await using var pool = Pool();
        pool.Register("m", TestModels.Tiny);
        using (var old = await pool.AcquireAsync("m"))
        {
            var swap = await pool.SwapAsync("m", TinyB.Value);
            Assert.Equal((1, 2), (swap.OldVersion!.Value, swap.NewVersion));
            Assert.Equal(1, pool.Snapshot().Single().RetiredVersions);
            Assert.True(Same(ByIndex(await old.RerankAsync(Query, Docs)), refA));     // the held request still runs on v1
            Assert.True(Same(ByIndex(await pool.RerankAsync("m", Query, Docs)), refB)); // new requests get v2
        }
        Assert.Equal(0, pool.Snapshot().Single().RetiredVersions);
    }

    [Fact]
    public async Task FailedSwap_ChangesNothing()
    {
        await using var pool = Pool();
        pool.Register("m", TestModels.Tiny);
        await pool.LoadAsync("m");
        await Assert.ThrowsAsync<FileNotFoundException>(() => pool.SwapAsync("m", "/no/such/model.gguf"));
        var info = pool.Snapshot().Single();
        Assert.Equal((1, TestModels.Tiny), (info.Version, info.Reference));
        Assert.Equal(Docs.Length, (await pool.RerankAsync("m", Query, Docs)).Count);
    }

    private static async Task<long> OneModelBytes()
    {
        await using var probe = Pool();
        probe.Register("p", TestModels.Tiny);
        await probe.LoadAsync("p");
        return probe.Snapshot().Single().MemoryBytes;
    }

    [Fact]
    public async Task SmallBudget_EvictsTheLeastRecentlyUsedIdleModel()
    {
        long one = await OneModelBytes();
        var log = new CapturingLoggerFactory();
        await using var pool = Pool(budget: one * 5 / 2, log: log); // room for two
        foreach (string n in new[] { "a", "b", "c" }) pool.Register(n, TestModels.Tiny);
        await pool.LoadAsync("a");
        await pool.LoadAsync("b");
        await pool.LoadAsync("a"); // a is now more recent than b
        await pool.LoadAsync("c");
        var loaded = pool.Snapshot().Where(s => s.Loaded).Select(s => s.Name).Order().ToArray();
        Assert.Equal(["a", "c"], loaded);
        Assert.True(pool.LoadedBytes <= pool.MemoryBudgetBytes);
        Assert.Contains(log.Messages, m => m.Contains("Freed b v1", StringComparison.Ordinal) && m.Contains("evicted", StringComparison.Ordinal));
        // b comes back on demand (as version 2), evicting a.
        await pool.LoadAsync("b");
        Assert.Equal(["b", "c"], pool.Snapshot().Where(s => s.Loaded).Select(s => s.Name).Order().ToArray());
        Assert.Equal(2, pool.Snapshot().Single(s => s.Name == "b").Version);
    }

    [Fact]
    public async Task PinnedModels_AreNeverEvicted()
    {
        long one = await OneModelBytes();
        await using var pool = Pool(budget: one * 3 / 2, wait: TimeSpan.FromMilliseconds(200)); // room for one
        pool.Register("pinned", TestModels.Tiny, pinned: true);
        pool.Register("other", TestModels.Tiny);
        await pool.LoadAsync("pinned");
        var ex = await Assert.ThrowsAsync<PoolBudgetExceededException>(() => pool.LoadAsync("other"));
        Assert.Contains("pinned models (pinned)", ex.Message, StringComparison.Ordinal);
        Assert.True(pool.Snapshot().Single(s => s.Name == "pinned").Loaded);

        pool.SetPinned("pinned", false);
        await pool.LoadAsync("other");
        Assert.Equal(["other"], pool.Snapshot().Where(s => s.Loaded).Select(s => s.Name).ToArray());
    }

    [Fact]
    public async Task BusyModels_AreEvictedOnceTheirRequestsEnd()
    {
        long one = await OneModelBytes();
        await using var pool = Pool(budget: one * 3 / 2);
        pool.Register("a", TestModels.Tiny);
        pool.Register("b", TestModels.Tiny);
        var lease = await pool.AcquireAsync("a");
        var loadB = pool.LoadAsync("b");
        await Task.Delay(300);
        Assert.False(loadB.IsCompleted); // waits: a is busy
        lease.Dispose();
        await loadB.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(["b"], pool.Snapshot().Where(s => s.Loaded).Select(s => s.Name).ToArray());
    }

    [Fact]
    public async Task ModelLargerThanTheBudget_IsRefused()
    {
        await using var pool = Pool(budget: 1000);
        pool.Register("m", TestModels.Tiny);
        var ex = await Assert.ThrowsAsync<PoolBudgetExceededException>(() => pool.LoadAsync("m"));
        Assert.Contains("whole budget", ex.Message, StringComparison.Ordinal);
    }

    internal static async Task LoadUnloadCyclesCore(ITestOutputHelper output)
    {
        // RSS after trimming glibc's arenas (see Settle). Tolerance: 32 MB over 45 cycles; measured here it
        // moves by up to +-16 MB and stays flat over 250 cycles. A leaked model (2.7 MB of mapped weights
        // plus its context) per cycle would add well over 100 MB.
        await using var pool = Pool();
        pool.Register("m", TestModels.Tiny);
        long one = 0, warm = 0;
        for (int i = 1; i <= 50; i++)
        {
            await pool.RerankAsync("m", Query, Docs);
            Assert.True(pool.Unload("m"));
            if (i == 1) one = Settle();
            if (i == 5) warm = Settle();
        }
        long end = Settle();
        long perModel = await OneModelBytes();
        output.WriteLine($"RSS after 1 cycle {one / 1e6:F1} MB, after 5 {warm / 1e6:F1} MB, after 50 {end / 1e6:F1} MB; one model accounts {perModel / 1e6:F1} MB");
        Assert.True(end - warm < 32_000_000, $"RSS grew by {(end - warm) / 1e6:F1} MB over 45 load/unload cycles");
    }

    internal static long Settle() => ProcessMemory.SettledResidentBytes();

    [Fact]
    public async Task DisposedLease_CannotBeUsed_AndDisposedPoolRefuses()
    {
        var pool = Pool();
        pool.Register("m", TestModels.Tiny);
        var lease = await pool.AcquireAsync("m");
        lease.Dispose();
        Assert.Throws<ObjectDisposedException>(() => lease.Reranker);
        await pool.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.AcquireAsync("m"));
    }
}

/// <summary>Resident memory is process-wide: this runs alone, after the parallel tests (DisableParallelization).</summary>
[CollectionDefinition(nameof(ResidentMemoryTests), DisableParallelization = true)]
public sealed class ResidentMemoryCollection;

[Collection(nameof(ResidentMemoryTests))]
public sealed class ResidentMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public Task PoolLoadUnloadCycles_DoNotGrowResidentMemory() => ModelPoolTests.LoadUnloadCyclesCore(output);
}
