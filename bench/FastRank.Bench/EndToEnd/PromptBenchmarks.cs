using BenchmarkDotNet.Attributes;
using FastRank.Bench.Kernels;
using FastRank.Engine;
using FastRank.Ranking;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastRank.Bench.EndToEnd;

/// <summary>
/// Tokenization and prompt building on the small model (Qwen3's vocabulary), 20 documents of 100 words (a little
/// over 100 tokens each): one document through <see cref="LlamaModel.TokenizeText"/>, and the whole prompt of each method
/// (tokenizing every document, the template parts, truncation).
/// </summary>
[Config(typeof(KernelBenchmarkConfig))]
public class PromptBenchmarks
{
    private LlamaModel? _model;
    private PointwiseMethod? _pointwise;
    private FirstMethod? _first;
    private IcrMethod? _icr;
    private readonly RerankerOptions _options = new();
    private string[] _docs = [];
    private string _query = "";

    [GlobalSetup]
    public void Setup()
    {
        _model = LlamaModel.Load(BenchModels.Get("small"));
        _pointwise = (PointwiseMethod)RankingMethods.Create(RerankMethod.Pointwise, _model, _options, NullLogger.Instance);
        _first = (FirstMethod)RankingMethods.Create(RerankMethod.First, _model, _options, NullLogger.Instance);
        _icr = (IcrMethod)RankingMethods.Create(RerankMethod.Icr, _model, _options with { Method = RerankMethod.Icr }, NullLogger.Instance);
        _docs = BenchModels.Documents(20, 100);
        _query = BenchModels.Queries(1)[0];
    }

    [GlobalCleanup]
    public void Cleanup() => _model?.Dispose();

    [Benchmark(Description = "TokenizeText, one document")]
    public int Tokenize() => _model!.TokenizeText(_docs[0]).Length;

    [Benchmark(Description = "pointwise BuildPrompt, 20 documents")]
    public int Pointwise() => _pointwise!.BuildPrompt(_query, _docs, _options).Suffixes.Length;

    [Benchmark(Description = "FIRST window prompt, 20 documents")]
    public int First() => _first!.Prompt.Build(_query, _docs, _first.PassageBudget, _options.MaxQueryTokens).Head(20).Length;

    [Benchmark(Description = "ICR BuildPrompt, 20 documents")]
    public int Icr() => _icr!.BuildPrompt(_query, _docs).Chunks.Length;
}
