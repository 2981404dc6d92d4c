using System.CommandLine;
using System.CommandLine.Parsing;
using FastRank.Ranking;

namespace FastRank.Cli.Commands;

/// <summary>The <c>--score-head auto|rank|lm</c> option of rerank and bench.</summary>
internal static class ScoreHeadOption
{
    public static Option<ScoreHead> Create(string name = "--score-head", string? description = null) => new(name)
    {
        Description = description ?? "Pointwise scores from: auto (the model's yes/no rank head when it has one, as llama.cpp's reranker; else the LM head), rank, lm",
        DefaultValueFactory = _ => ScoreHead.Auto,
        CustomParser = Parse,
    };

    /// <summary>auto, rank or lm (any case).</summary>
    public static ScoreHead Parse(ArgumentResult result)
    {
        if (result.Tokens.Count == 0) return ScoreHead.Auto;
        string text = result.Tokens[^1].Value;
        if (TryParse(text, out var head)) return head;
        result.AddError($"unknown score head '{text}'; known: auto, rank, lm");
        return default;
    }

    public static bool TryParse(string text, out ScoreHead head) => Enum.TryParse(text, ignoreCase: true, out head) && Enum.IsDefined(head) && !int.TryParse(text, out _);

    public static string Name(ScoreHead head) => head.ToString().ToLowerInvariant();
}
