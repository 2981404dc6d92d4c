using System.Globalization;
using System.Text.Json;
using FastRank.Engine;
using FastRank.Synthetic;

namespace FastRank.Tests.Evaluation;

/// <summary>
/// A generated BEIR dataset whose answer is known: each query is three rare words (single tokens of the synthetic
/// vocabulary, none among the filler's 2000 most frequent words); its one relevant document is filler text with
/// those words inside; its other candidates are filler without them. The "noisy first stage" run lists each query's
/// candidates (one relevant, the rest not) in a seeded random order, so a first stage that knows nothing puts the
/// relevant document at a random rank (expected nDCG@10 = (1/20) sum_{r=1..10} 1/log2(r+1) = 0.227 with 20 candidates).
/// </summary>
internal sealed class KnownAnswerDataset
{
    private KnownAnswerDataset(string directory, string noisyRun, IReadOnlyDictionary<string, string> relevant)
    {
        Directory = directory;
        NoisyRun = noisyRun;
        Relevant = relevant;
    }

    /// <summary>The BEIR directory.</summary>
    public string Directory { get; }

    /// <summary>The noisy first stage (TREC run).</summary>
    public string NoisyRun { get; }

    /// <summary>Each query's relevant document.</summary>
    public IReadOnlyDictionary<string, string> Relevant { get; }

    /// <summary>The expected nDCG@10 of a ranking that places the one relevant document uniformly at random among <paramref name="candidates"/>.</summary>
    public static double ChanceNdcg10(int candidates) => Enumerable.Range(1, Math.Min(10, candidates)).Sum(r => 1 / Math.Log2(r + 1)) / candidates;

    /// <summary>Writes the dataset for <paramref name="queries"/> queries of <paramref name="candidates"/> candidates each.</summary>
    public static KnownAnswerDataset Create(string modelPath, int queries, int candidates, int seed = 3)
    {
        string dir = TestModels.TempPath("known-answer");
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "qrels"));
        var rare = RareWords(modelPath, queries * 3);
        var random = new Random(seed);
        var corpus = new List<string>();
        var queryLines = new List<string>();
        var qrels = new List<string> { "query-id\tcorpus-id\tscore" };
        var run = new List<string>();
        var relevant = new Dictionary<string, string>(StringComparer.Ordinal);
        int docId = 0;
        for (int q = 0; q < queries; q++)
        {
            string qid = $"q{q:D2}";
            string[] words = rare[(3 * q)..(3 * q + 3)];
            queryLines.Add(JsonSerializer.Serialize(new Dictionary<string, string> { ["_id"] = qid, ["text"] = string.Join(' ', words) }));
            var ids = new List<string>();
            for (int c = 0; c < candidates; c++)
            {
                string id = $"doc{docId++:D4}";
                string text = SyntheticText.Sentence(random, 30, vocabulary: 2000);
                if (c == 0)
                {
                    var filler = text.Split(' ');
                    text = string.Join(' ', filler[..10]) + " " + string.Join(' ', words) + " " + string.Join(' ', filler[10..]);
                    relevant[qid] = id;
                    qrels.Add($"{qid}\t{id}\t1");
                }
                else if (c < 4)
                {
                    qrels.Add($"{qid}\t{id}\t0"); // some judged non-relevant documents, as real qrels have
                }
                corpus.Add(JsonSerializer.Serialize(new Dictionary<string, string> { ["_id"] = id, ["title"] = "", ["text"] = text }));
                ids.Add(id);
            }
            // Random order, descending scores: the relevant document lands at a random rank.
            var order = ids.OrderBy(_ => random.Next()).ToList();
            for (int r = 0; r < order.Count; r++) run.Add(string.Create(CultureInfo.InvariantCulture, $"{qid} Q0 {order[r]} {r + 1} {order.Count - r} noisy"));
        }
        File.WriteAllLines(Path.Combine(dir, "corpus.jsonl"), corpus);
        File.WriteAllLines(Path.Combine(dir, "queries.jsonl"), queryLines);
        File.WriteAllLines(Path.Combine(dir, "qrels", "test.tsv"), qrels);
        string runPath = Path.Combine(dir, "noisy.trec");
        File.WriteAllLines(runPath, run);
        return new KnownAnswerDataset(dir, runPath, relevant);
    }

    /// <summary>Words ranked 9,000 and beyond in the frequency list that are single tokens of the model (with a leading space).</summary>
    private static string[] RareWords(string modelPath, int count)
    {
        using var model = LlamaModel.Load(modelPath);
        var words = SyntheticText.Words;
        var chosen = new List<string>(count);
        for (int i = 9000; i < words.Count && chosen.Count < count; i += 7)
        {
            string w = words[i];
            if (w.Length >= 5 && w.All(char.IsAsciiLetterLower) && model.TokenizeText(" " + w).Length == 1) chosen.Add(w);
        }
        if (chosen.Count < count) throw new InvalidOperationException($"only {chosen.Count} rare single-token words");
        return [.. chosen];
    }
}
