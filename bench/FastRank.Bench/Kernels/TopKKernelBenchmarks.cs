using BenchmarkDotNet.Attributes;
using FastRank.Kernels;

namespace FastRank.Bench.Kernels;

/// <summary>
/// Top-k of 1M floats: what a C# developer would otherwise write (Array.Sort of a copy, LINQ, a
/// PriorityQueue heap) against the managed and native kernels, and a copy of the same 4 MB as the
/// machine's limit. Targets: &gt;= 8x faster than sorting, &gt;= 2x faster than the heap.
/// </summary>
[Config(typeof(KernelBenchmarkConfig))]
public class TopKKernelBenchmarks : KernelBenchmark
{
    private const int N = 1 << 20;
    private float[] _values = [];
    private float[] _keys = [];
    private int[] _order = [];
    private float[] _copy = [];
    private int[] _indices = [];
    private float[] _top = [];

    [Params(10, 100)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup() => Prepare();

    protected override void Prepare()
    {
        var rng = new Random(1);
        _values = new float[N];
        for (int i = 0; i < N; i++)
            _values[i] = (float)rng.NextDouble();
        _keys = new float[N];
        _order = new int[N];
        _copy = new float[N];
        _indices = new int[K];
        _top = new float[K];
    }

    [GlobalSetup(Target = nameof(Managed))]
    public void SetupManaged() => Prepare(KernelImplementation.Managed, null);

    [GlobalSetup(Target = nameof(NativeAvx2))]
    public void SetupNativeAvx2() => Prepare(KernelImplementation.Native, "avx2");

    [GlobalSetup(Target = nameof(NativeAvx512))]
    public void SetupNativeAvx512() => Prepare(KernelImplementation.Native, "avx512");

    [Benchmark(Baseline = true, Description = "Array.Sort (copy + sort keys/indices)")]
    public int ArraySort()
    {
        _values.CopyTo(_keys, 0);
        for (int i = 0; i < N; i++)
            _order[i] = i;
        Array.Sort(_keys, _order);
        for (int i = 0; i < K; i++)
            _indices[i] = _order[N - 1 - i];
        return _indices[0];
    }

    [Benchmark(Description = "LINQ OrderByDescending.Take")]
    public int Linq() => _values.Select((v, i) => (v, i)).OrderByDescending(t => t.v).Take(K).Last().i;

    [Benchmark(Description = "PriorityQueue heap")]
    public int PriorityQueueHeap()
    {
        var heap = new PriorityQueue<int, float>(K);
        float[] v = _values;
        for (int i = 0; i < v.Length; i++)
        {
            if (heap.Count < K)
                heap.Enqueue(i, v[i]);
            else if (heap.TryPeek(out _, out float worst) && v[i] > worst)
                heap.DequeueEnqueue(i, v[i]);
        }
        return heap.Peek();
    }

    [Benchmark(Description = "RankKernels.TopK managed")]
    public int Managed()
    {
        return RankKernels.TopK(_values, K, _indices, _top);
    }

    [Benchmark(Description = "RankKernels.TopK native avx2")]
    public int NativeAvx2()
    {
        return RankKernels.TopK(_values, K, _indices, _top);
    }

    [Benchmark(Description = "RankKernels.TopK native avx512")]
    public int NativeAvx512()
    {
        return RankKernels.TopK(_values, K, _indices, _top);
    }

    [Benchmark(Description = "memory copy of the same bytes")]
    public void MemoryCopy() => _values.AsSpan().CopyTo(_copy);
}
