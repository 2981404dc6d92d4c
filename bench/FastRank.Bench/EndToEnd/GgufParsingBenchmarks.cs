using BenchmarkDotNet.Attributes;
using FastRank.Bench.Kernels;
using FastRank.Gguf;

namespace FastRank.Bench.EndToEnd;

/// <summary>GgufReader on a synthetic model's file: the whole header (metadata, the 16k-token vocabulary, tensor infos) validated.</summary>
[Config(typeof(KernelBenchmarkConfig))]
public class GgufParsingBenchmarks
{
    private string _path = "";

    [Params("tiny", "small")]
    public string Shape { get; set; } = "tiny";

    [GlobalSetup]
    public void Setup() => _path = BenchModels.Get(Shape);

    [Benchmark(Description = "GgufReader.Read (header)")]
    public int Read() => GgufReader.Read(_path).Tensors.Count;
}
