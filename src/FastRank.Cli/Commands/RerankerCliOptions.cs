using System.CommandLine;
using FastRank.Ranking;
using Microsoft.Extensions.Logging;

namespace FastRank.Cli.Commands;

/// <summary>
/// The reranker options that rerank, eval and prompt share (the pointwise prompt, the document budget, the engine's
/// threads, sequences and GPU layers, the score head, the <c>--icr-*</c> and listwise options), declared once and read
/// into a <see cref="RerankerOptions"/>. Each command keeps its own <c>--method</c> (one method, or several for eval).
/// </summary>
internal sealed class RerankerCliOptions
{
    private readonly Option<string?> _instruction = new("--instruction") { Description = "Pointwise instruction" };

    private readonly Option<string?> _template = new("--template") { Description = "Pointwise prompt template with {query}, {document} (and {instruction})" };

    private readonly Option<int> _maxDocTokens = new("--max-doc-tokens")
    {
        Description = "Per-document token budget (longer documents are truncated)",
        DefaultValueFactory = _ => 512,
    };

    private readonly Option<int> _threads = new("--threads") { Description = "CPU threads (0: all cores)" };

    private readonly Option<int> _parallel = new("--parallel") { Description = "Documents decoded together (0: automatic)" };

    private readonly Option<int> _gpuLayers = new("--gpu-layers") { Description = "Layers to offload to a GPU (GPU builds of llama.cpp only)" };

    private readonly Option<ScoreHead> _scoreHead = ScoreHeadOption.Create();

    private readonly IcrCliOptions _icr = IcrCliOptions.Create();

    private readonly FirstCliOptions _first = FirstCliOptions.Create();

    /// <summary>False for prompt, which decodes nothing: no threads, parallel sequences, GPU layers or score head.</summary>
    private readonly bool _engine;

    private RerankerCliOptions(bool engine) => _engine = engine;

    /// <summary>Every option: the commands that rank (rerank, eval).</summary>
    public static RerankerCliOptions Create() => new(engine: true);

    /// <summary>Only the options that shape the prompts (prompt): one sequence, the default threads and score head.</summary>
    public static RerankerCliOptions PromptOnly() => new(engine: false);

    public void AddTo(Command command)
    {
        command.Add(_instruction);
        command.Add(_template);
        command.Add(_maxDocTokens);
        if (_engine)
        {
            command.Add(_threads);
            command.Add(_parallel);
            command.Add(_gpuLayers);
            command.Add(_scoreHead);
        }
        _icr.AddTo(command);
        _first.AddTo(command);
    }

    /// <summary>The options as given, with <paramref name="method"/> as the default method.</summary>
    /// <exception cref="UsageException">A value is out of range.</exception>
    public RerankerOptions Read(ParseResult parse, RerankMethod method, ILoggerFactory? loggerFactory)
    {
        int maxDocTokens = parse.GetValue(_maxDocTokens);
        if (maxDocTokens < 1) throw new UsageException("--max-doc-tokens must be at least 1");
        var options = new RerankerOptions
        {
            Method = method,
            Instruction = parse.GetValue(_instruction),
            PromptTemplate = parse.GetValue(_template),
            MaxDocumentTokens = maxDocTokens,
            Icr = _icr.Read(parse),
            First = _first.Read(parse),
            LoggerFactory = loggerFactory,
        };
        return _engine
            ? options with
            {
                Threads = parse.GetValue(_threads),
                ParallelSequences = parse.GetValue(_parallel),
                GpuLayers = parse.GetValue(_gpuLayers),
                ScoreHead = parse.GetValue(_scoreHead),
            }
            : options with { ParallelSequences = 1 };
    }
}
