using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using FastRank.Kernels;

namespace FastRank.Bench.Kernels;

/// <summary>
/// Shared configuration of the kernel benchmarks: one process per benchmark, a short fixed number of
/// iterations (the machine is a shared 2-core VM: more iterations buy noise, not precision), the default
/// GitHub Markdown export and the ratio to each class's baseline. <c>--job Dry</c> on the command line replaces the job for CI.
/// </summary>
public sealed class KernelBenchmarkConfig : ManualConfig
{
    public KernelBenchmarkConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(12).AsDefault());
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median, BaselineRatioColumn.RatioMean);
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend);
        Orderer = new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared);
    }
}

/// <summary>
/// Base of the kernel benchmarks: the implementation and variant a benchmark measures are chosen once, in its
/// global setup, and stay for the whole (single-threaded) run, so the timed calls pay nothing for the choice,
/// exactly like production code that uses the process default. The setup prints the choice into the log.
/// </summary>
public abstract class KernelBenchmark
{
    private KernelScope _scope;
    private bool _entered;

    /// <summary>Allocates and fills the benchmark's data.</summary>
    protected abstract void Prepare();

    protected void Prepare(KernelImplementation implementation, string? variant)
    {
        Prepare();
        _scope = RankKernels.Use(implementation, variant);
        _entered = true;
        Console.WriteLine($"// FastRank kernels for this benchmark: {RankKernels.Implementation} {RankKernels.Variant}");
    }

    /// <summary>Frees what <see cref="Prepare()"/> allocated outside the GC heap.</summary>
    protected virtual void Release()
    {
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_entered)
        {
            // Printed after the measurements: proves the timed calls ran with the choice made in the setup.
            Console.WriteLine($"// FastRank kernels at cleanup: {RankKernels.Implementation} {RankKernels.Variant}");
            _scope.Dispose();
        }
        _entered = false;
        Release();
    }
}
