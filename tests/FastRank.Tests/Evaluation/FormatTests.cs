using FastRank.Evaluation.Datasets;
using FastRank.Evaluation.Formats;

namespace FastRank.Tests.Evaluation;

/// <summary>Reading and writing the TREC and BEIR files; every malformed input is an <see cref="EvalFormatException"/> with file, line and what was expected.</summary>
public sealed class FormatTests
{
    private static string Write(string name, string text)
    {
        string path = TestModels.TempPath(name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("q1 Q0 d1 1 0.5\n", 1, "6 fields")]
    [InlineData("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 high t\n", 2, "number in the score column")]
    [InlineData("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 NaN t\n", 2, "number in the score column")]
    [InlineData("q1 Q0 d1 1 0.5 t\n\nq1 Q0 d1 2 0.4 t\n", 3, "listed twice for query 'q1' (first on line 1)")]
    [InlineData("\n\n", 0, "empty run")]
    public void BadRunsNameFileLineAndExpectation(string text, int line, string message)
    {
        string path = Write("bad.trec", text);
        var ex = Assert.Throws<EvalFormatException>(() => TrecRun.Read(path));
        Assert.Equal(path, ex.File);
        Assert.Equal(line, ex.Line);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        if (line > 0) Assert.StartsWith($"{path}:{line}: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDuplicateFixtureIsRefusedAsTrecEvalRefusesIt()
    {
        var ex = Assert.Throws<EvalFormatException>(() => TrecRun.Read(EvalFixtures.Trec("run-duplicate.trec")));
        Assert.Equal(3, ex.Line);
        Assert.Contains("'d01'", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("q1 0\n", 1, "found 2 field(s)")]
    [InlineData("q1 0 d1 1 extra\n", 1, "found 5 field(s)")]
    [InlineData("q1 0 d1 1\nq1 0 d2\n", 2, "expected 4 fields")]
    [InlineData("q1 0 d1 yes\n", 1, "integer relevance")]
    [InlineData("q1 0 d1 1\nq1 0 d1 2\n", 2, "judged twice")]
    [InlineData("query-id\tcorpus-id\tscore\nq1\td1\t1.5\n", 2, "integer relevance")]
    public void BadQrelsNameFileLineAndExpectation(string text, int line, string message)
    {
        string path = Write("bad.qrels", text);
        var ex = Assert.Throws<EvalFormatException>(() => Qrels.Read(path));
        Assert.Equal(line, ex.Line);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RunsRoundTripExactlyInTrecEvalOrder()
    {
        var run = TrecRun.Read(EvalFixtures.Trec("run-a.trec"));
        string path = TestModels.TempPath("copy.trec");
        run.Write(path);
        var back = TrecRun.Read(path);
        Assert.Equal(run.QueryIds, back.QueryIds);
        foreach (string q in run.QueryIds) Assert.Equal(run.Ranked(q), back.Ranked(q));
        // Written ranks follow trec_eval's order, from 1.
        var first = File.ReadLines(path).First().Split(' ');
        Assert.Equal("1", first[3]);
        Assert.Equal("run-a", first[5]);
    }

    [Fact]
    public void BeirAndTrecQrelsReadTheSame()
    {
        var trec = Qrels.Read(EvalFixtures.Trec("qrels.txt"));
        var beir = Qrels.Read(EvalFixtures.Trec("qrels-beir.tsv"));
        Assert.Equal(trec.QueryIds, beir.QueryIds);
        foreach (string q in trec.QueryIds) Assert.Equal(trec.For(q)!.OrderBy(x => x.Key), beir.For(q)!.OrderBy(x => x.Key));
    }

    [Fact]
    public void BeirDirectoryErrorsNameTheFile()
    {
        string dir = TestModels.TempPath("beir");
        Directory.CreateDirectory(Path.Combine(dir, "qrels"));
        File.WriteAllText(Path.Combine(dir, "corpus.jsonl"), "{\"_id\": \"d1\", \"title\": \"\", \"text\": \"x\"}\n{\"_id\": \"d2\", \"text\": 5}\n");
        File.WriteAllText(Path.Combine(dir, "queries.jsonl"), "{\"_id\": \"q1\", \"text\": \"x\"}\n");
        File.WriteAllText(Path.Combine(dir, "qrels", "dev.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
        var missing = Assert.Throws<EvalFormatException>(() => EvalDataset.LoadBeir(dir));
        Assert.Contains("no qrels for split 'test' (splits here: dev)", missing.Message, StringComparison.Ordinal);
        var bad = Assert.Throws<EvalFormatException>(() => EvalDataset.LoadBeir(dir, "dev"));
        Assert.EndsWith("corpus.jsonl", bad.File, StringComparison.Ordinal);
        Assert.Equal(2, bad.Line);
        Assert.Contains("\"text\" to be a string", bad.Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "corpus.jsonl"), "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"x\"}\nnot json\n");
        var json = Assert.Throws<EvalFormatException>(() => EvalDataset.LoadBeir(dir, "dev"));
        Assert.Equal(2, json.Line);
        File.WriteAllText(Path.Combine(dir, "corpus.jsonl"), "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"x\"}\n");
        var data = EvalDataset.LoadBeir(dir, "dev");
        Assert.Equal("T\nx", data.Corpus["d1"].Content);
        Assert.Equal(["q1"], data.EvaluationQueries());
    }

    [Fact]
    public void TsvCorpusAndTopicsAreRead()
    {
        string corpus = Write("c.tsv", "d1\tfirst text\nd2\tA title\tsecond text\n");
        string topics = Write("t.tsv", "1\twhat is first\n2\tsecond?\n");
        string qrels = Write("q.txt", "1 0 d1 1\n2 0 d2 1\n");
        var data = EvalDataset.LoadFiles(corpus, topics, qrels);
        Assert.Equal("first text", data.Corpus["d1"].Content);
        Assert.Equal("A title\nsecond text", data.Corpus["d2"].Content);
        Assert.Equal("second?", data.Queries["2"]);
        var ex = Assert.Throws<EvalFormatException>(() => EvalDataset.ReadQueries(Write("t2.tsv", "1\tok\nno tab here\n")));
        Assert.Equal(2, ex.Line);
        Assert.Contains("qid<TAB>query text", ex.Message, StringComparison.Ordinal);
    }
}
