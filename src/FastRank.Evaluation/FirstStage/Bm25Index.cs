using System.Globalization;
using System.Text.Json;
using FastRank.Evaluation.Datasets;
using FastRank.Evaluation.Formats;
using Lucene.Net.Analysis;
using Lucene.Net.Analysis.En;
using Lucene.Net.Analysis.TokenAttributes;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Search.Similarities;
using Lucene.Net.Store;
using Lucene.Net.Util;
using LuceneDirectory = Lucene.Net.Store.Directory;

namespace FastRank.Evaluation.FirstStage;

/// <summary>BM25 parameters (Anserini's and Pyserini's BEIR baselines use k1 = 0.9, b = 0.4).</summary>
/// <param name="K1">Term-frequency saturation.</param>
/// <param name="B">Length normalization.</param>
public sealed record Bm25Parameters(float K1 = 0.9f, float B = 0.4f);

/// <summary>
/// A BM25 first stage on Lucene.Net: title and text in one field, Lucene's English analyzer (lower case, stop
/// words, possessives, Porter stemming), <see cref="BM25Similarity"/>. The index is built once and cached on disk
/// beside the dataset, keyed by the corpus file's size and time and the parameters; a changed corpus rebuilds it.
/// </summary>
public sealed class Bm25Index : IDisposable
{
    private const LuceneVersion Version = LuceneVersion.LUCENE_48;
    private const string IdField = "id", ContentField = "contents", KeyFile = "fastrank-bm25.json";

    private readonly LuceneDirectory _directory;
    private readonly DirectoryReader _reader;
    private readonly IndexSearcher _searcher;
    private readonly Analyzer _analyzer;

    private Bm25Index(LuceneDirectory directory, Bm25Parameters parameters, string path, bool built)
    {
        _directory = directory;
        _reader = DirectoryReader.Open(directory);
        _searcher = new IndexSearcher(_reader) { Similarity = new BM25Similarity(parameters.K1, parameters.B) };
        _analyzer = new EnglishAnalyzer(Version);
        Path = path;
        Built = built;
    }

    /// <summary>Where the index is.</summary>
    public string Path { get; }

    /// <summary>Whether this call built the index (false: it came from the cache).</summary>
    public bool Built { get; }

    /// <summary>Documents in the index.</summary>
    public int Count => _reader.NumDocs;

    /// <summary>The default place of a dataset's index: <c>DIR/.fastrank/bm25</c>, or <c>CORPUS.fastrank-bm25</c> beside loose files.</summary>
    public static string DefaultPath(EvalDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        return dataset.Directory is { } d ? System.IO.Path.Combine(d, ".fastrank", "bm25") : dataset.CorpusPath + ".fastrank-bm25";
    }

    /// <summary>Opens the cached index of <paramref name="dataset"/> at <paramref name="path"/>, building it first when absent or stale.</summary>
    public static Bm25Index OpenOrBuild(EvalDataset dataset, string? path = null, Bm25Parameters? parameters = null, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        parameters ??= new Bm25Parameters();
        path ??= DefaultPath(dataset);
        string key = CacheKey(dataset, parameters);
        string keyFile = System.IO.Path.Combine(path, KeyFile);
        bool built = false;
        if (!File.Exists(keyFile) || File.ReadAllText(keyFile) != key)
        {
            // Built beside, then moved into place: an interrupted build never looks complete.
            string temp = path + ".building-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
            System.IO.Directory.CreateDirectory(temp);
            using (var dir = FSDirectory.Open(temp))
            {
                Build(dir, dataset, parameters, progress);
            }
            File.WriteAllText(System.IO.Path.Combine(temp, KeyFile), key);
            if (System.IO.Directory.Exists(path)) System.IO.Directory.Delete(path, recursive: true);
            System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
            System.IO.Directory.Move(temp, path);
            built = true;
        }
        return new Bm25Index(FSDirectory.Open(path), parameters, path, built);
    }

    /// <summary>The <paramref name="depth"/> best documents for each query, as a run (tag <c>bm25</c>).</summary>
    public TrecRun Search(IReadOnlyDictionary<string, string> queries, IEnumerable<string> queryIds, int depth)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        var results = new Dictionary<string, IReadOnlyList<RunEntry>>(StringComparer.Ordinal);
        foreach (string q in queryIds) results[q] = Search(queries[q], depth);
        return new TrecRun("bm25", results);
    }

    /// <summary>The <paramref name="depth"/> best documents for <paramref name="query"/> (none when no query term is in the corpus).</summary>
    public IReadOnlyList<RunEntry> Search(string query, int depth)
    {
        var bq = new BooleanQuery();
        var terms = Terms(query);
        if (terms.Count == 0) return [];
        if (terms.Count > BooleanQuery.MaxClauseCount) BooleanQuery.MaxClauseCount = terms.Count;
        // Each occurrence is a clause (a repeated query word weighs more, as with Lucene's query parser).
        foreach (string t in terms) bq.Add(new TermQuery(new Term(ContentField, t)), Occur.SHOULD);
        var top = _searcher.Search(bq, depth);
        var list = new List<RunEntry>(top.ScoreDocs.Length);
        foreach (var sd in top.ScoreDocs) list.Add(new RunEntry(_searcher.Doc(sd.Doc).Get(IdField), sd.Score));
        return list;
    }

    private List<string> Terms(string text)
    {
        var terms = new List<string>();
        using var stream = _analyzer.GetTokenStream(ContentField, new StringReader(text));
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken()) terms.Add(term.ToString());
        stream.End();
        return terms;
    }

    private static void Build(LuceneDirectory dir, EvalDataset dataset, Bm25Parameters parameters, IProgress<double>? progress)
    {
        using var analyzer = new EnglishAnalyzer(Version);
        var config = new IndexWriterConfig(Version, analyzer)
        {
            OpenMode = OpenMode.CREATE,
            Similarity = new BM25Similarity(parameters.K1, parameters.B),
            RAMBufferSizeMB = 256,
        };
        using var writer = new IndexWriter(dir, config);
        int done = 0, total = dataset.Corpus.Count;
        // Ordinal order of ids: the same index (and the same tie order) whatever order the corpus file has.
        foreach (var doc in dataset.Corpus.Values.OrderBy(d => d.Id, StringComparer.Ordinal))
        {
            writer.AddDocument(new Document
            {
                new StringField(IdField, doc.Id, Field.Store.YES),
                new TextField(ContentField, doc.Title.Length > 0 ? doc.Title + " " + doc.Text : doc.Text, Field.Store.NO),
            });
            if (++done % 5000 == 0) progress?.Report((double)done / total);
        }
        writer.Commit();
        progress?.Report(1);
    }

    private static string CacheKey(EvalDataset dataset, Bm25Parameters parameters)
    {
        var info = new FileInfo(dataset.CorpusPath);
        return JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["corpus"] = info.FullName,
            ["bytes"] = info.Length.ToString(CultureInfo.InvariantCulture),
            ["modified"] = info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture),
            ["documents"] = dataset.Corpus.Count.ToString(CultureInfo.InvariantCulture),
            ["k1"] = parameters.K1.ToString("R", CultureInfo.InvariantCulture),
            ["b"] = parameters.B.ToString("R", CultureInfo.InvariantCulture),
            ["analyzer"] = "lucene-4.8-english",
        });
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _analyzer.Dispose();
        _reader.Dispose();
        _directory.Dispose();
    }
}
