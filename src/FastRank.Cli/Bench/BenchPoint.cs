using System.Diagnostics;
using System.Globalization;
using FastRank.Diagnostics;

namespace FastRank.Cli.Bench;

/// <summary>One timed thing of a benchmark point: FastRank, a way of computing the floor, or a baseline.</summary>
/// <param name="Name">What it is (a floor candidate: its setting).</param>
/// <param name="Run">Runs once on input set <c>i</c> (a distinct query per repetition); returns the milliseconds it measured.</param>
/// <param name="Release">Frees its contexts (null: nothing to free); may run more than once.</param>
/// <param name="Setting">How it runs (for the report).</param>
internal sealed record Contender(string Name, Func<int, double> Run, Action? Release = null, string Setting = "")
{
    /// <summary>Wall-clock milliseconds of <paramref name="a"/>.</summary>
    public static double Time(Action a)
    {
        long t = Stopwatch.GetTimestamp();
        a();
        return Stopwatch.GetElapsedTime(t).TotalMilliseconds;
    }
}

/// <summary>What a method's bench prepares for one workload point.</summary>
internal sealed class PointSetup : IDisposable
{
    /// <summary>FastRank's method.</summary>
    public required Contender FastRank { get; init; }

    /// <summary>Ways of computing the floor's tokens; the one with the lowest median in calibration is the floor.</summary>
    public required IReadOnlyList<Contender> FloorCandidates { get; init; }

    /// <summary>Baselines (naive, LLamaSharp's reranker, listwise-generate).</summary>
    public required IReadOnlyList<Contender> Baselines { get; init; }

    /// <summary>Tokens the floor computes (those FastRank cannot take from a cache).</summary>
    public required long UniqueTokens { get; init; }

    /// <summary>Tokens each baseline decodes per call, by name (where known).</summary>
    public IReadOnlyDictionary<string, long> BaselineTokens { get; init; } = new Dictionary<string, long>();

    /// <summary>Baselines that could not run, with the reason.</summary>
    public IReadOnlyDictionary<string, string> Skipped { get; init; } = new Dictionary<string, string>();

    /// <summary>Frees what the method's bench holds (the reranker); runs last.</summary>
    public Action? Release { get; init; }

    /// <summary>Called after each FastRank call (extra facts for the notes, e.g. generated tokens).</summary>
    public Func<string>? Notes { get; init; }

    public void Dispose()
    {
        FastRank.Release?.Invoke();
        foreach (var c in FloorCandidates) c.Release?.Invoke();
        foreach (var c in Baselines) c.Release?.Invoke();
        Release?.Invoke();
    }
}

/// <summary>A disposable created on first use and freed on <see cref="Release"/> (which may run more than once).</summary>
internal sealed class Held<T>(Func<T> create) where T : class, IDisposable
{
    private T? _value;

    public T Value => _value ??= create();

    public void Release()
    {
        _value?.Dispose();
        _value = null;
    }
}

/// <summary>Latency statistics of one contender, milliseconds.</summary>
internal sealed record Timing(double P50Ms, double P95Ms, double MinMs, double MaxMs)
{
    public static Timing Of(IReadOnlyList<double> ms)
    {
        var s = Stat.Of(ms);
        return new Timing(s.Median, s.P95, s.Min, s.Max);
    }
}

/// <summary>A ratio over repetitions: the median of the per-repetition ratios, with min and max.</summary>
internal sealed record Ratio(double Median, double Min, double Max)
{
    public static Ratio Of(IReadOnlyList<double> values)
    {
        var s = Stat.Of(values);
        return new Ratio(s.Median, s.Min, s.Max);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Median:F2} ({Min:F2}-{Max:F2})");
}

/// <summary>A baseline's measurements at one point; <paramref name="OverFastRank"/> is baseline time / FastRank time (FastRank's speed-up).</summary>
internal sealed record BaselineResult(string Name, Timing Timing, Ratio OverFastRank, long? Tokens, string Setting);

/// <summary>Everything measured at one workload point of one method.</summary>
internal sealed record PointResult(
    string Method, int Docs, int DocTokens, long UniqueTokens,
    [property: System.Text.Json.Serialization.JsonPropertyName("fastrank")] Timing FastRank, Timing Floor, string FloorSetting, IReadOnlyDictionary<string, double> FloorCalibrationMs, Ratio RatioToFloor,
    IReadOnlyList<BaselineResult> Baselines, IReadOnlyDictionary<string, string> SkippedBaselines,
    double TokensPerSecond, double FloorTokensPerSecond, double PeakRssMb, int Repetitions, string Notes);

/// <summary>
/// Runs one point: floor calibration (every floor candidate, <c>floorRounds</c> times; the lowest median
/// wins), warm-up, then repetitions in which FastRank, the floor and every baseline run once each on the same
/// inputs, the order rotating with the repetition (on a shared machine whatever runs first fares
/// differently). Ratios are taken per repetition, then their median, min and max. Peak memory: every other
/// contender's contexts freed, the high-water mark reset, FastRank run once more.
/// </summary>
internal static class PointRunner
{
    /// <summary>Input sets a point needs: one per calibration round, warm-up and repetition.</summary>
    public static int Inputs(int floorRounds, int warmup, int repetitions) => floorRounds + warmup + repetitions + 1;

    public static PointResult Run(string method, int docs, int docTokens, PointSetup s, int floorRounds, int warmup, int repetitions, Action<string>? progress)
    {
        var c = CultureInfo.InvariantCulture;
        int input = 0;
        var calibration = s.FloorCandidates.ToDictionary(f => f.Name, _ => new List<double>());
        for (int round = 0; round < floorRounds || (round == 0 && s.FloorCandidates.Count == 1); round++, input++)
        {
            foreach (var f in s.FloorCandidates)
            {
                double ms = f.Run(input);
                calibration[f.Name].Add(ms);
                progress?.Invoke(string.Create(c, $"{method} {docs}x{docTokens}: floor candidate '{f.Name}' {ms:F0} ms"));
            }
        }
        var floor = s.FloorCandidates.OrderBy(f => Stat.Of(calibration[f.Name]).Median).First();
        foreach (var f in s.FloorCandidates)
            if (!ReferenceEquals(f, floor)) f.Release?.Invoke();

        var order = new List<Contender> { s.FastRank, floor };
        order.AddRange(s.Baselines);
        var times = order.Select(_ => new List<double>()).ToArray();
        for (int rep = 0; rep < warmup + repetitions; rep++, input++)
        {
            bool timed = rep >= warmup;
            var ms = new double[order.Count];
            for (int k = 0; k < order.Count; k++)
            {
                int which = (k + rep) % order.Count;
                ms[which] = order[which].Run(input);
            }
            string line = string.Join(", ", order.Select((o, k) => string.Create(c, $"{(k == 1 ? "floor" : o.Name)} {ms[k]:F0} ms")));
            progress?.Invoke(string.Create(c, $"{method} {docs}x{docTokens} {(timed ? "rep" : "warm-up")} {rep + 1 - (timed ? warmup : 0)}: {line}"));
            if (!timed) continue;
            for (int k = 0; k < order.Count; k++) times[k].Add(ms[k]);
        }
        string notes = s.Notes?.Invoke() ?? "";

        // Peak memory of FastRank alone: the others' contexts freed and the freed heap handed back first.
        foreach (var o in order.Skip(1)) o.Release?.Invoke();
        double peakMb = ProcessMemory.PeakDuring(() => s.FastRank.Run(input)) / 1e6;

        var fast = times[0];
        var floorMs = times[1];
        var baselines = s.Baselines.Select((b, i) => new BaselineResult(
            b.Name, Timing.Of(times[2 + i]), Ratio.Of([.. times[2 + i].Select((t, r) => t / fast[r])]),
            s.BaselineTokens.TryGetValue(b.Name, out long tok) ? tok : null, b.Setting)).ToList();
        var fastTiming = Timing.Of(fast);
        var floorTiming = Timing.Of(floorMs);
        return new PointResult(
            method, docs, docTokens, s.UniqueTokens, fastTiming, floorTiming, floor.Name,
            calibration.ToDictionary(kv => kv.Key, kv => Stat.Of(kv.Value).Median),
            Ratio.Of([.. fast.Select((t, r) => t / floorMs[r])]), baselines, s.Skipped,
            s.UniqueTokens / (fastTiming.P50Ms / 1000), s.UniqueTokens / (floorTiming.P50Ms / 1000), peakMb, repetitions, notes);
    }
}
