using System.Globalization;
using FastRank.Engine;

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
/// The token pieces of ICR prompts for one model and options: markup literals are tokenized as trusted
/// template text, the preamble, labels, documents, instruction and query as untrusted text (no control
/// token can come from them).
/// <code>
/// [BOS] {open}{preamble}  {sep}[1] {doc}  {sep}[2] {doc} ... {sep}  {late instruction}{sep}Query: {query}{close}
/// |------------------------- prefix (decoded once) --------------------| |------------ query span -------------|
/// </code>
/// </summary>
internal sealed class IcrPromptBuilder
{
    private readonly LlamaModel _model;
    private readonly List<int[]> _labels = [];

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
        var head = new List<int>();
        if (model.AddBos) head.Add(model.Bos);
        head.AddRange(model.TokenizeTemplate(open));
        if (options.Preamble.Length > 0) head.AddRange(model.TokenizeText(preambleSpace + options.Preamble));
        Head = [.. head];
        Separator = model.TokenizeTemplate(sep);
        Late = options.LateInstruction.Length == 0 ? [] : model.TokenizeText(options.LateInstruction);
        QueryLabel = model.TokenizeTemplate("Query:");
        Close = model.TokenizeTemplate(close);
        CalibrationQuery = QueryTokens(options.CalibrationQuery);
    }

    public IcrPromptLayout Layout { get; }

    public int[] Head { get; }

    public int[] Separator { get; }

    public int[] Late { get; }

    public int[] QueryLabel { get; }

    public int[] Close { get; }

    public int[] CalibrationQuery { get; }

    /// <summary>Tokens of the query part around the query itself.</summary>
    public int QueryFrameTokens => Late.Length + Separator.Length + QueryLabel.Length + Close.Length;

    /// <summary>The query span for <paramref name="queryTokens"/>: late instruction, separator, <c>Query:</c>, the query, the chat suffix.</summary>
    public int[] QuerySuffix(ReadOnlySpan<int> queryTokens) => [.. Late, .. Separator, .. QueryLabel, .. queryTokens, .. Close];

    /// <summary>The query's tokens (untrusted text, with the leading space a value takes after <c>Query:</c>).</summary>
    public int[] QueryTokens(string query) => query.Length == 0 ? [] : _model.TokenizeText(" " + query);

    /// <summary>A document's text tokens (untrusted text, after its label and a space).</summary>
    public int[] DocumentTokens(string document) => document.Length == 0 ? [] : _model.TokenizeText(" " + document);

    /// <summary>The tokens of label <c>[k]</c> (k from 1).</summary>
    public int[] Label(int k)
    {
        while (_labels.Count < k) _labels.Add(_model.TokenizeText($"[{(_labels.Count + 1).ToString(CultureInfo.InvariantCulture)}]"));
        return _labels[k - 1];
    }

    /// <summary>The prefix of one chunk: documents <paramref name="order"/> (input indices, in prompt order) with texts <paramref name="texts"/>.</summary>
    public IcrChunk BuildChunk(int[] order, IReadOnlyList<int[]> texts)
    {
        int length = Head.Length + Separator.Length;
        for (int k = 0; k < order.Length; k++) length += Separator.Length + Label(k + 1).Length + texts[order[k]].Length;
        var prefix = new int[length];
        var spans = new IcrSpan[order.Length];
        int at = 0;
        Head.CopyTo(prefix, at);
        at += Head.Length;
        for (int k = 0; k < order.Length; k++)
        {
            Separator.CopyTo(prefix, at);
            at += Separator.Length;
            int start = at;
            int[] label = Label(k + 1);
            label.CopyTo(prefix, at);
            at += label.Length;
            int[] text = texts[order[k]];
            text.CopyTo(prefix, at);
            at += text.Length;
            spans[k] = new IcrSpan(start, at - start);
        }
        Separator.CopyTo(prefix, at);
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
