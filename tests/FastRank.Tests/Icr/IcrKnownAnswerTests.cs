using FastRank.Ranking;
using Xunit.Abstractions;

namespace FastRank.Tests.Icr;

/// <summary>
/// The constructed match model has a known ICR answer: the one document that contains the query's rare
/// words receives the query's attention.
/// </summary>
public sealed class IcrKnownAnswerTests(ITestOutputHelper output)
{
    public static TheoryData<IcrCalibration, bool> Settings => new()
    {
        { IcrCalibration.Masked, true },
        { IcrCalibration.Masked, false },
        { IcrCalibration.Unmasked, true },
        { IcrCalibration.None, true },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void DocumentWithTheQuerysRareWordsRanksFirstWithAClearMargin(IcrCalibration calibration, bool reverse)
    {
        using var ranker = Reranker.Load(IcrTestData.MatchModel,
            IcrTestData.Options(new IcrOptions { MaxContextTokens = 1024, Calibration = calibration, ReverseOrder = reverse }));
        for (int c = 0; c < IcrTestData.RareWords.Length; c++)
        {
            string[] words = IcrTestData.RareWords[c];
            Assert.True(IcrTestData.AllSingleTokens(ranker.Model, words), $"{string.Join(' ', words)} are not all single tokens");
            var docs = IcrTestData.Filler(12, 30, seed: 100 + c);
            Assert.DoesNotContain(docs, d => d.Split(' ', '.').Intersect(words).Any());
            int relevant = (5 * c + 2) % docs.Length;
            // The rare words inside the document, not only at its end.
            var filler = docs[relevant].Split(' ');
            docs[relevant] = string.Join(' ', filler[..10]) + " " + string.Join(' ', words) + " " + string.Join(' ', filler[10..]);
            var result = ranker.Rerank(string.Join(' ', words), docs);

            output.WriteLine($"case {c} ({calibration}, reverse {reverse}): relevant {relevant}; top {result[0].Index} {result[0].Score:F4}, second {result[1].Index} {result[1].Score:F4}");
            Assert.Equal(docs.Length, result.Count);
            Assert.Equal(relevant, result[0].Index);
            // Clear margin. Calibrated: the other documents' scores are about 0 (their attention is the same with
            // the content-free query), the relevant one's about 0.44. Uncalibrated, frequent words of the late
            // instruction also draw attention to the other documents, so the margin is smaller.
            Assert.True(result[0].Score >= 0.25, $"top score {result[0].Score}");
            if (calibration == IcrCalibration.None)
                Assert.True(result[0].Score - result[1].Score >= 0.05, $"margin: {result[0].Score} vs {result[1].Score}");
            else
                Assert.True(result[0].Score >= 3 * Math.Max(result[1].Score, 0) && result[0].Score - result[1].Score >= 0.2,
                    $"margin: {result[0].Score} vs {result[1].Score}");
        }
    }

    [Fact]
    public void TwoRelevantDocumentsOutrankTheRest()
    {
        using var ranker = Reranker.Load(IcrTestData.MatchModel, IcrTestData.Options());
        var docs = IcrTestData.Filler(10, 30, seed: 7);
        docs[2] += " penguin telescope meteor";
        docs[7] += " penguin meteor";
        var result = ranker.Rerank("penguin telescope meteor", docs);
        Assert.Equal([2, 7], result.Take(2).Select(r => r.Index).Order().ToArray());
        // The document with all three words beats the one with two.
        Assert.Equal(2, result[0].Index);
        Assert.True(result[1].Score > 3 * Math.Max(result[2].Score, 0.01));
    }
}
