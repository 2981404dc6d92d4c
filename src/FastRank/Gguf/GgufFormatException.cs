namespace FastRank.Gguf;

/// <summary>
/// A GGUF file failed validation. <see cref="Offset"/> is the byte offset where the problem was found.
/// <see cref="GgufModelException"/>, a subtype, reports a well-formed file whose contents llama.cpp would abort on.
/// </summary>
public class GgufFormatException : FastRankException
{
    /// <summary>Creates the exception.</summary>
    public GgufFormatException(string problem, long offset, string? path = null)
        : base($"{(path is null ? "GGUF" : $"GGUF file '{path}'")}: {problem} (at byte offset {offset})")
    {
        Problem = problem;
        Offset = offset;
        FilePath = path;
    }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }

    /// <summary>Byte offset in the file where the problem was detected.</summary>
    public long Offset { get; }

    /// <summary>The file, when known.</summary>
    public string? FilePath { get; }
}
