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

/// <summary>Thread-scoped kernel choices for benchmark bodies (the cost, two small calls, is far below a kernel call).</summary>
internal static class Variant
{
    public static KernelScope Managed() => RankKernels.Use(KernelImplementation.Managed);

    public static KernelScope Native(string variant) => RankKernels.Use(KernelImplementation.Native, variant);
}
