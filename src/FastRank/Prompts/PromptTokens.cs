using FastRank.Engine;

namespace FastRank.Prompts;

/// <summary>
/// Turns template parts into tokens: literal text with special-token parsing (it is the template's
/// own markup), substituted values as untrusted text that can never produce a control token. A
/// single space that ends a literal right before a value moves into the value ("Query: {query}" gives
/// the value its natural leading-space token), so a value always starts on a token boundary of its own.
/// </summary>
internal static class PromptTokens
{
    /// <summary>Appends the tokens of the template parts [from, to) to <paramref name="dst"/>, values from <paramref name="values"/>.</summary>
    public static void Append(LlamaModel model, PromptTemplate template, int from, int to, IReadOnlyDictionary<string, string> values, List<int> dst)
    {
        for (int i = from; i < to; i++)
        {
            var part = template.Parts[i];
            if (part.IsPlaceholder)
            {
                string value = values.TryGetValue(part.Text, out var v) ? v : throw new ArgumentException($"no value for {{{part.Text}}}");
                dst.AddRange(model.TokenizeText(LeadingSpace(template, i) + value));
            }
            else
            {
                dst.AddRange(model.TokenizeTemplate(Literal(template, i)));
            }
        }
    }

    /// <summary>The text of literal part <paramref name="i"/>, without a trailing space that moves into the next value.</summary>
    public static string Literal(PromptTemplate template, int i)
    {
        string text = template.Parts[i].Text;
        bool nextIsValue = i + 1 < template.Parts.Count && template.Parts[i + 1].IsPlaceholder;
        return nextIsValue && EndsWithSingleSpace(text) ? text[..^1] : text;
    }

    /// <summary>The space a value at part <paramref name="i"/> takes over from the literal before it ("" or " ").</summary>
    public static string LeadingSpace(PromptTemplate template, int i) =>
        i > 0 && !template.Parts[i - 1].IsPlaceholder && EndsWithSingleSpace(template.Parts[i - 1].Text) ? " " : "";

    private static bool EndsWithSingleSpace(string s) => s.Length > 0 && s[^1] == ' ' && (s.Length == 1 || s[^2] != ' ');
}
