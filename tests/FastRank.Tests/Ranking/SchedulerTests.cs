using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.Ranking;

/// <summary>
/// The reranker's scheduler: pointwise calls share decode waves, with every score equal to a lone decode;
/// fairness between large and small calls; cancelling one call leaves the others' work alone.
/// </summary>
public sealed class SchedulerTests
{
    private const double Tolerance = 1e-4;

    private static (string Query, string[] Documents)[] Requests(int count, int seed) =>
        [.. Enumerable.Range(0, count).Select(i => ($"query {i} about {SyntheticText.Documents(1, 4, seed + i)[0]}", SyntheticText.Documents(1 + (i * 5 % 9), 6 + i * 7 % 40, seed + 100 + i).ToArray()))];

    private static void AssertSame(RerankResult expected, RerankResult actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Index, actual[i].Index);
            Assert.Equal(expected[i].RawScore, actual[i].RawScore, Tolerance);
            Assert.Equal(expected[i].Score, actual[i].Score, Tolerance);
        }
    }

    [Theory]
    [InlineData("tiny", "f32", 4)]
    [InlineData("small", "q8_0", 16)]
    public void GroupsOfSeveralCalls_InOneWave_ScoreAsEachCallAlone(string shape, string quant, int parallel)
    {
        using var ranker = Reranker.Load(TestModels.Get(shape, quant), new RerankerOptions { Threads = 2, ParallelSequences = parallel, MaxDocumentTokens = 64 });
        var requests = Requests(6, seed: 11);
        var alone = requests.Select(r => ranker.Rerank(r.Query, r.Documents)).ToArray();

        // The same calls decoded together: every wave mixes the documents of several calls (and prefixes evict each other).
        var pointwise = ranker.Pointwise;
        var engine = ranker.Engine(RerankMethod.Pointwise);
        var calls = requests.Select(r => pointwise.Start(r.Query, r.Documents)).ToArray();
        long before = engine.Context.DecodeCalls;
        int waves = 0;
        while (engine.DecodeWave([.. calls.Select(c => c.Group)], CancellationToken.None)) waves++;
        int slots = engine.WorkSlots, documents = requests.Sum(r => r.Documents.Length);
        Assert.Equal((documents + slots - 1) / slots, waves);
        Assert.True(waves < requests.Sum(r => (r.Documents.Length + slots - 1) / slots));
        for (int i = 0; i < requests.Length; i++)
        {
            var together = PointwiseMethod.Finish(calls[i], 0);
            var expected = alone[i];
            Assert.Equal(expected.Count, together.Ranked.Length);
            for (int k = 0; k < expected.Count; k++)
            {
                Assert.Equal(expected[k].Index, together.Ranked[k].Index);
                Assert.Equal(expected[k].RawScore, together.Ranked[k].RawScore, Tolerance);
            }
        }
        Assert.True(engine.Context.DecodeCalls - before > 0);
    }

    [Fact]
    public async Task ConcurrentCalls_ShareDecodeCalls_AndGetTheirLoneScores()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, ParallelSequences = 16, MaxDocumentTokens = 64 });
        // The "score one pair" pattern: 16 callers with one short document each (a RAG chunk), for one query, so the
        // calls share its cached prefix. Documents shorter than a micro-batch run (64 tokens with flash attention)
        // are decoded as runs of that length, so their sequences fit the same llama.cpp micro-batches; documents
        // of different lengths above it cannot share one (see SequenceBatcher), whatever the scheduler does.
        const string query = "which document is about the sea";
        var documents = Enumerable.Range(0, 16).Select(i => SyntheticText.Documents(1, 8 + i % 12, seed: 30 + i).ToArray()).ToArray();
        var engine = ranker.Engine(RerankMethod.Pointwise);
        Assert.True(engine.Context.Config.FlashAttention);
        ranker.Rerank(query, ["warm the prefix cache"]);
        long before = engine.Context.DecodeCalls;
        var alone = documents.Select(d => ranker.Rerank(query, d)).ToArray();
        long serialCalls = engine.Context.DecodeCalls - before;

        // A FIRST call runs alone on the worker (seconds on two cores): the 16 pointwise calls that arrive meanwhile
        // wait together and are then decoded in shared waves, not one call after another.
        var blocker = ranker.RerankAsync("hold the worker", SyntheticText.Documents(300, 60, seed: 9), RerankMethod.First);
        before = engine.Context.DecodeCalls;
        var together = await Task.WhenAll(documents.Select(d => Task.Run(() => ranker.RerankAsync(query, d))));
        Assert.Equal(300, (await blocker).Count);
        for (int i = 0; i < documents.Length; i++) AssertSame(alone[i], together[i]);
        long sharedCalls = engine.Context.DecodeCalls - before;
        Assert.Equal(documents.Length, serialCalls);
        // 16 runs of 64 tokens are two micro-batches of 512; a caller that arrives after the first wave began adds a wave.
        Assert.True(sharedCalls * 2 <= serialCalls, $"shared: {sharedCalls} decode calls, serial: {serialCalls}");
    }

    [Fact]
    public async Task ASmallCall_IsNotStarvedByALargeOne()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, ParallelSequences = 8, MaxDocumentTokens = 64 });
        var large = ranker.RerankAsync("large", SyntheticText.Documents(400, 60, seed: 1));
        var small = await ranker.RerankAsync("small", ["one", "two"]);
        Assert.False(large.IsCompleted, "the small call waited for the whole large one");
        Assert.Equal(2, small.Count);
        Assert.Equal(400, (await large).Count);
    }

    [Fact]
    public async Task CancellingOneCall_LeavesTheOthersScores()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, ParallelSequences = 8, MaxDocumentTokens = 64 });
        var docs = SyntheticText.Documents(200, 60, seed: 4);
        var expected = ranker.Rerank("kept", docs);
        using var cts = new CancellationTokenSource();
        // Long enough (thousands of documents, seconds on two cores) that a loaded CI machine cannot finish it before the
        // polling below sees its first decode call: 400 documents once did.
        var cancelled = ranker.RerankAsync("cancelled", SyntheticText.Documents(3000, 60, seed: 5), ct: cts.Token);
        var kept = ranker.RerankAsync("kept", docs);
        // Cancel once the waves have begun (not after a fixed delay, which a fast machine outran: the call had finished).
        var context = ranker.Engine(RerankMethod.Pointwise).Context;
        long before = context.DecodeCalls;
        while (context.DecodeCalls == before && !cancelled.IsCompleted) await Task.Delay(1);
        Assert.False(cancelled.IsCompleted, $"the call ended before it could be cancelled ({cancelled.Status}: {cancelled.Exception?.GetBaseException().Message})");
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        AssertSame(expected, await kept);
        AssertSame(expected, await ranker.RerankAsync("kept", docs)); // still usable
    }

    [Theory]
    [InlineData(RerankMethod.First)]
    [InlineData(RerankMethod.Icr)]
    [InlineData(RerankMethod.ListwiseGenerate)]
    public async Task CancellingARunningCallOfAnotherMethod_ReturnsAtOnce_AndTheNextCallIsUnharmed(RerankMethod method)
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, MaxDocumentTokens = 64 });
        string[] probe = ["alpha beta", "gamma", "delta epsilon zeta"];
        var expected = ranker.Rerank("q", probe, method);
        var context = ranker.Engine(method).Context;
        long before = context.DecodeCalls;
        using var cts = new CancellationTokenSource();
        var running = ranker.RerankAsync("a long list", SyntheticText.Documents(400, 60, seed: 6), method, ct: cts.Token);
        // Wait until the worker is decoding the call (not holding it in the queue, where cancelling always returned at once).
        while (context.DecodeCalls == before && !running.IsCompleted) await Task.Delay(1);
        Assert.False(running.IsCompleted, "the long call ended before it could be cancelled");
        cts.Cancel();
        // The registration completes the call on the cancelling thread: no waiting for the decode in progress to abort.
        Assert.True(running.IsCanceled, "the cancelled call did not return at once");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        AssertSame(expected, await ranker.RerankAsync("q", probe, method));
    }

    [Fact]
    public async Task OtherMethods_RunInArrivalOrder_BetweenPointwiseCalls()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, MaxDocumentTokens = 64 });
        string[] docs = ["alpha beta", "gamma", "delta epsilon zeta"];
        var expectedFirst = ranker.Rerank("q", docs, RerankMethod.First);
        var expectedPointwise = ranker.Rerank("q", docs);
        var calls = new[]
        {
            ranker.RerankAsync("q", docs),
            ranker.RerankAsync("q", docs, RerankMethod.First),
            ranker.RerankAsync("q", docs),
        };
        var results = await Task.WhenAll(calls);
        AssertSame(expectedPointwise, results[0]);
        Assert.Equal(expectedFirst.Select(r => r.Index), results[1].Select(r => r.Index));
        AssertSame(expectedPointwise, results[2]);
    }
}
