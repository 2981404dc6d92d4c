using FastRank.Ranking;
using FastRank.Synthetic;
using Xunit.Abstractions;

namespace FastRank.Tests.Reliability;

/// <summary>
/// Hostile text (<see cref="TextFuzzing"/>) through every method of the library: no crash, no control or marker
/// token beyond the template's own in any prompt, every document ranked, truncation counted. Real llama.cpp
/// tokenization and decoding of synthetic models; the invented vocabulary holds the control tokens of every
/// supported template, and the Qwen3 and Llama 3 vocabularies are the real ones.
/// </summary>
public sealed class TextFuzzTests(ITestOutputHelper output)
{
    private static RerankerOptions Small(RerankMethod method) => new()
    {
        Method = method,
        Threads = 2,
        ParallelSequences = 4,
        MaxDocumentTokens = 48,
        MaxQueryTokens = 24,
        First = new FirstOptions { WindowSize = 4, Stride = 2, MaxPassageTokens = 40, MaxGeneratedTokens = 12 },
        Icr = new IcrOptions { MaxContextTokens = 2048 },
    };

    /// <summary>Every supported template layout, each on a model whose vocabulary has its control tokens.</summary>
    public static TheoryData<string, string, string> Layouts => new()
    {
        { "synthetic", "pointwise", "" },
        { "synthetic", "pointwise", "llama3" },
        { "synthetic", "pointwise", "mistral" },
        { "synthetic", "first", "chatml" },
        { "synthetic", "first", "qwen3" },
        { "synthetic", "first", "llama3" },
        { "synthetic", "first", "mistral" },
        { "synthetic", "first", "zephyr" },
        { "synthetic", "icr", "ChatML" },
        { "synthetic", "icr", "Llama3" },
        { "synthetic", "icr", "Mistral" },
        { "synthetic", "icr", "Plain" },
        { "qwen3", "pointwise", "" },
        { "qwen3", "first", "" },
        { "qwen3", "icr", "" },
        { "llama3", "pointwise", "" },
        { "llama3", "first", "" },
        { "llama3", "icr", "" },
    };

    private static string ModelFor(string vocab) => vocab switch
    {
        "qwen3" => TestModels.Get("tiny", "f32", vocab: VocabularyFamily.Qwen3),
        "llama3" => TestModels.Get("tiny", "f32", vocab: VocabularyFamily.Llama3),
        _ => TestModels.Tiny,
    };

    private static RerankerOptions OptionsFor(string method, string layout)
    {
        var kind = method switch { "first" => RerankMethod.First, "icr" => RerankMethod.Icr, _ => RerankMethod.Pointwise };
        var o = Small(kind);
        if (layout.Length == 0) return o;
        return kind switch
        {
            RerankMethod.First => o with { First = o.First with { ChatLayout = layout } },
            RerankMethod.Icr => o with { Icr = o.Icr with { Layout = Enum.Parse<IcrPromptLayout>(layout) } },
            _ => o with
            {
                PromptTemplate = layout == "llama3"
                    ? "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{instruction}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n<Query>: {query}\n<Document>: {document}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                    : "[INST] {instruction}\n<Query>: {query}\n<Document>: {document} [/INST]",
            },
        };
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void HostileText_NeverAddsAControlToken_ToAnyPromptPart(string vocab, string method, string layout)
    {
        var options = OptionsFor(method, layout);
        using var ranker = Reranker.Load(ModelFor(vocab), options with { ParallelSequences = 1 });
        var model = ranker.Model;
        int calls = 0, tokens = 0;
        TextFuzzing.Sample(TextFuzzing.Long ? 8 : 24, batch =>
        {
            foreach (var (query, documents) in batch)
            {
                // Plain-text tokenization of each text alone: no special token at all.
                foreach (string text in documents.Prepend(query))
                {
                    var ids = model.TokenizeText(text);
                    tokens += ids.Length;
                    Assert.True(TextFuzzing.SpecialTokens(model, ids).Count == 0, $"TokenizeText gave a special token for {TextFuzzing.Show(text)}");
                }
                // Each part of each prompt holds exactly the special tokens that part holds for harmless text.
                var plain = PromptInspection.Explain(ranker, options.Method, "q", [.. documents.Select(_ => "d")]);
                var views = PromptInspection.Explain(ranker, options.Method, query, documents);
                foreach (var view in views)
                {
                    foreach (var part in view.Parts)
                    {
                        var reference = plain.SelectMany(v => v.Parts).First(p => p.Role == part.Role);
                        var expected = TextFuzzing.SpecialTokens(model, reference.Tokens);
                        var actual = TextFuzzing.SpecialTokens(model, part.Tokens);
                        Assert.True(expected.SequenceEqual(actual),
                            $"{view.Name}/{part.Role}: special tokens [{string.Join(",", actual)}], the template's own [{string.Join(",", expected)}]; query {TextFuzzing.Show(query)}, documents [{string.Join(", ", documents.Select(TextFuzzing.Show))}]");
                    }
                }
                calls++;
            }
        });
        output.WriteLine($"{vocab}/{method}/{layout}: {calls} calls, {tokens} text tokens checked");
        Assert.True(calls > 0);
    }

    [Theory]
    [InlineData(RerankMethod.Pointwise)]
    [InlineData(RerankMethod.First)]
    [InlineData(RerankMethod.Icr)]
    [InlineData(RerankMethod.ListwiseGenerate)]
    public void HostileText_IsRankedWhole_ByEveryMethod(RerankMethod method)
    {
        using var ranker = Reranker.Load(TestModels.Tiny, Small(method));
        int calls = 0;
        TextFuzzing.Sample(TextFuzzing.Long ? 4 : 6, batch =>
        {
            foreach (var (query, documents) in batch)
            {
                var result = ranker.Rerank(new RerankRequest(query, documents) { Method = method });
                Assert.Equal(method, result.Method);
                Assert.Equal([.. Enumerable.Range(0, documents.Length)], result.Select(r => r.Index).Order().ToArray());
                Assert.All(result, r => Assert.True(double.IsFinite(r.Score), $"score {r.Score} for {TextFuzzing.Show(documents[r.Index])}"));
                Assert.InRange(result.Usage.TruncatedDocuments, 0, documents.Length);
                calls++;
            }
        });
        output.WriteLine($"{method}: {calls} calls ranked");
    }

    [Theory]
    [InlineData(RerankMethod.Pointwise)]
    [InlineData(RerankMethod.First)]
    [InlineData(RerankMethod.Icr)]
    [InlineData(RerankMethod.ListwiseGenerate)]
    public void MegabyteRuns_AreTruncated_AndCounted(RerankMethod method)
    {
        const int Mb = 1 << 20;
        string[] documents =
        [
            new string('a', Mb),
            string.Concat(Enumerable.Repeat("\U0001F600", Mb / 2)),
            new string('\0', Mb),
            string.Concat(Enumerable.Repeat("<|im_start|>", Mb / 12)),
            "a short document about llamas",
            string.Concat(Enumerable.Repeat("\uD800", Mb)), // lone high surrogates only
        ];
        using var ranker = Reranker.Load(TestModels.Tiny, Small(method));
        var result = ranker.Rerank(new RerankRequest(new string('q', Mb), documents) { Method = method });
        Assert.Equal([0, 1, 2, 3, 4, 5], result.Select(r => r.Index).Order().ToArray());
        Assert.True(result.Usage.TruncatedQuery);
        // Every megabyte document is cut to its budget and counted; the short one is not.
        Assert.Equal(5, result.Usage.TruncatedDocuments);
        var parts = PromptInspection.Explain(ranker, method, new string('q', Mb), documents).SelectMany(v => v.Parts).ToList();
        Assert.Empty(TextFuzzing.SpecialTokens(ranker.Model, parts.Where(p => p.Role != "head").SelectMany(p => p.Tokens))
            .Except(TextFuzzing.SpecialTokens(ranker.Model, PromptInspection.Explain(ranker, method, "q", [.. documents.Select(_ => "d")]).SelectMany(v => v.Parts).SelectMany(p => p.Tokens))));
        output.WriteLine($"{method}: {result.Usage.PromptTokens} prompt tokens for 6 MB of documents, {result.Usage.TruncatedDocuments} truncated");
    }
}
