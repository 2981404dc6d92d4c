using System.Globalization;
using FastRank.Cli.Bench;
using Xunit.Abstractions;

namespace FastRank.Tests.Reliability;

/// <summary>
/// A CI-sized run of <c>fastrank bench --soak</c> (<see cref="SoakBench"/>): 8 concurrent callers, mixed methods and
/// sizes, random cancellations and hostile text, through the library and through the server on loopback, on the
/// synthetic tiny model. It asserts what holds whatever the machine's load: no errors, every cancelled call ended,
/// scores after a cancellation equal a fresh reranker's, no control token from text, threads and handles within a
/// margin. Timings, latencies and RSS growth are reported (test output), not asserted. <c>FASTRANK_SOAK_CALLS</c>
/// sets the library calls (the server phase gets a fifth).
/// </summary>
public sealed class SoakTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EightCallers_MixedMethods_Cancellations_AndHostileText_LeaveNoErrorsAndNoLeakedThreads()
    {
        int calls = int.TryParse(Environment.GetEnvironmentVariable("FASTRANK_SOAK_CALLS"), CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 48;
        var options = new SoakOptions(TestModels.Tiny, "synthetic tiny (f32)")
        {
            Calls = calls,
            ServerCalls = Math.Max(12, calls / 5),
            Callers = 8,
            MaxDocuments = 6,
            MaxDocumentWords = 40,
            // More cancellations than the bench's default: the test is about them.
            CancelShare = 0.25,
            HostileShare = 0.15,
            AllocationFailure = false,
            Progress = output.WriteLine,
        };
        var report = await SoakBench.RunAsync(options, "SoakTests", CancellationToken.None);
        output.WriteLine(SoakReportWriter.Markdown(report, charts: false));

        Assert.Equal(["library", "server"], report.Phases.Select(p => p.Name));
        foreach (var p in report.Phases)
        {
            Assert.True(p.Errors == 0, $"{p.Name}: {p.Errors} errors: {string.Join(" | ", p.ErrorSamples)}");
            Assert.True(p.ProbeMismatches == 0, $"{p.Name}: {p.ProbeMismatches} probes differ from a fresh reranker (max {p.MaxProbeDifference:G3}): {string.Join(" | ", p.ErrorSamples)}");
            Assert.Equal(0, p.ControlTokenInjections);
            Assert.True(p.HostileCalls > 0, $"{p.Name}: no hostile call drawn");
            // Every call ended one way or the other (a hung cancellation would never get here).
            Assert.Equal(p.Calls, p.Completed + p.Cancelled + p.Rejected);
            // Each cancellation that took effect was followed by a probe.
            Assert.Equal(p.Cancelled + p.CompletedDespiteCancel, p.ProbeChecks);
            // The thread pool grows and shrinks with load: a margin, not equality. A leak of one thread (or handle)
            // per call or per cancellation would exceed it many times over.
            Assert.True(p.ThreadsEnd <= p.ThreadsWarm + 16, $"{p.Name}: threads {p.ThreadsWarm} -> {p.ThreadsEnd}");
            Assert.True(p.HandlesEnd <= p.HandlesWarm + 16, $"{p.Name}: handles {p.HandlesWarm} -> {p.HandlesEnd}");
        }
        Assert.True(report.Cancellations.Count > 0, "no call was cancelled while running");
        Assert.All(report.Cancellations, c => Assert.True(double.IsFinite(c.LatencyMs) && c.LatencyMs >= 0, $"{c.Phase}/{c.Method}: latency {c.LatencyMs}"));
    }
}
