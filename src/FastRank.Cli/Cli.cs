using System.CommandLine;
using FastRank.Cli.Commands;
using FastRank.Gguf;

namespace FastRank.Cli;

/// <summary>Exit codes of the fastrank command.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}

/// <summary>A usage error found after parsing (a bad combination of options, an unreadable --docs format).</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Where a command writes; tests run the CLI in-process with their own writers.</summary>
internal sealed record CliOutput(TextWriter Out, TextWriter Error);

/// <summary>The fastrank command line.</summary>
internal static class Cli
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Log progress and print stack traces on errors",
        Recursive = true,
    };

    public static RootCommand Build(CliOutput output)
    {
        var root = new RootCommand("fastrank: rerank documents with a local GGUF model through llama.cpp (pointwise, FIRST, ICR)")
        {
            Verbose,
        };
        root.Add(RerankCommand.Create(output));
        root.Add(SynthCommand.Create(output));
        root.Add(InspectCommand.Create(output));
        root.Add(BenchCommand.Create(output));
        root.Add(ModelsCommand.Create(output));
        root.Add(QuantizeCommand.Create(output));
        root.Add(PromptCommand.Create(output));
        root.Add(TokenizersCommand.Create(output));
        root.Add(ServeCommand.Create(output));
        root.Add(EvalCommand.Create(output));
        return root;
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var output = new CliOutput(stdout, stderr);
        var root = Build(output);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) stderr.WriteLine($"fastrank: {e.Message}");
            stderr.WriteLine("Run 'fastrank --help' for usage.");
            return ExitCodes.Usage;
        }
        bool verbose = parse.GetValue(Verbose);
        try
        {
            var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
            // The server's host handles SIGTERM and Ctrl+C itself: it drains requests in flight, for longer than the 2 s grace.
            if (parse.CommandResult.Command.Name == "serve") invocation.ProcessTerminationTimeout = null;
            return parse.Invoke(invocation);
        }
        catch (Exception ex)
        {
            return Report(ex, stderr, verbose);
        }
    }

    /// <summary>Maps an exception to an exit code and a one-line message (the stack trace only with --verbose).</summary>
    public static int Report(Exception ex, TextWriter stderr, bool verbose)
    {
        if (ex is AggregateException { InnerExceptions.Count: 1 } agg) ex = agg.InnerException!;
        int code = ex is UsageException ? ExitCodes.Usage : ExitCodes.Failure;
        string message = ex switch
        {
            FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
            DirectoryNotFoundException d => $"directory not found: {d.Message}",
            GgufFormatException g => $"invalid model file: {g.Message}",
            OperationCanceledException => "cancelled",
            _ => ex.Message,
        };
        stderr.WriteLine($"fastrank: {message.ReplaceLineEndings(" ")}");
        if (verbose) stderr.WriteLine(ex.ToString());
        return code;
    }
}
