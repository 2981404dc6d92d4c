using System.Text.Json;
using FastRank.Evaluation.Formats;

namespace FastRank.Evaluation.Datasets;

/// <summary>A corpus document.</summary>
/// <param name="Id">The document id.</param>
/// <param name="Title">Its title (may be empty).</param>
/// <param name="Text">Its text.</param>
public sealed record CorpusDocument(string Id, string Title, string Text)
{
    /// <summary>What a reranker reads: the title, a newline, the text (the text alone without a title).</summary>
    public string Content => Title.Length > 0 ? Title + "\n" + Text : Text;
}

/// <summary>A test collection: corpus, queries, judgments, and where it lives (the BM25 index is cached there).</summary>
public sealed class EvalDataset
{
    private EvalDataset(string name, string? directory, IReadOnlyDictionary<string, CorpusDocument> corpus, IReadOnlyDictionary<string, string> queries, Qrels qrels, string corpusPath)
    {
        Name = name;
        Directory = directory;
        Corpus = corpus;
        Queries = queries;
        Qrels = qrels;
        CorpusPath = corpusPath;
    }

    /// <summary>The dataset's name (its directory's name, or the corpus file's).</summary>
    public string Name { get; }

    /// <summary>The BEIR directory; null for loose TREC files.</summary>
    public string? Directory { get; }

    /// <summary>The corpus file (the BM25 cache key includes its size and time).</summary>
    public string CorpusPath { get; }

    /// <summary>Documents by id.</summary>
    public IReadOnlyDictionary<string, CorpusDocument> Corpus { get; }

    /// <summary>Query texts by id.</summary>
    public IReadOnlyDictionary<string, string> Queries { get; }

    /// <summary>The judgments of the split.</summary>
    public Qrels Qrels { get; }

    /// <summary>
    /// The queries to evaluate: judged queries that have a text, in ordinal order of their ids, the first
    /// <paramref name="limit"/> of them when given.
    /// </summary>
    public IReadOnlyList<string> EvaluationQueries(int? limit = null)
    {
        var ids = Qrels.QueryIds.Where(Queries.ContainsKey);
        return [.. limit is { } n ? ids.Take(n) : ids];
    }

    /// <summary>This dataset with other judgments (a different qrels file for the same corpus and queries).</summary>
    public EvalDataset WithQrels(Qrels qrels)
    {
        ArgumentNullException.ThrowIfNull(qrels);
        return new EvalDataset(Name, Directory, Corpus, Queries, qrels, CorpusPath);
    }

    /// <summary>
    /// Reads a BEIR dataset directory: <c>corpus.jsonl</c> (<c>_id</c>, <c>title</c>, <c>text</c>), <c>queries.jsonl</c>
    /// (<c>_id</c>, <c>text</c>) and <c>qrels/SPLIT.tsv</c>.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="EvalFormatException">A file is missing or malformed (file, line, what was expected).</exception>
    public static EvalDataset LoadBeir(string directory, string split = "test")
    {
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"no such dataset directory: {directory}");
        string corpus = Path.Combine(directory, "corpus.jsonl"), queries = Path.Combine(directory, "queries.jsonl");
        string qrels = Path.Combine(directory, "qrels", split + ".tsv");
        foreach (string f in new[] { corpus, queries })
        {
            if (!File.Exists(f)) throw new EvalFormatException(f, 0, "missing: a BEIR dataset directory holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv");
        }
        if (!File.Exists(qrels))
        {
            string[] splits = System.IO.Directory.Exists(Path.Combine(directory, "qrels"))
                ? [.. System.IO.Directory.GetFiles(Path.Combine(directory, "qrels"), "*.tsv").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!]
                : [];
            throw new EvalFormatException(qrels, 0, $"missing: no qrels for split '{split}'" + (splits.Length > 0 ? $" (splits here: {string.Join(", ", splits)})" : ""));
        }
        return new EvalDataset(Path.GetFileName(Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar)), Path.GetFullPath(directory),
            ReadCorpus(corpus), ReadQueries(queries), Qrels.Read(qrels), Path.GetFullPath(corpus));
    }

    /// <summary>
    /// Reads loose files: a corpus (BEIR's <c>corpus.jsonl</c> or a TSV <c>docid TAB text</c> or <c>docid TAB title TAB text</c>),
    /// topics (<c>queries.jsonl</c> or a TSV <c>qid TAB text</c>) and qrels (TREC or BEIR TSV).
    /// </summary>
    /// <exception cref="EvalFormatException">A file is malformed.</exception>
    public static EvalDataset LoadFiles(string corpusPath, string topicsPath, string qrelsPath) =>
        new(Path.GetFileNameWithoutExtension(corpusPath), null, ReadCorpus(corpusPath), ReadQueries(topicsPath), Qrels.Read(qrelsPath), Path.GetFullPath(corpusPath));

    /// <summary>Reads a corpus: JSON lines (<c>_id</c> or <c>id</c>/<c>docid</c>, <c>title</c>, <c>text</c>) or TSV.</summary>
    public static IReadOnlyDictionary<string, CorpusDocument> ReadCorpus(string path)
    {
        var docs = new Dictionary<string, CorpusDocument>(StringComparer.Ordinal);
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (number, text) in TextLines.Read(path))
        {
            CorpusDocument doc;
            if (text.TrimStart().StartsWith('{'))
            {
                using var json = ParseJson(path, number, text);
                var root = json.RootElement;
                string id = Id(path, number, root, "_id", "id", "docid", "doc_id");
                doc = new CorpusDocument(id, String(path, number, root, "title") ?? "", String(path, number, root, "text", "contents", "body") ??
                    throw new EvalFormatException(path, number, "expected a \"text\" field (the document's text)"));
            }
            else
            {
                string[] f = text.Split('\t');
                if (f.Length is < 2 or > 3 || f[0].Trim().Length == 0)
                    throw new EvalFormatException(path, number, $"expected 'docid<TAB>text' or 'docid<TAB>title<TAB>text' (or a JSON object), found {f.Length} tab-separated field(s)");
                doc = f.Length == 2 ? new CorpusDocument(f[0].Trim(), "", f[1]) : new CorpusDocument(f[0].Trim(), f[1], f[2]);
            }
            if (!docs.TryAdd(doc.Id, doc))
                throw new EvalFormatException(path, number, $"document id '{doc.Id}' appears twice (first on line {lines[doc.Id]})");
            lines[doc.Id] = number;
        }
        if (docs.Count == 0) throw new EvalFormatException(path, 0, "no documents (an empty corpus)");
        return docs;
    }

    /// <summary>Reads queries: JSON lines (<c>_id</c>, <c>text</c>) or TSV <c>qid TAB text</c> (TREC topics as many tools write them).</summary>
    public static IReadOnlyDictionary<string, string> ReadQueries(string path)
    {
        var queries = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (number, text) in TextLines.Read(path))
        {
            string id, query;
            if (text.TrimStart().StartsWith('{'))
            {
                using var json = ParseJson(path, number, text);
                id = Id(path, number, json.RootElement, "_id", "id", "qid", "query_id");
                query = String(path, number, json.RootElement, "text", "query", "title") ?? throw new EvalFormatException(path, number, "expected a \"text\" field (the query)");
            }
            else
            {
                int tab = text.IndexOf('\t', StringComparison.Ordinal);
                if (tab <= 0) throw new EvalFormatException(path, number, "expected 'qid<TAB>query text' (or a JSON object with _id and text)");
                id = text[..tab].Trim();
                query = text[(tab + 1)..].Trim();
            }
            if (query.Length == 0) throw new EvalFormatException(path, number, $"query '{id}' has no text");
            if (!queries.TryAdd(id, query)) throw new EvalFormatException(path, number, $"query id '{id}' appears twice (first on line {lines[id]})");
            lines[id] = number;
        }
        if (queries.Count == 0) throw new EvalFormatException(path, 0, "no queries (an empty file)");
        return queries;
    }

    private static JsonDocument ParseJson(string path, int number, string text)
    {
        try
        {
            var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new EvalFormatException(path, number, "expected a JSON object");
            }
            return doc;
        }
        catch (JsonException ex)
        {
            throw new EvalFormatException(path, number, $"expected one JSON object per line: {ex.Message}");
        }
    }

    private static string Id(string path, int number, JsonElement root, params string[] names)
    {
        foreach (string n in names)
        {
            if (!root.TryGetProperty(n, out var v)) continue;
            string? id = v.ValueKind switch
            {
                JsonValueKind.String => v.GetString(),
                JsonValueKind.Number => v.GetRawText(),
                _ => null,
            };
            if (string.IsNullOrWhiteSpace(id) || id.Any(char.IsWhiteSpace))
                throw new EvalFormatException(path, number, $"expected \"{n}\" to be a non-empty id without spaces (TREC files are whitespace separated)");
            return id;
        }
        throw new EvalFormatException(path, number, $"expected an id field (\"{names[0]}\")");
    }

    private static string? String(string path, int number, JsonElement root, params string[] names)
    {
        foreach (string n in names)
        {
            if (!root.TryGetProperty(n, out var v) || v.ValueKind == JsonValueKind.Null) continue;
            if (v.ValueKind != JsonValueKind.String) throw new EvalFormatException(path, number, $"expected \"{n}\" to be a string, found {v.ValueKind.ToString().ToLowerInvariant()}");
            return v.GetString();
        }
        return null;
    }
}
