using FastRank.Evaluation.Datasets;
using FastRank.Evaluation.FirstStage;
using FastRank.Evaluation.Metrics;

namespace FastRank.Tests.Evaluation;

/// <summary>The Lucene.Net BM25 first stage: ranking, stemming, and the index built once and cached beside the dataset.</summary>
public sealed class Bm25Tests
{
    private static EvalDataset Small(out string dir)
    {
        dir = TestModels.TempPath("bm25");
        Directory.CreateDirectory(Path.Combine(dir, "qrels"));
        File.WriteAllLines(Path.Combine(dir, "corpus.jsonl"),
        [
            """{"_id": "a", "title": "Running shoes", "text": "Shoes for runners who run marathons."}""",
            """{"_id": "b", "title": "", "text": "A recipe for bread with flour, water and salt."}""",
            """{"_id": "c", "title": "Marathon", "text": "The marathon is a long-distance race; runners run 42 km."}""",
            """{"_id": "d", "title": "", "text": "Water polo is played in a pool."}""",
        ]);
        File.WriteAllLines(Path.Combine(dir, "queries.jsonl"), ["""{"_id": "1", "text": "marathon runner"}""", """{"_id": "2", "text": "the of and"}"""]);
        File.WriteAllLines(Path.Combine(dir, "qrels", "test.tsv"), ["query-id\tcorpus-id\tscore", "1\tc\t2", "1\ta\t1", "2\tb\t1"]);
        return EvalDataset.LoadBeir(dir);
    }

    [Fact]
    public void RanksByBm25WithStemmingAndStopWords()
    {
        var data = Small(out _);
        using var index = Bm25Index.OpenOrBuild(data);
        Assert.Equal(4, index.Count);
        var hits = index.Search("marathon runner", 10);
        // "runner" matches "runners" (Porter stemming); c has marathon twice (title and text) and runners.
        Assert.Equal(["c", "a"], hits.Select(h => h.DocId));
        Assert.True(hits[0].Score > hits[1].Score);
        Assert.Empty(index.Search("the of and", 10)); // stop words only: no terms, no results
        var run = index.Search(data.Queries, data.EvaluationQueries(), 10);
        var eval = RetrievalEvaluator.Evaluate(run, data.Qrels, [MetricSpec.Parse("ndcg@10")], complete: true);
        Assert.Equal(1.0, eval.PerQuery[0].Values[0], 12);
        Assert.Equal(0.0, eval.PerQuery[1].Values[0], 12);
    }

    [Fact]
    public void TheIndexIsBuiltOnceAndRebuiltWhenTheCorpusChanges()
    {
        var data = Small(out string dir);
        using (var first = Bm25Index.OpenOrBuild(data))
        {
            Assert.True(first.Built);
            Assert.Equal(Path.Combine(dir, ".fastrank", "bm25"), first.Path);
        }
        using (var again = Bm25Index.OpenOrBuild(EvalDataset.LoadBeir(dir)))
        {
            Assert.False(again.Built);
            Assert.Equal(["c", "a"], again.Search("marathon runner", 10).Select(h => h.DocId));
        }
        File.AppendAllLines(Path.Combine(dir, "corpus.jsonl"), ["""{"_id": "e", "title": "", "text": "marathon marathon marathon runner runner"}"""]);
        using var rebuilt = Bm25Index.OpenOrBuild(EvalDataset.LoadBeir(dir));
        Assert.True(rebuilt.Built);
        Assert.Equal(5, rebuilt.Count);
        Assert.Equal("e", rebuilt.Search("marathon runner", 10)[0].DocId);
    }

    [Fact]
    public void OnTheKnownAnswerDatasetBm25FindsEveryRareWordDocument()
    {
        var known = KnownAnswerDataset.Create(TestModels.Get("match", "f32"), queries: 6, candidates: 10);
        var data = EvalDataset.LoadBeir(known.Directory);
        using var index = Bm25Index.OpenOrBuild(data);
        foreach (string q in data.EvaluationQueries()) Assert.Equal(known.Relevant[q], index.Search(data.Queries[q], 5)[0].DocId);
    }
}
