using System.CommandLine;
using FastRank.Ranking;

namespace FastRank.Cli.Commands;

/// <summary>The ICR options of the rerank command (<c>--icr-*</c>), read into an <see cref="IcrOptions"/>.</summary>
internal sealed class IcrCliOptions
{
    private readonly Option<IcrCalibration> _calibration = new("--icr-calibration")
    {
        Description = "ICR scoring: masked (N/A calibration, low outliers dropped), unmasked, none",
        DefaultValueFactory = _ => IcrCalibration.Masked,
    };

    private readonly Option<bool> _inputOrder = new("--icr-input-order")
    {
        Description = "Keep the documents in input order (default: reversed, the first input document nearest the query)",
    };

    private readonly Option<string?> _lateInstruction = new("--icr-late-instruction")
    {
        Description = "Instruction between the documents and the query (default: the paper's retrieval instruction; 'qa' for its question-answering one)",
    };

    private readonly Option<IcrPromptLayout> _layout = new("--icr-layout")
    {
        Description = "Chat layout of the prompt: auto (from the model's template), mistral, llama3, chatml, plain",
        DefaultValueFactory = _ => IcrPromptLayout.Auto,
    };

    private readonly Option<int> _maxContext = new("--icr-max-context")
    {
        Description = "Longest ICR prompt in tokens; longer lists are split into chunks that each carry the query",
        DefaultValueFactory = _ => 8192,
    };

    private readonly Option<int> _perChunk = new("--icr-docs-per-chunk")
    {
        Description = "Most documents in one ICR prompt (0: as many as fit)",
    };

    private readonly Option<bool> _separate = new("--icr-separate-calibration")
    {
        Description = "Decode the calibration query after the real one in the same sequence (no KV copy) instead of beside it",
    };

    private IcrCliOptions()
    {
    }

    public static IcrCliOptions Create() => new();

    public void AddTo(Command command)
    {
        command.Add(_calibration);
        command.Add(_inputOrder);
        command.Add(_lateInstruction);
        command.Add(_layout);
        command.Add(_maxContext);
        command.Add(_perChunk);
        command.Add(_separate);
    }

    /// <exception cref="UsageException">A value is out of range.</exception>
    public IcrOptions Read(ParseResult parse)
    {
        int maxContext = parse.GetValue(_maxContext);
        if (maxContext < 256) throw new UsageException("--icr-max-context must be at least 256");
        int perChunk = parse.GetValue(_perChunk);
        if (perChunk < 0) throw new UsageException("--icr-docs-per-chunk must not be negative");
        string? late = parse.GetValue(_lateInstruction);
        return new IcrOptions
        {
            Calibration = parse.GetValue(_calibration),
            ReverseOrder = !parse.GetValue(_inputOrder),
            LateInstruction = late is null ? IcrOptions.RetrievalInstruction
                : string.Equals(late, "qa", StringComparison.OrdinalIgnoreCase) ? IcrOptions.QuestionAnsweringInstruction : late,
            Layout = parse.GetValue(_layout),
            MaxContextTokens = maxContext,
            MaxDocumentsPerChunk = perChunk,
            SharedCalibrationBatch = !parse.GetValue(_separate),
        };
    }
}
