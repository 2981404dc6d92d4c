using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using FastRank.Engine;
using FastRank.Prompts;

namespace FastRank.Ranking;

/// <summary>
/// The listwise prompt of FIRST / RankZephyr, split for the prefix cache. For a window of passages
/// the model sees, inside its chat layout:
/// <code>
/// system: You are RankLLM, ...
/// user:   I will provide you with {num} passages, each indicated by a alphabetical identifier []. Rank the passages
///         based on their relevance to the search query: {query}.\n\n
///         [A] {passage}\n[B] {passage}\n...
///         Search Query: {query}.\nRank the {num} passages above ... Only respond with the ranking results, do not say any word or explain.
/// assistant: [
/// </code>
/// The head (layout, system text, instruction up to the query) is the same for every query; the
/// prefix (head, query) is the same for every window of a call; each window adds its passages and the
/// tail, which ends with <c>[</c> so that the next token is a bare identifier. Markup and our own
/// instruction text are tokenized as template text; the query, the passages and the system text are
/// untrusted text that can never produce a control token.
/// </summary>
internal sealed partial class ListwisePrompt
{
    /// <summary>FIRST's system text.</summary>
    public const string DefaultSystemPrompt =
        "You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query.";

    private readonly LlamaModel _model;
    private readonly ChatLayout _layout;
    private readonly ListwiseIdentifierSet _ids;
    private readonly string _system;
    private readonly Dictionary<int, int[]> _heads = [];

    public ListwisePrompt(LlamaModel model, ChatLayout layout, ListwiseIdentifierSet identifiers, string? systemPrompt)
    {
        _model = model;
        _layout = layout;
        _ids = identifiers;
        _system = systemPrompt ?? DefaultSystemPrompt;
    }

    public ListwiseIdentifierSet Identifiers => _ids;

    /// <summary>The head for windows of <paramref name="num"/> passages (the number is part of the instruction): the prompt up to the query.</summary>
    public int[] Head(int num)
    {
        lock (_heads)
        {
            if (_heads.TryGetValue(num, out var head)) return head;
            head = Tokenize(Segments(num, null, null));
            _heads[num] = head;
            return head;
        }
    }

    /// <summary>
    /// The parts of a window's prompt, in the reference's layout: the chat layout around one user message
    /// <c>{intro} {query}.\n\n[A] {passage}\n[B] {passage}\n...Search Query: {query}.\n{instruction}</c>, then
    /// <c>[</c> after the assistant turn opens. Without a query: up to the query (the head); without passages:
    /// up to the first passage (head and query).
    /// </summary>
    internal List<PromptSegment> Segments(int num, string? query, IReadOnlyList<string>? passages)
    {
        var segments = new List<PromptSegment>();
        var parts = _layout.Parsed;
        int user = parts.IndexOf("user");
        for (int i = 0; i < user; i++)
            segments.Add(parts.Parts[i].IsPlaceholder ? PromptSegment.Plain(_system) : PromptSegment.Markup(parts.Parts[i].Text));
        segments.Add(PromptSegment.Markup(Intro(num) + " "));
        if (query is null) return segments;
        segments.Add(PromptSegment.Plain(query));
        segments.Add(PromptSegment.Markup(".\n\n"));
        if (passages is null) return segments;
        for (int k = 0; k < passages.Count; k++)
        {
            segments.Add(PromptSegment.Markup("[" + _ids.Labels[k] + "] "));
            segments.Add(PromptSegment.Plain(passages[k]));
            segments.Add(PromptSegment.Markup("\n"));
        }
        segments.Add(PromptSegment.Markup("Search Query: "));
        segments.Add(PromptSegment.Plain(query));
        segments.Add(PromptSegment.Markup(Outro(num)));
        return segments;
    }

    /// <summary>A prompt's tokens: BOS when the model adds one, then the parts tokenized as the reference tokenizer sees the rendered text.</summary>
    internal int[] Tokenize(List<PromptSegment> segments)
    {
        int[] tokens = _model.TokenizePrompt(segments);
        return _model.AddBos ? [_model.Bos, .. tokens] : tokens;
    }

    private string Intro(int num)
    {
        string kind = _ids.Kind == ListwiseIdentifiers.Letters ? "alphabetical" : "numerical";
        return string.Create(CultureInfo.InvariantCulture, $"I will provide you with {num} passages, each indicated by a {kind} identifier []. ")
            + "Rank the passages based on their relevance to the search query:";
    }

    private string Outro(int num)
    {
        string example = _ids.Kind == ListwiseIdentifiers.Letters ? "[B] > [A]" : "[2] > [1]";
        var parts = _layout.Parsed;
        int user = parts.IndexOf("user");
        var sb = new StringBuilder();
        sb.Append(string.Create(CultureInfo.InvariantCulture, $".\nRank the {num} passages above based on their relevance to the search query. "));
        sb.Append("All the passages should be included and listed using identifiers, in descending order of relevance. ");
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"The output format should be [] > [], e.g., {example}, Only respond with the ranking results, do not say any word or explain."));
        for (int i = user + 1; i < parts.Parts.Count; i++) sb.Append(parts.Parts[i].Text);
        sb.Append('[');
        return sb.ToString();
    }

    /// <summary>Prepares one call: the query and every passage sanitized and cut to their budgets (as text, at a token boundary).</summary>
    public ListwiseCall Build(string query, IReadOnlyList<string> documents, int passageBudget, int queryBudget)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        string q = Sanitize(query);
        bool queryTruncated = Cut(ref q, queryBudget);

        var passages = new string[documents.Count];
        int truncated = 0;
        for (int i = 0; i < documents.Count; i++)
        {
            string p = Sanitize(documents[i] ?? throw new ArgumentException($"document {i} is null", nameof(documents)));
            if (Cut(ref p, passageBudget)) truncated++;
            passages[i] = p;
        }
        return new ListwiseCall(this, q, passages, truncated, queryTruncated);
    }

    private bool Cut(ref string text, int budget)
    {
        int[] tokens = _model.TokenizeTextBounded(text, budget);
        if (tokens.Length <= budget) return false;
        text = _model.CutToTokens(text, tokens, budget);
        return true;
    }

    /// <summary>Tokens of a window prompt besides the query (twice) and the passages, for sizing contexts.</summary>
    public int FixedTokens(int windowSize)
    {
        var call = Build("", Enumerable.Repeat("", windowSize).ToArray(), 0, 0);
        var items = new int[windowSize];
        for (int i = 0; i < windowSize; i++) items[i] = i;
        return call.Prefix(windowSize).Length + call.WindowSuffix(items).Length;
    }

    /// <summary>
    /// Puts text on one line and rewrites identifier-looking brackets (<c>[B]</c>, <c>[12]</c>) as
    /// parentheses, so that no passage or query can pose as another passage's label.
    /// </summary>
    public static string Sanitize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string oneLine = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return IdentifierLike().Replace(oneLine, "($1)");
    }

    [GeneratedRegex(@"\[\s*([A-Za-z]|[0-9]{1,3})\s*\]", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierLike();
}

/// <summary>
/// One listwise call: the sanitized query and passages; the head, the prefix and the tokens of each
/// window built on demand. A window's prompt is tokenized whole (as the reference tokenizer sees the
/// rendered text); the prefix every window of a size shares is the longest beginning the prompt up to the
/// passages has in common with a window's prompt (all windows read the same text up to their first passage).
/// </summary>
internal sealed class ListwiseCall
{
    private readonly ListwisePrompt _prompt;
    private readonly string _query;
    private readonly string[] _passages;
    private readonly Dictionary<int, (int[] Head, int[] Prefix)> _bySize = [];

    public ListwiseCall(ListwisePrompt prompt, string query, string[] passages, int truncatedDocuments, bool truncatedQuery)
    {
        _prompt = prompt;
        _query = query;
        _passages = passages;
        TruncatedDocuments = truncatedDocuments;
        TruncatedQuery = truncatedQuery;
    }

    /// <summary>Each document's passage text, sanitized and cut to the budget.</summary>
    public IReadOnlyList<string> Passages => _passages;

    /// <summary>Passages cut to the budget.</summary>
    public int TruncatedDocuments { get; }

    /// <summary>Whether the query was cut to its budget.</summary>
    public bool TruncatedQuery { get; }

    /// <summary>The query-independent head for windows of <paramref name="num"/> passages (cached across calls); a beginning of <see cref="Prefix"/>.</summary>
    public int[] Head(int num) => Parts(num).Head;

    /// <summary>Head and query for windows of <paramref name="num"/> passages: shared by those windows.</summary>
    public int[] Prefix(int num) => Parts(num).Prefix;

    /// <summary>The whole prompt of the window holding <paramref name="items"/> (input indices) in that order.</summary>
    public int[] WindowPrompt(ReadOnlySpan<int> items)
    {
        var texts = new string[items.Length];
        for (int k = 0; k < items.Length; k++) texts[k] = _passages[items[k]];
        return _prompt.Tokenize(_prompt.Segments(items.Length, _query, texts));
    }

    /// <summary>The tokens the window holding <paramref name="items"/> adds to <see cref="Prefix"/>.</summary>
    /// <exception cref="InvalidOperationException">The window's tokenization does not begin with the shared prefix (a vocabulary that merges across the first label).</exception>
    public int[] WindowSuffix(ReadOnlySpan<int> items)
    {
        int[] prefix = Prefix(items.Length);
        int[] full = WindowPrompt(items);
        if (!full.AsSpan().StartsWith(prefix))
            throw new InvalidOperationException("a listwise window's tokens do not begin with the prefix its windows share");
        return full[prefix.Length..];
    }

    private (int[] Head, int[] Prefix) Parts(int num)
    {
        if (!_bySize.TryGetValue(num, out var parts))
        {
            int[] upToPassages = _prompt.Tokenize(_prompt.Segments(num, _query, null));
            // Windows share their text up to the first passage; a probe passage shows where the tokens of
            // that text stop being the same.
            var probe = _prompt.Segments(num, _query, null);
            probe.Add(PromptSegment.Markup("[" + _prompt.Identifiers.Labels[0] + "] "));
            probe.Add(PromptSegment.Plain("x"));
            int shared = upToPassages.AsSpan().CommonPrefixLength(_prompt.Tokenize(probe));
            int[] prefix = upToPassages[..shared];
            int[] head = _prompt.Head(num);
            parts = (head[..head.AsSpan().CommonPrefixLength(prefix)], prefix);
            _bySize[num] = parts;
        }
        return parts;
    }
}
