using FastRank.Engine;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.Icr;

/// <summary>Inputs shared by the ICR tests: the match model, filler documents and rare-word queries.</summary>
internal static class IcrTestData
{
    /// <summary>The constructed match model (f32), written once per run.</summary>
    public static string MatchModel => TestModels.Get("match", "f32");

    /// <summary>Rare-word triples: single tokens of the synthetic vocabulary, none among the filler's 8000 most frequent words.</summary>
    public static readonly string[][] RareWords =
    [
        ["penguin", "telescope", "meteor"],
        ["saxophone", "cathedral", "orchid"],
        ["lizard", "cactus", "tornado"],
        ["hydrogen", "dictator", "jester"],
        ["walrus", "trumpet", "lantern"],
    ];

    /// <summary><paramref name="count"/> filler documents of <paramref name="words"/> frequent words.</summary>
    public static string[] Filler(int count, int words, int seed = 11)
    {
        var random = new Random(seed);
        var docs = new string[count];
        for (int i = 0; i < count; i++) docs[i] = SyntheticText.Sentence(random, words, vocabulary: 2000);
        return docs;
    }

    /// <summary>
    /// Options of a reranker running ICR with <paramref name="icr"/> (default context 1024 tokens). One thread:
    /// the test machine's two cores are shared, and llama.cpp's spinning thread pool slows down many times over
    /// when its threads are descheduled.
    /// </summary>
    public static RerankerOptions Options(IcrOptions? icr = null, int threads = 1) => new()
    {
        Method = RerankMethod.Icr,
        Icr = icr ?? new IcrOptions { MaxContextTokens = 1024 },
        Threads = threads,
    };

    /// <summary>Whether every word is one token of the model (with its leading space).</summary>
    public static bool AllSingleTokens(LlamaModel model, IEnumerable<string> words) =>
        words.All(w => model.TokenizeText(" " + w).Length == 1);
}
