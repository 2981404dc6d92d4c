using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using FastRank.Kernels;

namespace FastRank.Bench.Kernels;

/// <summary>
/// Top-10 of 65536 candidate embeddings (384 dimensions) for one query: int8 rows with a per-row scale and
/// half rows, against a plain loop with a PriorityQueue and TensorPrimitives (widen the row, Dot), plus a copy
/// of the int8 matrix. Target: not slower than TensorPrimitives.
/// </summary>
[Config(typeof(KernelBenchmarkConfig))]
public class EmbeddingKernelBenchmarks : KernelBenchmark
{
    private const int Rows = 65536, Dimension = 384, K = 10;
    private float[] _query = [];
    private sbyte[] _q8 = [];
    private float[] _scales = [];
    private Half[] _half = [];
    private sbyte[] _copy = [];
    private readonly float[] _row = new float[Dimension];
    private readonly int[] _indices = new int[K];
    private readonly float[] _top = new float[K];

    [GlobalSetup]
    public void Setup() => Prepare();

    protected override void Prepare()
    {
        var rng = new Random(5);
        var matrix = new float[Rows * Dimension];
        for (int i = 0; i < matrix.Length; i++)
            matrix[i] = (float)(rng.NextDouble() - 0.5);
        _query = new float[Dimension];
        for (int i = 0; i < Dimension; i++)
            _query[i] = (float)(rng.NextDouble() - 0.5);
        _q8 = new sbyte[matrix.Length];
        _scales = new float[Rows];
        RankKernels.QuantizeRows(matrix, Dimension, _q8, _scales);
        _half = matrix.Select(v => (Half)v).ToArray();
        _copy = new sbyte[_q8.Length];
    }

    private static int Offer(PriorityQueue<int, float> heap, int row, float score)
    {
        if (heap.Count < K)
            heap.Enqueue(row, score);
        else if (heap.TryPeek(out _, out float worst) && score > worst)
            heap.DequeueEnqueue(row, score);
        return heap.Count;
    }

    [GlobalSetup(Target = nameof(Q8Managed))]
    public void SetupQ8Managed() => Prepare(KernelImplementation.Managed, null);

    [GlobalSetup(Target = nameof(Q8NativeAvx2))]
    public void SetupQ8NativeAvx2() => Prepare(KernelImplementation.Native, "avx2");

    [GlobalSetup(Target = nameof(Q8NativeAvx512))]
    public void SetupQ8NativeAvx512() => Prepare(KernelImplementation.Native, "avx512");

    [GlobalSetup(Target = nameof(HalfNativeAvx512))]
    public void SetupHalfNativeAvx512() => Prepare(KernelImplementation.Native, "avx512");

    [Benchmark(Baseline = true, Description = "int8: loop + PriorityQueue")]
    public int Q8NaiveLoop()
    {
        var heap = new PriorityQueue<int, float>(K);
        for (int r = 0; r < Rows; r++)
        {
            float s = 0;
            int o = r * Dimension;
            for (int i = 0; i < Dimension; i++)
                s += _query[i] * _q8[o + i];
            Offer(heap, r, s * _scales[r]);
        }
        return heap.Peek();
    }

    [Benchmark(Description = "int8: TensorPrimitives widen + Dot + PriorityQueue")]
    public int Q8TensorPrimitives()
    {
        var heap = new PriorityQueue<int, float>(K);
        for (int r = 0; r < Rows; r++)
        {
            TensorPrimitives.ConvertChecked<sbyte, float>(_q8.AsSpan(r * Dimension, Dimension), _row);
            Offer(heap, r, TensorPrimitives.Dot(_query, _row) * _scales[r]);
        }
        return heap.Peek();
    }

    [Benchmark(Description = "int8: RankKernels.QuantizedTopK managed")]
    public int Q8Managed()
    {
        return RankKernels.QuantizedTopK(_query, Dimension, _q8, _scales, K, _indices, _top);
    }

    [Benchmark(Description = "int8: RankKernels.QuantizedTopK native avx2")]
    public int Q8NativeAvx2()
    {
        return RankKernels.QuantizedTopK(_query, Dimension, _q8, _scales, K, _indices, _top);
    }

    [Benchmark(Description = "int8: RankKernels.QuantizedTopK native avx512")]
    public int Q8NativeAvx512()
    {
        return RankKernels.QuantizedTopK(_query, Dimension, _q8, _scales, K, _indices, _top);
    }

    [Benchmark(Description = "half: TensorPrimitives widen + Dot + PriorityQueue")]
    public int HalfTensorPrimitives()
    {
        var heap = new PriorityQueue<int, float>(K);
        for (int r = 0; r < Rows; r++)
        {
            TensorPrimitives.ConvertToSingle(_half.AsSpan(r * Dimension, Dimension), _row);
            Offer(heap, r, TensorPrimitives.Dot(_query, _row));
        }
        return heap.Peek();
    }

    [Benchmark(Description = "half: RankKernels.QuantizedTopK native avx512")]
    public int HalfNativeAvx512()
    {
        return RankKernels.QuantizedTopK(_query, Dimension, _half, K, _indices, _top);
    }

    [Benchmark(Description = "memory copy of the int8 matrix")]
    public void MemoryCopy() => _q8.AsSpan().CopyTo(_copy);
}
