using BenchmarkDotNet.Attributes;
using FastRank.Ranking;

namespace FastRank.Bench.EndToEnd;

/// <summary>
/// Where managed allocations grow: pointwise reranking on the tiny model with the document count and the document
/// length varied separately. Allocated bytes that grow with documents x tokens are per-token allocations
/// (tokenization and prompt arrays: 4 bytes a token each copy); those that grow with documents alone are
/// per-document (strings, results). The decode loop itself (SequenceBatcher, InferenceContext.BatchAdd/Decode,
/// the logits readout) allocates per call, never per token.
/// </summary>
[Config(typeof(EndToEndConfig))]
public class AllocationBenchmarks
{
    private Reranker? _ranker;
    private string[] _docs = [];
    private string[] _queries = [];
    private int _next;

    [Params(8, 32)]
    public int Documents { get; set; }

    [Params(25, 100)]
    public int Words { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ranker = Reranker.Load(BenchModels.Get("tiny"), new RerankerOptions());
        _docs = BenchModels.Documents(Documents, Words);
        _queries = BenchModels.Queries(64);
        _ranker.Rerank(_queries[^1], _docs);
    }

    [GlobalCleanup]
    public void Cleanup() => _ranker?.Dispose();

    [Benchmark(Description = "pointwise Rerank")]
    public int Rerank() => _ranker!.Rerank(_queries[_next++ % _queries.Length], _docs).Count;
}
