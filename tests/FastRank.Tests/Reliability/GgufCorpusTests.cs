using FastRank.Fuzz;

namespace FastRank.Tests.Reliability;

/// <summary>
/// Replays tests/fixtures/gguf-corpus (built by <c>FastRank.Fuzz corpus</c>): each file gets the verdict recorded in
/// expected.tsv from the reader and validator, and none ends the load path in a crash. Files marked <c>crash</c> in the
/// last column killed the process before semantic validation existed.
/// </summary>
public sealed class GgufCorpusTests
{
    private static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "gguf-corpus");

    private static IEnumerable<string[]> Expected() => File.ReadAllLines(Path.Combine(Dir, "expected.tsv"))
        .Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split('\t'));

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var row in Expected()) data.Add(row[0]);
        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void CorpusFileGetsItsRecordedVerdict(string file)
    {
        string expected = Expected().Single(r => r[0] == file)[1];
        Assert.Equal(Corpus.Signature(expected), Corpus.Signature(FuzzTarget.Verdict(File.ReadAllBytes(Path.Combine(Dir, file)))));
    }

    [Fact]
    public void CorpusThroughTheLoadPath_EndsTypedEveryTime()
    {
        var rows = Expected().ToList();
        var verdicts = ProbeRunner.Run([.. rows.Select(r => Path.Combine(Dir, r[0]))], host: typeof(GgufCorpusTests).Assembly);
        var bad = verdicts.Where(v => !GgufProbe.TypedOutcomes.Contains(v.Outcome)).ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad.Select(v => $"{Path.GetFileName(v.Path)}: {v.Outcome} {v.Detail}")));
        Assert.Equal(rows.Select(r => r[2]), verdicts.Select(v => v.Outcome));
        Assert.Contains(rows, r => r[3] == "crash"); // the corpus keeps inputs that crashed the unvalidated path
    }
}
