using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace FastRank.Bench.EndToEnd;

/// <summary>
/// Configuration of the end-to-end benchmarks: a rerank call takes tens to hundreds of milliseconds, so one
/// invocation per iteration, a few iterations (the machine is shared; the latency reports of
/// <c>fastrank bench</c> interleave and compare, these measure allocations and track regressions), and the
/// memory diagnoser: managed bytes allocated per call. <c>--job Dry</c> replaces the job for CI.
/// </summary>
public sealed class EndToEndConfig : ManualConfig
{
    public EndToEndConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(6).WithInvocationCount(1).WithUnrollFactor(1).AsDefault());
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median);
        SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend);
        Orderer = new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared);
    }
}
