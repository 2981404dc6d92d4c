using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using FastRank.Kernels;

namespace FastRank.Bench.Kernels;

/// <summary>
/// ICR scoring of 100 documents of 300 tokens: span sums (against TensorPrimitives.Sum per span) and the
/// masked calibration (against LINQ and a plain loop), plus a copy of the two score vectors.
/// Target: span sums not slower than TensorPrimitives.Sum.
/// </summary>
[Config(typeof(KernelBenchmarkConfig))]
public class CalibrationKernelBenchmarks : KernelBenchmark
{
    private const int Documents = 100, Tokens = 300;
    private float[] _query = [];
    private float[] _na = [];
    private float[] _copy = [];
    private IndexRange[] _documents = [];
    private readonly float[] _scores = new float[Documents];

    [GlobalSetup]
    public void Setup() => Prepare();

    protected override void Prepare()
    {
        var rng = new Random(4);
        int n = Documents * (Tokens + 4);
        _query = new float[n];
        _na = new float[n];
        for (int i = 0; i < n; i++)
        {
            _query[i] = (float)rng.NextDouble() * 0.01f;
            _na[i] = (float)rng.NextDouble() * 0.01f;
        }
        _copy = new float[2 * n];
        _documents = new IndexRange[Documents];
        for (int d = 0; d < Documents; d++)
            _documents[d] = new IndexRange(d * (Tokens + 4), (d * (Tokens + 4)) + Tokens);  // separators between documents
    }

    [GlobalSetup(Target = nameof(SpanSumsManaged))]
    public void SetupSpanSumsManaged() => Prepare(KernelImplementation.Managed, null);

    [GlobalSetup(Target = nameof(SpanSumsNative))]
    public void SetupSpanSumsNative() => Prepare(KernelImplementation.Native, "avx512");

    [GlobalSetup(Target = nameof(CalibrationManaged))]
    public void SetupCalibrationManaged() => Prepare(KernelImplementation.Managed, null);

    [GlobalSetup(Target = nameof(CalibrationNative))]
    public void SetupCalibrationNative() => Prepare(KernelImplementation.Native, "avx512");

    [Benchmark(Baseline = true, Description = "span sums: TensorPrimitives.Sum per span")]
    public float SpanSumsTensorPrimitives()
    {
        for (int d = 0; d < Documents; d++)
            _scores[d] = TensorPrimitives.Sum(_query.AsSpan(_documents[d].Start, _documents[d].Length));
        return _scores[0];
    }

    [Benchmark(Description = "span sums: RankKernels managed")]
    public float SpanSumsManaged()
    {
        RankKernels.SpanSums(_query, _documents, _scores);
        return _scores[0];
    }

    [Benchmark(Description = "span sums: RankKernels native avx512")]
    public float SpanSumsNative()
    {
        RankKernels.SpanSums(_query, _documents, _scores);
        return _scores[0];
    }

    [Benchmark(Description = "calibration: LINQ")]
    public float CalibrationLinq()
    {
        for (int d = 0; d < Documents; d++)
        {
            IndexRange r = _documents[d];
            double[] c = Enumerable.Range(r.Start, r.Length).Select(t => (double)_query[t] - _na[t]).ToArray();
            double mean = c.Average();
            double sd = Math.Sqrt(c.Sum(x => (x - mean) * (x - mean)) / (c.Length - 1));
            _scores[d] = (float)c.Where(x => x > mean - (2 * sd)).Sum();
        }
        return _scores[0];
    }

    [Benchmark(Description = "calibration: RankKernels managed")]
    public float CalibrationManaged()
    {
        RankKernels.MaskedCalibration(_query, _na, _documents, _scores);
        return _scores[0];
    }

    [Benchmark(Description = "calibration: RankKernels native avx512")]
    public float CalibrationNative()
    {
        RankKernels.MaskedCalibration(_query, _na, _documents, _scores);
        return _scores[0];
    }

    [Benchmark(Description = "memory copy of both score vectors")]
    public void MemoryCopy()
    {
        _query.AsSpan().CopyTo(_copy);
        _na.AsSpan().CopyTo(_copy.AsSpan(_query.Length));
    }
}
