using System.Globalization;

namespace FastRank.Tests.Evaluation;

/// <summary>The committed evaluation fixtures (tests/fixtures/eval) and trec_eval's outputs on them.</summary>
internal static class EvalFixtures
{
    public static string Root { get; } = FindRoot();

    public static string Trec(string name) => Path.Combine(Root, "tests", "fixtures", "eval", "trec", name);

    public static string Expected(string name) => Trec(Path.Combine("expected", name));

    /// <summary>trec_eval's lines (<c>measure qid value</c>) as (measure, qid) to value; non-numeric values (runid) left out.</summary>
    public static Dictionary<(string Measure, string Query), double> ReadTrecEval(string path)
    {
        var values = new Dictionary<(string, string), double>();
        foreach (string line in File.ReadLines(path))
        {
            string[] f = line.Split('\t');
            if (f.Length != 3) continue;
            if (double.TryParse(f[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) values[(f[0].Trim(), f[1].Trim())] = v;
        }
        return values;
    }

    private static string FindRoot()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "FastRank.sln"))) root = Path.GetDirectoryName(root);
        return root ?? throw new InvalidOperationException("repository root (FastRank.sln) not found above " + AppContext.BaseDirectory);
    }
}
