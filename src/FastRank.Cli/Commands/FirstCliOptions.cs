using System.CommandLine;
using System.CommandLine.Parsing;
using FastRank.Ranking;

namespace FastRank.Cli.Commands;

/// <summary>The listwise options of the rerank command (FIRST, listwise-generate), read into a <see cref="FirstOptions"/>.</summary>
internal sealed class FirstCliOptions
{
    private readonly Option<int> _window = new("--window") { Description = "Listwise: passages per window", DefaultValueFactory = _ => 20 };

    private readonly Option<int> _stride = new("--stride") { Description = "Listwise: window stride", DefaultValueFactory = _ => 10 };

    private readonly Option<ListwiseIdentifiers> _identifiers = new("--identifiers")
    {
        Description = "Listwise: passage identifiers (letters, numbers)",
        DefaultValueFactory = _ => ListwiseIdentifiers.Letters,
    };

    private readonly Option<int> _passageTokens = new("--passage-tokens") { Description = "Listwise: per-passage token budget", DefaultValueFactory = _ => 400 };

    private readonly Option<string?> _chatLayout = new("--chat-layout")
    {
        Description = "Listwise: chat layout (auto, chatml, qwen3, llama3, mistral, zephyr, or a layout with {system} and {user})",
    };

    private FirstCliOptions()
    {
    }

    public static FirstCliOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Add(_window);
        command.Add(_stride);
        command.Add(_identifiers);
        command.Add(_passageTokens);
        command.Add(_chatLayout);
    }

    /// <exception cref="UsageException">A value is out of range or the layout is not one.</exception>
    public FirstOptions Read(ParseResult parse)
    {
        var options = new FirstOptions
        {
            WindowSize = parse.GetValue(_window),
            Stride = parse.GetValue(_stride),
            Identifiers = parse.GetValue(_identifiers),
            MaxPassageTokens = parse.GetValue(_passageTokens),
            ChatLayout = parse.GetValue(_chatLayout),
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"listwise options: {ex.Message}");
        }
        return options;
    }
}

/// <summary>Method names on the command line (see <see cref="RerankMethodNames"/>).</summary>
internal static class MethodNames
{
    public static RerankMethod Parse(ArgumentResult result)
    {
        if (result.Tokens.Count == 0) return RerankMethod.Pointwise;
        string text = result.Tokens[^1].Value;
        if (RerankMethodNames.TryParse(text, out var method)) return method;
        result.AddError($"unknown method '{text}'; known: {string.Join(", ", Enum.GetValues<RerankMethod>().Select(RerankMethodNames.Name))}");
        return default;
    }

    public static string Name(RerankMethod method) => RerankMethodNames.Name(method);
}
