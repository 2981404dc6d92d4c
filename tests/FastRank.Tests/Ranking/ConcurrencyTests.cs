using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.Ranking;

public sealed class ConcurrencyTests
{
    [Fact]
    public async Task EightConcurrentCallersGetTheSerialResults()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { ParallelSequences = 4 });
        var requests = Enumerable.Range(0, 8)
            .Select(i => (Query: $"query number {i} about {SyntheticText.Words[100 + i]}", Docs: SyntheticText.Documents(6 + i, 15, seed: i)))
            .ToArray();
        var serial = requests.Select(r => ranker.Rerank(r.Query, r.Docs).Select(x => (x.Index, x.RawScore)).ToArray()).ToArray();

        for (int round = 0; round < 3; round++)
        {
            // Concurrent calls share decode waves: every score stays within the batching contract (1e-4) of a lone call.
            var concurrent = await Task.WhenAll(requests.Select(r => Task.Run(() => ranker.RerankAsync(r.Query, r.Docs))));
            for (int i = 0; i < requests.Length; i++)
            {
                Assert.Equal(serial[i].Select(x => x.Index), concurrent[i].Select(x => x.Index));
                for (int k = 0; k < serial[i].Length; k++) Assert.Equal(serial[i][k].RawScore, concurrent[i][k].RawScore, 1e-4);
            }
        }
    }

    [Fact]
    public async Task SyncAndAsyncCallersMix()
    {
        using var ranker = Reranker.Load(TestModels.Tiny);
        var docs = SyntheticText.Documents(5, 10, seed: 1);
        var expected = ranker.Rerank("mixed", docs).Select(x => x.RawScore).ToArray();
        var tasks = Enumerable.Range(0, 6).Select(i => i % 2 == 0
            ? Task.Run(() => ranker.Rerank("mixed", docs))
            : ranker.RerankAsync("mixed", docs)).ToArray();
        foreach (var r in await Task.WhenAll(tasks)) Assert.Equal(expected, r.Select(x => x.RawScore).ToArray());
    }

    [Fact]
    public void DisposedRerankerRefusesCalls()
    {
        var ranker = Reranker.Load(TestModels.Tiny);
        ranker.Dispose();
        ranker.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ranker.Rerank("q", ["d"]));
    }
}
