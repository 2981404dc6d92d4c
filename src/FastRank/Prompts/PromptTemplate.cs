using System.Text;

namespace FastRank.Prompts;

/// <summary>A prompt template: literal text (trusted; special tokens allowed) and <c>{name}</c> placeholders (untrusted text).</summary>
internal sealed class PromptTemplate
{
    /// <summary>One part of a template.</summary>
    /// <param name="Text">Literal text, or the placeholder's name.</param>
    /// <param name="IsPlaceholder">Whether this part is a placeholder.</param>
    public readonly record struct Part(string Text, bool IsPlaceholder);

    private PromptTemplate(string source, IReadOnlyList<Part> parts)
    {
        Source = source;
        Parts = parts;
    }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>Literal and placeholder parts in order; adjacent literals are merged.</summary>
    public IReadOnlyList<Part> Parts { get; }

    /// <summary>
    /// Parses <paramref name="template"/>. Only the names in <paramref name="placeholders"/> are
    /// placeholders; any other brace text (JSON in an instruction, say) stays literal. Each name in
    /// <paramref name="required"/> must occur exactly once, and at most once otherwise.
    /// </summary>
    /// <exception cref="ArgumentException">A required placeholder is missing or one occurs twice.</exception>
    public static PromptTemplate Parse(string template, IReadOnlyCollection<string> placeholders, IReadOnlyCollection<string> required)
    {
        ArgumentNullException.ThrowIfNull(template);
        var parts = new List<Part>();
        var literal = new StringBuilder();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        while (i < template.Length)
        {
            if (template[i] == '{')
            {
                int close = template.IndexOf('}', i + 1);
                if (close > i)
                {
                    string name = template[(i + 1)..close];
                    if (placeholders.Contains(name))
                    {
                        if (!seen.Add(name)) throw new ArgumentException($"the prompt template uses {{{name}}} more than once", nameof(template));
                        if (literal.Length > 0)
                        {
                            parts.Add(new Part(literal.ToString(), false));
                            literal.Clear();
                        }
                        parts.Add(new Part(name, true));
                        i = close + 1;
                        continue;
                    }
                }
            }
            literal.Append(template[i]);
            i++;
        }
        if (literal.Length > 0) parts.Add(new Part(literal.ToString(), false));
        foreach (string r in required)
        {
            if (!seen.Contains(r)) throw new ArgumentException($"the prompt template lacks the {{{r}}} placeholder", nameof(template));
        }
        return new PromptTemplate(template, parts);
    }

    /// <summary>Index of the placeholder part named <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name)
    {
        for (int i = 0; i < Parts.Count; i++)
            if (Parts[i].IsPlaceholder && Parts[i].Text == name) return i;
        return -1;
    }
}
