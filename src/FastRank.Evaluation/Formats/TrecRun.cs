using System.Globalization;
using System.Text;

namespace FastRank.Evaluation.Formats;

/// <summary>One retrieved document of a run.</summary>
/// <param name="DocId">The document id.</param>
/// <param name="Score">Its score; higher ranks first.</param>
public readonly record struct RunEntry(string DocId, double Score);

/// <summary>
/// A TREC run (<c>qid Q0 docid rank score tag</c>): per query, scored documents. The rank column is not used:
/// as trec_eval does, each query's documents are ordered by score, descending, ties broken by document id,
/// descending (byte order of the UTF-8 ids, as C's strcmp).
/// </summary>
public sealed class TrecRun
{
    private readonly Dictionary<string, RunEntry[]> _byQuery;

    /// <summary>A run from per-query entries (ordered here as trec_eval orders them).</summary>
    /// <exception cref="ArgumentException">A query lists a document twice.</exception>
    public TrecRun(string tag, IReadOnlyDictionary<string, IReadOnlyList<RunEntry>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        Tag = string.IsNullOrWhiteSpace(tag) ? "fastrank" : tag;
        _byQuery = new Dictionary<string, RunEntry[]>(StringComparer.Ordinal);
        foreach (var (q, list) in entries)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in list)
            {
                if (!seen.Add(e.DocId)) throw new ArgumentException($"query '{q}' lists document '{e.DocId}' twice", nameof(entries));
            }
            var sorted = list.ToArray();
            Array.Sort(sorted, TrecOrder.Instance);
            _byQuery[q] = sorted;
        }
    }

    /// <summary>The run's tag (the last column).</summary>
    public string Tag { get; }

    /// <summary>The queries, in ordinal order of their ids.</summary>
    public IReadOnlyList<string> QueryIds => [.. _byQuery.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The documents of <paramref name="queryId"/> in trec_eval's order (empty when the run has none).</summary>
    public IReadOnlyList<RunEntry> Ranked(string queryId) => _byQuery.TryGetValue(queryId, out var r) ? r : [];

    /// <summary>Whether the run has documents for <paramref name="queryId"/>.</summary>
    public bool Contains(string queryId) => _byQuery.ContainsKey(queryId);

    /// <summary>
    /// Reads a TREC run. Each line: <c>qid iter docid rank score tag</c> (whitespace separated; further fields
    /// are ignored, as trec_eval ignores them; iter and rank are not read).
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="EvalFormatException">
    /// Fewer than six fields, a score that is not a finite number, a document listed twice for a query
    /// (trec_eval refuses such runs: "duplicate docs"), or no lines.
    /// </exception>
    public static TrecRun Read(string path)
    {
        var lists = new Dictionary<string, List<RunEntry>>(StringComparer.Ordinal);
        var seen = new Dictionary<(string, string), int>();
        string? tag = null;
        foreach (var (number, text) in TextLines.Read(path))
        {
            string[] f = TextLines.Fields(text);
            if (f.Length < 6)
                throw new EvalFormatException(path, number, $"expected a run line 'qid Q0 docid rank score tag' (6 fields), found {f.Length} field(s)");
            if (!double.TryParse(f[4], NumberStyles.Float, CultureInfo.InvariantCulture, out double score) || !double.IsFinite(score))
                throw new EvalFormatException(path, number, $"expected a number in the score column (5th field), found '{f[4]}'");
            if (!seen.TryAdd((f[0], f[2]), number))
                throw new EvalFormatException(path, number, $"document '{f[2]}' is listed twice for query '{f[0]}' (first on line {seen[(f[0], f[2])]}); trec_eval refuses runs with duplicate documents");
            if (!lists.TryGetValue(f[0], out var list)) lists[f[0]] = list = [];
            list.Add(new RunEntry(f[2], score));
            tag ??= f[5];
        }
        if (lists.Count == 0) throw new EvalFormatException(path, 0, "no results (an empty run file)");
        return new TrecRun(tag!, lists.ToDictionary(x => x.Key, x => (IReadOnlyList<RunEntry>)x.Value, StringComparer.Ordinal));
    }

    /// <summary>This run with each query cut to its first <paramref name="depth"/> documents (trec_eval's order).</summary>
    public TrecRun Truncate(int depth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        return new TrecRun(Tag, _byQuery.ToDictionary(x => x.Key, x => (IReadOnlyList<RunEntry>)x.Value.Take(depth).ToArray(), StringComparer.Ordinal));
    }

    /// <summary>Writes the run: queries in ordinal order, documents in trec_eval's order, ranks from 1, scores round-trip exact.</summary>
    public void Write(string path)
    {
        using var w = new StreamWriter(path, false, new UTF8Encoding(false));
        Write(w);
    }

    /// <summary>Writes the run to <paramref name="writer"/>.</summary>
    public void Write(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (string q in QueryIds)
        {
            var list = _byQuery[q];
            for (int i = 0; i < list.Length; i++)
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{q} Q0 {list[i].DocId} {i + 1} {list[i].Score:R} {Tag}"));
        }
    }
}

/// <summary>trec_eval's order of a query's results: score descending, then document id descending (strcmp on UTF-8).</summary>
internal sealed class TrecOrder : IComparer<RunEntry>
{
    public static readonly TrecOrder Instance = new();

    public int Compare(RunEntry x, RunEntry y)
    {
        if (x.Score > y.Score) return -1;
        if (x.Score < y.Score) return 1;
        return CompareUtf8(y.DocId, x.DocId);
    }

    /// <summary>Byte order of the UTF-8 encodings: code point order (which UTF-16's ordinal order is not, past U+D7FF).</summary>
    public static int CompareUtf8(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            Rune.DecodeFromUtf16(a.AsSpan(i), out var ra, out int na);
            Rune.DecodeFromUtf16(b.AsSpan(j), out var rb, out int nb);
            int c = ra.Value.CompareTo(rb.Value);
            if (c != 0) return c;
            i += na;
            j += nb;
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }
}
