using System.Globalization;

namespace FastRank.Evaluation.Formats;

/// <summary>
/// Relevance judgments: per query, the judged documents and their relevance (an integer; &gt;= 1 relevant,
/// 0 judged non-relevant, negative: in the pool but unjudged, as trec_eval reads them).
/// </summary>
public sealed class Qrels
{
    private readonly Dictionary<string, Dictionary<string, int>> _byQuery;

    /// <summary>Judgments from a dictionary (query id to document id to relevance).</summary>
    public Qrels(IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> judgments)
    {
        ArgumentNullException.ThrowIfNull(judgments);
        _byQuery = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        foreach (var (q, docs) in judgments) _byQuery[q] = new Dictionary<string, int>(docs, StringComparer.Ordinal);
    }

    private Qrels(Dictionary<string, Dictionary<string, int>> byQuery) => _byQuery = byQuery;

    /// <summary>The judged queries, in ordinal order of their ids.</summary>
    public IReadOnlyList<string> QueryIds => [.. _byQuery.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The judgments of <paramref name="queryId"/>, or null when it has none.</summary>
    public IReadOnlyDictionary<string, int>? For(string queryId) => _byQuery.TryGetValue(queryId, out var d) ? d : null;

    /// <summary>Judgments of the queries in <paramref name="queryIds"/> only.</summary>
    public Qrels Restrict(IEnumerable<string> queryIds)
    {
        var keep = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        foreach (string q in queryIds)
        {
            if (_byQuery.TryGetValue(q, out var d)) keep[q] = d;
        }
        return new Qrels(keep);
    }

    /// <summary>Relevant documents (relevance &gt;= 1) of <paramref name="queryId"/>.</summary>
    public int RelevantCount(string queryId) => For(queryId) is { } d ? d.Values.Count(r => r >= 1) : 0;

    /// <summary>
    /// Reads a qrels file: TREC (<c>qid iter docid rel</c>, whitespace separated) or BEIR's TSV (<c>query-id corpus-id score</c>,
    /// tab separated, with or without its header line); the format is told by the number of fields.
    /// A document judged twice for one query is an error (trec_eval refuses such qrels too).
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="EvalFormatException">A malformed line, a relevance that is not an integer, a repeated judgment, no judgments.</exception>
    public static Qrels Read(string path)
    {
        var byQuery = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        var firstLine = new Dictionary<(string, string), int>();
        int? fields = null;
        bool first = true;
        foreach (var (number, text) in TextLines.Read(path))
        {
            string[] f = TextLines.Fields(text);
            if (first)
            {
                first = false;
                // BEIR's header: query-id corpus-id score.
                if (f.Length == 3 && text.Contains('\t', StringComparison.Ordinal) && !int.TryParse(f[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)) continue;
            }
            fields ??= f.Length;
            if (fields is not (3 or 4))
                throw new EvalFormatException(path, number, $"expected a qrels line 'qid 0 docid relevance' (TREC, 4 fields) or 'query-id<TAB>corpus-id<TAB>score' (BEIR, 3 fields), found {f.Length} field(s)");
            if (f.Length != fields)
                throw new EvalFormatException(path, number, $"expected {fields} fields as on the first line ({(fields == 4 ? "qid 0 docid relevance" : "query-id corpus-id score")}), found {f.Length}");
            string q = f[0], doc = f[fields == 4 ? 2 : 1], relText = f[fields == 4 ? 3 : 2];
            if (!int.TryParse(relText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int rel))
                throw new EvalFormatException(path, number, $"expected an integer relevance, found '{relText}'");
            if (!byQuery.TryGetValue(q, out var docs)) byQuery[q] = docs = new Dictionary<string, int>(StringComparer.Ordinal);
            if (!docs.TryAdd(doc, rel))
                throw new EvalFormatException(path, number, $"document '{doc}' is judged twice for query '{q}' (first on line {firstLine[(q, doc)]}); trec_eval refuses duplicate judgments");
            firstLine[(q, doc)] = number;
        }
        if (byQuery.Count == 0) throw new EvalFormatException(path, 0, "no judgments (an empty qrels file)");
        return new Qrels(byQuery);
    }

    /// <summary>Writes TREC qrels (<c>qid 0 docid rel</c>), queries and documents in ordinal order.</summary>
    public void WriteTrec(string path)
    {
        using var w = new StreamWriter(path);
        foreach (string q in QueryIds)
        {
            foreach (var (doc, rel) in _byQuery[q].OrderBy(x => x.Key, StringComparer.Ordinal))
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{q} 0 {doc} {rel}"));
        }
    }
}
