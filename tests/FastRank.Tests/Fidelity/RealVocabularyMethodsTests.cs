using FastRank.Interop;
using FastRank.Ranking;
using FastRank.Synthetic;
using FastRank.Tests.First;
using FastRank.Tests.Icr;

namespace FastRank.Tests.Fidelity;

/// <summary>
/// Every method on the real vocabularies (the tiny architecture with Qwen3's and Llama 3's tokenizers and chat templates):
/// the identifiers FIRST reads, the yes/no of pointwise and ICR's prompt resolve as on the real models.
/// </summary>
public sealed class RealVocabularyMethodsTests
{
    public static TheoryData<VocabularyFamily> Families => new() { VocabularyFamily.Qwen3, VocabularyFamily.Llama3 };

    private static string Model(VocabularyFamily family) => TestModels.Get("tiny", "f32", vocab: family);

    private static string[] Documents(int count) => [.. SyntheticText.Documents(count, 12, seed: count)];

    [Theory]
    [MemberData(nameof(Families))]
    public void FirstReadsTwentyLetterIdentifiersFromSingleTokens(VocabularyFamily family)
    {
        using var r = Reranker.Load(Model(family), ListwiseTesting.Options(first: new FirstOptions { WindowSize = 20, MaxPassageTokens = 24 }));
        var m = (FirstMethod)r.Method(RerankMethod.First);
        Assert.Equal(20, m.Identifiers.Tokens.Distinct().Count());
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(((char)('A' + i)).ToString(), r.Model.TokenPiece(m.Identifiers.Tokens[i]));
            Assert.Equal(LlamaTokenAttr.Normal, r.Model.Attributes(m.Identifiers.Tokens[i]) & (LlamaTokenAttr.Normal | LlamaTokenAttr.Control));
        }
        var result = r.Rerank("which glacier moves fastest", Documents(20));
        Assert.Equal(Enumerable.Range(0, 20), result.Select(d => d.Index).Order());
    }

    [Fact]
    public void FirstNumbersUpToOneHundredAreSingleLlama3Tokens()
    {
        // Llama 3's pre-tokenizer groups digits by three: 1..100 are single tokens.
        using var r = Reranker.Load(Model(VocabularyFamily.Llama3),
            ListwiseTesting.Options(first: new FirstOptions { Identifiers = ListwiseIdentifiers.Numbers, WindowSize = 20, MaxPassageTokens = 24 }));
        var m = (FirstMethod)r.Method(RerankMethod.First);
        Assert.Equal([.. Enumerable.Range(1, 20).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            m.Identifiers.Tokens.Select(r.Model.TokenPiece));
        Assert.Equal(20, r.Rerank("penguins", Documents(20)).Count);
    }

    [Fact]
    public void Qwen3SplitsDigitsSoNumberIdentifiersStopAtNine()
    {
        // Qwen3's pre-tokenizer splits every digit: "10" is two tokens, as in the real model. Windows up to 9 work;
        // a window of 10 number identifiers is refused with the typed error that suggests letters.
        using (var nine = Reranker.Load(Model(VocabularyFamily.Qwen3),
            ListwiseTesting.Options(first: new FirstOptions { Identifiers = ListwiseIdentifiers.Numbers, WindowSize = 9, Stride = 4, MaxPassageTokens = 24 })))
        {
            Assert.Equal(9, nine.Rerank("penguins", Documents(9)).Count);
        }
        var ex = Assert.Throws<ModelNotSupportedException>(() => Reranker.Load(Model(VocabularyFamily.Qwen3),
            ListwiseTesting.Options(first: new FirstOptions { Identifiers = ListwiseIdentifiers.Numbers, WindowSize = 10, Stride = 5, MaxPassageTokens = 24 })));
        Assert.Contains("\"10\"", ex.Message, StringComparison.Ordinal);
        Assert.Contains("letter identifiers", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void IcrAndPointwiseRankOnTheRealVocabulary(VocabularyFamily family)
    {
        string[] docs = Documents(6);
        using (var icr = Reranker.Load(Model(family), IcrTestData.Options()))
        {
            var result = icr.Rerank("penguin telescope meteor", docs);
            Assert.Equal(Enumerable.Range(0, 6), result.Select(d => d.Index).Order());
            Assert.All(result, d => Assert.True(double.IsFinite(d.Score)));
        }
        using var pointwise = Reranker.Load(Model(family), new RerankerOptions { Threads = 1 });
        Assert.Equal(family == VocabularyFamily.Qwen3 ? 9693 : 9891, pointwise.Model.FindSingleToken("yes"));
        var scores = pointwise.Rerank("penguin telescope meteor", docs);
        Assert.Equal(6, scores.Count);
        Assert.All(scores, d => Assert.InRange(d.Score, 0, 1));
    }
}
