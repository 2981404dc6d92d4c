using BenchmarkDotNet.Attributes;
using FastRank.Ranking;

namespace FastRank.Bench.EndToEnd;

/// <summary>
/// One <see cref="Reranker.Rerank(string, IReadOnlyList{string}, RerankMethod, int?, CancellationToken)"/> call per
/// operation on the tiny and small synthetic models: 8 documents of 50 words, a new query each call (the template
/// head stays cached, as in a service). The memory diagnoser gives the managed bytes allocated per call.
/// </summary>
[Config(typeof(EndToEndConfig))]
public class RerankBenchmarks
{
    private Reranker? _ranker;
    private string[] _docs = [];
    private string[] _queries = [];
    private int _next;

    [Params("tiny", "small")]
    public string Model { get; set; } = "tiny";

    [Params(RerankMethod.Pointwise, RerankMethod.First, RerankMethod.Icr)]
    public RerankMethod Method { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ranker = Reranker.Load(BenchModels.Get(Model), new RerankerOptions { Method = Method });
        _docs = BenchModels.Documents(8, 50);
        _queries = BenchModels.Queries(64);
        _ranker.Rerank(_queries[^1], _docs);
    }

    [GlobalCleanup]
    public void Cleanup() => _ranker?.Dispose();

    [Benchmark(Description = "Rerank, 8 documents")]
    public int Rerank() => _ranker!.Rerank(_queries[_next++ % _queries.Length], _docs).Count;
}
