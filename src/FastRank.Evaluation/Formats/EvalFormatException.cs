namespace FastRank.Evaluation.Formats;

/// <summary>An evaluation input (run, qrels, topics, corpus) that is not what its format says: the file, the line and what was expected.</summary>
public sealed class EvalFormatException : FastRankException
{
    /// <summary>Creates the error for <paramref name="file"/> at <paramref name="line"/> (1-based; 0: the whole file).</summary>
    public EvalFormatException(string file, int line, string message)
        : base(line > 0 ? $"{file}:{line}: {message}" : $"{file}: {message}")
    {
        File = file;
        Line = line;
        Reason = message;
    }

    /// <summary>The file.</summary>
    public string File { get; }

    /// <summary>The 1-based line; 0 when the error is about the whole file.</summary>
    public int Line { get; }

    /// <summary>What was wrong, without the location.</summary>
    public string Reason { get; }
}

/// <summary>Line reading shared by the text formats: whitespace fields, blank lines skipped.</summary>
internal static class TextLines
{
    /// <summary>The lines of <paramref name="path"/> with their 1-based numbers, blank lines skipped.</summary>
    public static IEnumerable<(int Number, string Text)> Read(string path)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"no such file: {path}", path);
        int n = 0;
        foreach (string line in System.IO.File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            yield return (n, line);
        }
    }

    /// <summary>Fields separated by any run of whitespace, as trec_eval reads them.</summary>
    public static string[] Fields(string line) => line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}
