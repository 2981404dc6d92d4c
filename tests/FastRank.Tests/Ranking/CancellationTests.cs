using System.Diagnostics;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.Ranking;

public sealed class CancellationTests
{
    [Fact]
    public async Task CancellingALongCallStopsItQuicklyAndLeavesTheRerankerUsable()
    {
        using var ranker = Reranker.Load(TestModels.Small, new RerankerOptions { ParallelSequences = 16 });
        var docs = SyntheticText.Documents(64, 100, seed: 9);
        var few = docs.Take(3).ToList();
        var expected = ranker.Rerank("cancel me", few).Select(r => (r.Index, r.RawScore)).ToList();

        // The call (several seconds of work) is cancelled 300 ms in by a thread of its own, and the moment it ends is
        // taken where it ends: a busy thread pool (the suite runs tests in parallel) can delay neither.
        using var cts = new CancellationTokenSource();
        long cancelledAt = 0;
        var canceller = new Thread(() =>
        {
            Thread.Sleep(300);
            Volatile.Write(ref cancelledAt, Stopwatch.GetTimestamp());
            cts.Cancel();
        }) { IsBackground = true };
        long endedAt = 0;
        var task = ranker.RerankAsync("cancel me", docs, ct: cts.Token);
        canceller.Start();
        var ended = task.ContinueWith(_ => Volatile.Write(ref endedAt, Stopwatch.GetTimestamp()), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        await ended;
        canceller.Join();
        // The abort callback stops llama.cpp inside a decode, not only between decodes.
        var latency = Stopwatch.GetElapsedTime(Volatile.Read(ref cancelledAt), Volatile.Read(ref endedAt));
        Assert.True(latency < TimeSpan.FromSeconds(2), $"cancellation took {latency.TotalMilliseconds:F0} ms");

        var after = ranker.Rerank("cancel me", few).Select(r => (r.Index, r.RawScore)).ToList();
        Assert.Equal(expected, after);
    }
}
