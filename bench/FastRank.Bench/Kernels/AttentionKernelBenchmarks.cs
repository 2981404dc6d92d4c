using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using FastRank.Kernels;

namespace FastRank.Bench.Kernels;

/// <summary>
/// ICR attention reduction over one layer's kq_soft_max tensor (16384 KV cells x 64 query rows x 16 heads =
/// 64 MB, in unmanaged memory as llama.cpp hands it over). Baseline: a copy of the same 64 MB, so the ratio
/// column is time relative to the copy. Target: bandwidth (bytes / time) &gt;= 60% of the copy's, i.e. a
/// ratio &lt;= 1.67.
/// </summary>
[Config(typeof(KernelBenchmarkConfig))]
public unsafe class AttentionKernelBenchmarks : KernelBenchmark
{
    private const int Cells = 16384, Tokens = 64, Heads = 16;
    private const long Elements = (long)Cells * Tokens * Heads;
    private float* _probabilities;
    private float* _copy;
    private readonly float[] _accumulator = new float[Cells];
    private readonly AttentionTensorLayout _layout = AttentionTensorLayout.Contiguous(Cells, Tokens, Heads);

    [GlobalSetup]
    public void Setup() => Prepare();

    protected override void Prepare()
    {
        _probabilities = (float*)NativeMemory.AlignedAlloc((nuint)(Elements * 4), 64);
        _copy = (float*)NativeMemory.AlignedAlloc((nuint)(Elements * 4), 64);
        var rng = new Random(3);
        for (long i = 0; i < Elements; i++)
            _probabilities[i] = (float)rng.NextDouble() / Cells;
        new Span<byte>(_copy, checked((int)Math.Min(Elements * 4, int.MaxValue))).Clear();
    }

    protected override void Release()
    {
        NativeMemory.AlignedFree(_probabilities);
        NativeMemory.AlignedFree(_copy);
    }

    [GlobalSetup(Target = nameof(Managed))]
    public void SetupManaged() => Prepare(KernelImplementation.Managed, null);

    [GlobalSetup(Target = nameof(NativeAvx2))]
    public void SetupNativeAvx2() => Prepare(KernelImplementation.Native, "avx2");

    [GlobalSetup(Target = nameof(NativeAvx512))]
    public void SetupNativeAvx512() => Prepare(KernelImplementation.Native, "avx512");

    [Benchmark(Baseline = true, Description = "memory copy of the same bytes")]
    public void MemoryCopy() => Buffer.MemoryCopy(_probabilities, _copy, Elements * 4, Elements * 4);

    [Benchmark(Description = "loop over heads, rows, cells")]
    public float NaiveLoop()
    {
        float[] acc = _accumulator;
        for (int h = 0; h < Heads; h++)
        {
            for (int t = 0; t < Tokens; t++)
            {
                float* row = _probabilities + (((long)h * Tokens) + t) * Cells;
                for (int c = 0; c < Cells; c++)
                    acc[c] += row[c] / Tokens;
            }
        }
        return acc[0];
    }

    [Benchmark(Description = "TensorPrimitives.MultiplyAdd per row")]
    public float TensorPrimitivesPerRow()
    {
        for (int h = 0; h < Heads; h++)
        {
            for (int t = 0; t < Tokens; t++)
            {
                var row = new ReadOnlySpan<float>(_probabilities + ((((long)h * Tokens) + t) * Cells), Cells);
                TensorPrimitives.MultiplyAdd(row, 1f / Tokens, _accumulator, _accumulator);
            }
        }
        return _accumulator[0];
    }

    [Benchmark(Description = "RankKernels.AccumulateAttention managed")]
    public float Managed()
    {
        RankKernels.AccumulateAttention(_probabilities, _layout, 0, Tokens, 0, 1f / Tokens, _accumulator);
        return _accumulator[0];
    }

    [Benchmark(Description = "RankKernels.AccumulateAttention native avx2")]
    public float NativeAvx2()
    {
        RankKernels.AccumulateAttention(_probabilities, _layout, 0, Tokens, 0, 1f / Tokens, _accumulator);
        return _accumulator[0];
    }

    [Benchmark(Description = "RankKernels.AccumulateAttention native avx512")]
    public float NativeAvx512()
    {
        RankKernels.AccumulateAttention(_probabilities, _layout, 0, Tokens, 0, 1f / Tokens, _accumulator);
        return _accumulator[0];
    }
}
