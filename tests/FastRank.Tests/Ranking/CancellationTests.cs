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

        using var cts = new CancellationTokenSource();
        var task = ranker.RerankAsync("cancel me", docs, ct: cts.Token); // several seconds of work
        await Task.Delay(300);
        var sw = Stopwatch.StartNew();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        // The abort callback stops llama.cpp inside a decode, not only between decodes.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"cancellation took {sw.Elapsed.TotalMilliseconds:F0} ms");

        var after = ranker.Rerank("cancel me", few).Select(r => (r.Index, r.RawScore)).ToList();
        Assert.Equal(expected, after);
    }
}
