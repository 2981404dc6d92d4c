using FastRank.Ranking;
using Xunit.Abstractions;

namespace FastRank.Tests.Icr;

/// <summary>The callback path against an independent recomputation of the attention from captured Q and K.</summary>
public sealed class IcrReferenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("small")]
    [InlineData("match")]
    public void CallbackScoresEqualSlowReference(string shape)
    {
        string path = shape == "match" ? IcrTestData.MatchModel : TestModels.Small;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var ranker = Reranker.Load(path, IcrTestData.Options(new IcrOptions { MaxContextTokens = 1024 }));
        output.WriteLine($"load {sw.ElapsedMilliseconds} ms");
        var icr = (IcrMethod)ranker.Method(RerankMethod.Icr);
        var engine = ranker.Engine(RerankMethod.Icr);
        var docs = IcrTestData.Filler(8, 40);
        docs[3] += " penguin telescope meteor";
        var prompt = icr.BuildPrompt("penguin telescope meteor", docs);
        var chunk = Assert.Single(prompt.Chunks);
        var got = icr.ScoreChunk(engine, chunk, prompt.QuerySuffix, null, default);
        output.WriteLine($"icr {sw.ElapsedMilliseconds} ms");

        int p = chunk.Prefix.Length;
        double[] refQ = QkReference.TokenScores(ranker.Model, [.. chunk.Prefix, .. prompt.QuerySuffix], p);
        double[] refNa = QkReference.TokenScores(ranker.Model, [.. chunk.Prefix, .. prompt.CalibrationSuffix], p);
        output.WriteLine($"reference {sw.ElapsedMilliseconds} ms");
        Assert.NotNull(got.Calibration);
        double max = refQ.Max(), diff = 0, diffNa = 0;
        for (int t = 0; t < p; t++)
        {
            diff = Math.Max(diff, Math.Abs(got.Query[t] - refQ[t]));
            diffNa = Math.Max(diffNa, Math.Abs(got.Calibration![t] - refNa[t]));
        }
        output.WriteLine($"{shape}: {p} prefix tokens, max s(t) {max:G4}, sum {refQ.Sum():G4}; max |diff| query {diff:G3}, N/A {diffNa:G3}");
        // Tolerance: 2e-5 of the largest per-token score (f32 accumulation over layers x heads x rows, f16 K and Q).
        Assert.True(diff <= 2e-5 * max, $"query: max |diff| {diff} > 2e-5 x {max}");
        Assert.True(diffNa <= 2e-5 * max, $"N/A: max |diff| {diffNa} > 2e-5 x {max}");

        for (int k = 0; k < chunk.Spans.Length; k++)
        {
            var span = chunk.Spans[k];
            float[] q = [.. refQ.Skip(span.Start).Take(span.Length).Select(v => (float)v)];
            float[] na = [.. refNa.Skip(span.Start).Take(span.Length).Select(v => (float)v)];
            double expected = IcrScoring.Masked(q, na);
            output.WriteLine($"  slot {k} (doc {chunk.Documents[k]}): {got.Scores[k]:F6} reference {expected:F6}, raw {got.RawScores[k]:F6} reference {IcrScoring.Raw(q):F6}");
            Assert.Equal(expected, got.Scores[k], 1e-4 * Math.Max(1, Math.Abs(expected)));
            Assert.Equal(IcrScoring.Raw(q), got.RawScores[k], 1e-4 * Math.Max(1, Math.Abs(expected)));
        }
    }
}
