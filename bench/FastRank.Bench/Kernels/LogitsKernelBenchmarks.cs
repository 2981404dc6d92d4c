using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using FastRank.Kernels;

namespace FastRank.Bench.Kernels;

/// <summary>
/// Log-probabilities of two tokens (yes/no) in 8 logit rows of a 152k vocabulary (Qwen-sized): the obvious
/// loop, TensorPrimitives (Max, Subtract, Exp, Sum), the kernels, and a copy of the same bytes.
/// Target: not slower than TensorPrimitives.
/// </summary>
[Config(typeof(KernelBenchmarkConfig))]
public class LogitsKernelBenchmarks : KernelBenchmark
{
    private const int Rows = 8, Vocabulary = 152064;
    private readonly int[] _ids = [9454, 2753];
    private float[] _logits = [];
    private float[] _copy = [];
    private float[] _scratch = [];
    private readonly float[] _logProbs = new float[Rows * 2];

    [GlobalSetup]
    public void Setup() => Prepare();

    protected override void Prepare()
    {
        var rng = new Random(2);
        _logits = new float[Rows * Vocabulary];
        for (int i = 0; i < _logits.Length; i++)
            _logits[i] = (float)((rng.NextDouble() - 0.5) * 20);
        _copy = new float[_logits.Length];
        _scratch = new float[Vocabulary];
    }

    [GlobalSetup(Target = nameof(Managed))]
    public void SetupManaged() => Prepare(KernelImplementation.Managed, null);

    [GlobalSetup(Target = nameof(NativeAvx2))]
    public void SetupNativeAvx2() => Prepare(KernelImplementation.Native, "avx2");

    [GlobalSetup(Target = nameof(NativeAvx512))]
    public void SetupNativeAvx512() => Prepare(KernelImplementation.Native, "avx512");

    [Benchmark(Baseline = true, Description = "loop (max, sum of MathF.Exp)")]
    public float NaiveLoop()
    {
        for (int r = 0; r < Rows; r++)
        {
            ReadOnlySpan<float> row = _logits.AsSpan(r * Vocabulary, Vocabulary);
            float max = float.NegativeInfinity;
            foreach (float v in row)
                max = Math.Max(max, v);
            double sum = 0;
            foreach (float v in row)
                sum += MathF.Exp(v - max);
            float lse = max + (float)Math.Log(sum);
            _logProbs[2 * r] = row[_ids[0]] - lse;
            _logProbs[(2 * r) + 1] = row[_ids[1]] - lse;
        }
        return _logProbs[0];
    }

    [Benchmark(Description = "TensorPrimitives (Max, Subtract, Exp, Sum)")]
    public float TensorPrimitivesExp()
    {
        for (int r = 0; r < Rows; r++)
        {
            ReadOnlySpan<float> row = _logits.AsSpan(r * Vocabulary, Vocabulary);
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, _scratch);
            TensorPrimitives.Exp(_scratch, _scratch);
            float lse = max + MathF.Log(TensorPrimitives.Sum(_scratch));
            _logProbs[2 * r] = row[_ids[0]] - lse;
            _logProbs[(2 * r) + 1] = row[_ids[1]] - lse;
        }
        return _logProbs[0];
    }

    [Benchmark(Description = "RankKernels.GatherLogProbs managed")]
    public float Managed()
    {
        RankKernels.GatherLogProbs(_logits, Rows, Vocabulary, Vocabulary, _ids, _logProbs);
        return _logProbs[0];
    }

    [Benchmark(Description = "RankKernels.GatherLogProbs native avx2")]
    public float NativeAvx2()
    {
        RankKernels.GatherLogProbs(_logits, Rows, Vocabulary, Vocabulary, _ids, _logProbs);
        return _logProbs[0];
    }

    [Benchmark(Description = "RankKernels.GatherLogProbs native avx512")]
    public float NativeAvx512()
    {
        RankKernels.GatherLogProbs(_logits, Rows, Vocabulary, Vocabulary, _ids, _logProbs);
        return _logProbs[0];
    }

    [Benchmark(Description = "memory copy of the same bytes")]
    public void MemoryCopy() => _logits.AsSpan().CopyTo(_copy);
}
