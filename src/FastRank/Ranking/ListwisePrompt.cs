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
    private readonly int[][] _labels;
    private readonly Dictionary<int, int[]> _heads = [];
    private readonly int[] _afterQuery;

    public ListwisePrompt(LlamaModel model, ChatLayout layout, ListwiseIdentifierSet identifiers, string? systemPrompt)
    {
        _model = model;
        _layout = layout;
        _ids = identifiers;
        _system = systemPrompt ?? DefaultSystemPrompt;
        _labels = new int[identifiers.Count][];
        for (int k = 0; k < identifiers.Count; k++)
            _labels[k] = model.TokenizeTemplate((k == 0 ? "[" : "\n[") + identifiers.Labels[k] + "]");
        _afterQuery = model.TokenizeTemplate(".\n\n");
    }

    public ListwiseIdentifierSet Identifiers => _ids;

    /// <summary>The head for windows of <paramref name="num"/> passages (the number is part of the instruction).</summary>
    public int[] Head(int num)
    {
        lock (_heads)
        {
            if (_heads.TryGetValue(num, out var head)) return head;
            var w = new TokenWriter(_model);
            if (_model.AddBos) w.Tokens([_model.Bos]);
            var parts = _layout.Parsed;
            int user = parts.IndexOf("user");
            for (int i = 0; i < user; i++)
            {
                if (parts.Parts[i].IsPlaceholder) w.Text(PromptTokens.LeadingSpace(parts, i) + _system);
                else w.Markup(PromptTokens.Literal(parts, i));
            }
            w.Markup(PromptTokens.LeadingSpace(parts, user) + Intro(num));
            head = w.ToArray();
            _heads[num] = head;
            return head;
        }
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

    /// <summary>Tokenizes one call: the query and every passage once, cut to their budgets.</summary>
    public ListwiseCall Build(string query, IReadOnlyList<string> documents, int passageBudget, int queryBudget)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        string q = Sanitize(query);
        int[] queryTokens = q.Length == 0 ? [] : _model.TokenizeText(" " + q);
        bool queryTruncated = queryTokens.Length > queryBudget;
        if (queryTruncated) queryTokens = queryTokens[..queryBudget];

        var passages = new int[documents.Count][];
        int truncated = 0;
        for (int i = 0; i < documents.Count; i++)
        {
            string p = Sanitize(documents[i] ?? throw new ArgumentException($"document {i} is null", nameof(documents)));
            int[] t = p.Length == 0 ? [] : _model.TokenizeText(" " + p);
            if (t.Length > passageBudget)
            {
                t = t[..passageBudget];
                truncated++;
            }
            passages[i] = t;
        }
        return new ListwiseCall(this, queryTokens, passages, truncated, queryTruncated);
    }

    /// <summary>Head and query: the prefix every window of <paramref name="num"/> passages shares.</summary>
    internal int[] Prefix(int num, int[] queryTokens) => [.. Head(num), .. queryTokens, .. _afterQuery];

    /// <summary>After the last passage of a window of <paramref name="num"/>: the query again, the instruction, the chat suffix and <c>[</c>.</summary>
    internal int[] Tail(int num, int[] queryTokens)
    {
        var tail = new TokenWriter(_model);
        tail.Markup("\nSearch Query:");
        tail.Tokens(queryTokens);
        tail.Markup(Outro(num));
        return tail.ToArray();
    }

    /// <summary>Label tokens of window position <paramref name="k"/> (<c>[A]</c>, <c>\n[B]</c>, ...).</summary>
    internal int[] Label(int k) => _labels[k];

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

    /// <summary>Accumulates template text and flushes it as one tokenization before any untrusted text or tokens.</summary>
    private sealed class TokenWriter(LlamaModel model)
    {
        private readonly List<int> _tokens = [];
        private readonly StringBuilder _markup = new();

        public void Markup(string text) => _markup.Append(text);

        public void Text(string text)
        {
            Flush();
            _tokens.AddRange(model.TokenizeText(text));
        }

        public void Tokens(ReadOnlySpan<int> tokens)
        {
            Flush();
            _tokens.AddRange(tokens);
        }

        public int[] ToArray()
        {
            Flush();
            return [.. _tokens];
        }

        private void Flush()
        {
            if (_markup.Length == 0) return;
            _tokens.AddRange(model.TokenizeTemplate(_markup.ToString()));
            _markup.Clear();
        }
    }
}

/// <summary>
/// The tokens of one listwise call: the query and passages tokenized once; the prefix and tail of each
/// window size (the instruction names the number of passages) built on first use.
/// </summary>
internal sealed class ListwiseCall
{
    private readonly ListwisePrompt _prompt;
    private readonly int[] _query;
    private readonly Dictionary<int, (int[] Prefix, int[] Tail)> _bySize = [];

    public ListwiseCall(ListwisePrompt prompt, int[] queryTokens, int[][] passages, int truncatedDocuments, bool truncatedQuery)
    {
        _prompt = prompt;
        _query = queryTokens;
        Passages = passages;
        TruncatedDocuments = truncatedDocuments;
        TruncatedQuery = truncatedQuery;
    }

    /// <summary>Each document's passage tokens (leading space included), cut to the budget.</summary>
    public int[][] Passages { get; }

    /// <summary>Passages cut to the budget.</summary>
    public int TruncatedDocuments { get; }

    /// <summary>Whether the query was cut to its budget.</summary>
    public bool TruncatedQuery { get; }

    /// <summary>The query-independent head for windows of <paramref name="num"/> passages (cached across calls).</summary>
    public int[] Head(int num) => _prompt.Head(num);

    /// <summary>Head and query for windows of <paramref name="num"/> passages: shared by those windows.</summary>
    public int[] Prefix(int num) => Parts(num).Prefix;

    /// <summary>The suffix of the window holding <paramref name="items"/> (input indices) in that order.</summary>
    public int[] WindowSuffix(ReadOnlySpan<int> items)
    {
        int[] tail = Parts(items.Length).Tail;
        int length = tail.Length;
        for (int k = 0; k < items.Length; k++) length += _prompt.Label(k).Length + Passages[items[k]].Length;
        var suffix = new int[length];
        int at = 0;
        for (int k = 0; k < items.Length; k++)
        {
            int[] label = _prompt.Label(k);
            label.CopyTo(suffix, at);
            at += label.Length;
            Passages[items[k]].CopyTo(suffix, at);
            at += Passages[items[k]].Length;
        }
        tail.CopyTo(suffix, at);
        return suffix;
    }

    private (int[] Prefix, int[] Tail) Parts(int num)
    {
        if (!_bySize.TryGetValue(num, out var parts))
        {
            parts = (_prompt.Prefix(num, _query), _prompt.Tail(num, _query));
            _bySize[num] = parts;
        }
        return parts;
    }
}
