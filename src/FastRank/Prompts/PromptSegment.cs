namespace FastRank.Prompts;

/// <summary>
/// One part of a prompt: trusted markup (the template's own text, where special-token text such as
/// <c>&lt;|im_start|&gt;</c> is the special token) or untrusted text (a query, a document, an instruction:
/// never parsed for special tokens).
/// </summary>
/// <param name="Text">The part's text.</param>
/// <param name="IsMarkup">Whether the text is trusted markup.</param>
internal readonly record struct PromptSegment(string Text, bool IsMarkup)
{
    /// <summary>Trusted template text.</summary>
    public static PromptSegment Markup(string text) => new(text, true);

    /// <summary>Untrusted text.</summary>
    public static PromptSegment Plain(string text) => new(text, false);
}
