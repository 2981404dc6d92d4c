using System.Globalization;
using System.Text;
using FastRank.Engine;
using FastRank.Prompts;

namespace FastRank.Ranking;

/// <summary>A document's span in an ICR prompt: its label and text (the separator before it excluded).</summary>
/// <param name="Start">Position of the first token (the label's).</param>
/// <param name="Length">Tokens of label and text.</param>
internal readonly record struct IcrSpan(int Start, int Length)
{
    public int End => Start + Length;
}

/// <summary>One ICR prompt: the documents' part shared by the query passes, and where each document lies in it.</summary>
/// <param name="Prefix">Head, then each document as separator + label + text, then the separator before the query part.</param>
/// <param name="Documents">Input index of the document at each prompt slot (prompt order).</param>
/// <param name="Spans">Span of the document at each prompt slot.</param>
internal sealed record IcrChunk(int[] Prefix, int[] Documents, IcrSpan[] Spans);

/// <summary>A call's prompts: the chunks, and the two query parts every chunk ends with.</summary>
/// <param name="Chunks">One prompt per chunk (one chunk when everything fits).</param>
/// <param name="QuerySuffix">Late instruction, <c>Query:</c>, the query and the chat suffix: the query span.</param>
/// <param name="CalibrationSuffix">The same with the content-free query.</param>
/// <param name="TruncatedDocuments">Documents cut to their budget.</param>
/// <param name="TruncatedQuery">Whether the query was cut to its budget.</param>
internal sealed record IcrPrompt(IcrChunk[] Chunks, int[] QuerySuffix, int[] CalibrationSuffix, int TruncatedDocuments, bool TruncatedQuery);

/// <summary>
/// The ICR prompts for one model and options. The text between two special tokens is tokenized as one
/// string (as the reference tokenizer sees the rendered prompt); markup literals may hold special tokens,
/// the preamble, documents, instruction and query are untrusted text (no special token can come from them).
/// <code>
/// [BOS] {open}{preamble}  {sep}[1] {doc}  {sep}[2] {doc} ... {sep}  {late instruction}{sep}Query: {query}{close}
/// |------------------------- prefix (decoded once) --------------------| |------------ query span -------------|
/// </code>
/// The query span starts after the separator that ends the documents, a boundary where the tokenizations of
/// the two parts meet without merging as long as the late instruction (or <c>Query:</c>) starts with a
/// letter, as the built-in ones do.
/// </summary>
internal sealed class IcrPromptBuilder
{
    private readonly LlamaModel _model;
    private readonly string _open;
    private readonly string _preamble;
    private readonly string _separator;
    private readonly string _late;
    private readonly string _close;

    public IcrPromptBuilder(LlamaModel model, IcrOptions options)
    {
        _model = model;
        Layout = Resolve(options.Layout, model);
        (string open, string preambleSpace, string sep, string close) = Layout switch
        {
            IcrPromptLayout.Mistral => ("[INST]", " ", "\n\n", "[/INST]"),
            IcrPromptLayout.Llama3 => ("<|start_header_id|>user<|end_header_id|>", " ", " \n\n", "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"),
            IcrPromptLayout.ChatML => ("<|im_start|>user\n", "", "\n\n", "<|im_end|>\n<|im_start|>assistant\n"),
            _ => ("", "", "\n\n", ""),
        };
        _open = open;
        _preamble = options.Preamble.Length == 0 ? "" : preambleSpace + options.Preamble;
        _separator = sep;
        _late = options.LateInstruction;
        _close = close;
        Head = Tokenize(HeadSegments());
        Separator = model.TokenizeTemplate(sep);
        CalibrationQuery = options.CalibrationQuery;
        QueryFrameTokens = QuerySuffix("").Length;
    }

    public IcrPromptLayout Layout { get; }

    /// <summary>BOS, the opening markup and the preamble.</summary>
    public int[] Head { get; }

    /// <summary>The separator between documents, tokenized alone (for sizing).</summary>
    public int[] Separator { get; }

    /// <summary>The content-free query of calibration.</summary>
    public string CalibrationQuery { get; }

    /// <summary>Tokens of the query part around the query itself.</summary>
    public int QueryFrameTokens { get; }

    private List<PromptSegment> HeadSegments() => [PromptSegment.Markup(_open), PromptSegment.Plain(_preamble)];

    private int[] Tokenize(List<PromptSegment> segments, List<int>? offsets = null)
    {
        int[] tokens = _model.TokenizePrompt(segments, offsets);
        return _model.AddBos ? [_model.Bos, .. tokens] : tokens;
    }

    /// <summary>The query span for <paramref name="query"/>: late instruction, separator, <c>Query:</c>, the query, the chat suffix.</summary>
    public int[] QuerySuffix(string query) => _model.TokenizePrompt(
        [PromptSegment.Plain(_late), PromptSegment.Markup(_separator + "Query: "), PromptSegment.Plain(query), PromptSegment.Markup(_close)]);

    /// <summary>A document's text tokens alone (for budgets and chunk planning).</summary>
    public int[] DocumentTokens(string document) => document.Length == 0 ? [] : _model.TokenizeText(" " + document);

    /// <summary>
    /// The prefix of one chunk: documents <paramref name="order"/> (input indices, in prompt order) with texts
    /// <paramref name="texts"/>. A document's span holds the tokens that start inside its label or text (a
    /// token that merges the text's end with the separator after it belongs to the document).
    /// </summary>
    public IcrChunk BuildChunk(int[] order, IReadOnlyList<string> texts)
    {
        var segments = HeadSegments();
        int bytes = Encoding.UTF8.GetByteCount(_open) + Encoding.UTF8.GetByteCount(_preamble);
        var ranges = new (int Start, int End)[order.Length];
        int sepBytes = Encoding.UTF8.GetByteCount(_separator);
        for (int k = 0; k < order.Length; k++)
        {
            string label = "[" + (k + 1).ToString(CultureInfo.InvariantCulture) + "] ";
            string text = texts[order[k]];
            segments.Add(PromptSegment.Markup(_separator + label));
            segments.Add(PromptSegment.Plain(text));
            bytes += sepBytes;
            int start = bytes;
            bytes += Encoding.UTF8.GetByteCount(label) + Encoding.UTF8.GetByteCount(text);
            ranges[k] = (start, bytes);
        }
        segments.Add(PromptSegment.Markup(_separator));
        var offsets = new List<int>();
        int[] prefix = Tokenize(segments, offsets);
        int shift = prefix.Length - offsets.Count; // BOS has no text
        var spans = new IcrSpan[order.Length];
        int t = 0;
        for (int k = 0; k < order.Length; k++)
        {
            while (t < offsets.Count && offsets[t] < ranges[k].Start) t++;
            int first = t;
            while (t < offsets.Count && offsets[t] < ranges[k].End) t++;
            spans[k] = new IcrSpan(first + shift, t - first);
        }
        return new IcrChunk(prefix, order, spans);
    }
    /// <summary>The layout <paramref name="requested"/> resolves to for <paramref name="model"/>.</summary>
    public static IcrPromptLayout Resolve(IcrPromptLayout requested, LlamaModel model)
    {
        if (requested != IcrPromptLayout.Auto) return requested;
        string template = model.ChatTemplate() ?? "";
        if (template.Contains("[INST]", StringComparison.Ordinal)) return IcrPromptLayout.Mistral;
        if (template.Contains("<|start_header_id|>", StringComparison.Ordinal)) return IcrPromptLayout.Llama3;
        if (template.Contains("<|im_start|>", StringComparison.Ordinal)) return IcrPromptLayout.ChatML;
        return IcrPromptLayout.Plain;
    }
}

/// <summary>How a list is split into prompts that fit the context.</summary>
internal static class IcrChunking
{
    /// <summary>
    /// The fewest chunks k (at least <paramref name="minChunks"/>) such that dealing the documents
    /// round-robin (document i to chunk i mod k) keeps every chunk within <paramref name="budget"/> tokens,
    /// where a document costs <paramref name="costs"/>[i]. Each chunk lists its documents in input order.
    /// Every single cost must be at most the budget.
    /// </summary>
    public static int[][] Plan(ReadOnlySpan<int> costs, int budget, int minChunks)
    {
        int n = costs.Length;
        if (n == 0) return [];
        long total = 0;
        foreach (int c in costs)
        {
            if (c > budget) throw new ArgumentException($"a document of {c} tokens exceeds the chunk budget of {budget}", nameof(costs));
            total += c;
        }
        int k = (int)Math.Clamp(Math.Max(minChunks, (total + budget - 1) / budget), 1, n);
        var sums = new long[n];
        for (; k < n; k++)
        {
            Array.Clear(sums, 0, k);
            bool fits = true;
            for (int i = 0; i < n && fits; i++)
            {
                sums[i % k] += costs[i];
                fits = sums[i % k] <= budget;
            }
            if (fits) break;
        }
        var chunks = new int[k][];
        for (int j = 0; j < k; j++)
        {
            var list = new int[(n - j + k - 1) / k];
            for (int m = 0; m < list.Length; m++) list[m] = j + m * k;
            chunks[j] = list;
        }
        return chunks;
    }
}
