using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FastRank.Cli.Commands;

namespace FastRank.Cli.Bench;

/// <summary>
/// The options of <c>fastrank bench --soak</c> (<see cref="SoakBench"/>), added to the bench command:
/// <c>--soak [--calls N] [--server-calls N] [--callers 8] [--minutes M] [--cancel-share 0.1] [--hostile-share 0.1] [--seed S] [--report DIR]</c>.
/// </summary>
internal sealed class SoakCommandOptions
{
    public Option<bool> Soak { get; } = new("--soak") { Description = "Soak: concurrent callers, mixed methods and sizes, random cancellations and hostile text, through the library and the server; RSS, threads and handles over time (default model: synthetic tiny)" };

    private readonly Option<int> _calls = new("--calls") { Description = "--soak: library calls", DefaultValueFactory = _ => 10_000 };
    private readonly Option<int?> _serverCalls = new("--server-calls") { Description = "--soak: calls through fastrank serve on loopback (default: a fifth of --calls; 0: none)" };
    private readonly Option<int> _callers = new("--callers") { Description = "--soak: concurrent callers", DefaultValueFactory = _ => 8 };
    private readonly Option<double?> _minutes = new("--minutes") { Description = "--soak: time limit of each phase in minutes (the calls stop at the count or the limit)" };
    private readonly Option<double> _cancelShare = new("--cancel-share") { Description = "--soak: share of calls cancelled at a random point", DefaultValueFactory = _ => 0.1 };
    private readonly Option<double> _hostileShare = new("--hostile-share") { Description = "--soak: share of calls with hostile text", DefaultValueFactory = _ => 0.1 };
    private readonly Option<int> _seed = new("--seed") { Description = "--soak: seed of every random choice", DefaultValueFactory = _ => 15 };

    public static SoakCommandOptions Create() => new();

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Soak);
        cmd.Options.Add(_calls);
        cmd.Options.Add(_serverCalls);
        cmd.Options.Add(_callers);
        cmd.Options.Add(_minutes);
        cmd.Options.Add(_cancelShare);
        cmd.Options.Add(_hostileShare);
        cmd.Options.Add(_seed);
    }

    /// <summary>Runs the soak; exit code 0 when every check held, 1 otherwise (the report says which).</summary>
    public int Run(ParseResult parse, CliOutput output, string path, string label, int threads, string? reportDir, bool asJson)
    {
        int calls = parse.GetValue(_calls), callers = parse.GetValue(_callers);
        int serverCalls = parse.GetValue(_serverCalls) ?? calls / 5;
        double cancel = parse.GetValue(_cancelShare), hostile = parse.GetValue(_hostileShare);
        if (calls < 1 || serverCalls < 0 || callers < 1 || callers > 256) throw new UsageException("--calls must be at least 1, --server-calls at least 0, --callers in 1..256");
        if (cancel is < 0 or > 1 || hostile is < 0 or > 1) throw new UsageException("--cancel-share and --hostile-share must be in 0..1");
        if (parse.GetValue(_minutes) is <= 0) throw new UsageException("--minutes must be positive");
        var options = new SoakOptions(path, label)
        {
            Calls = calls,
            ServerCalls = serverCalls,
            Callers = callers,
            Minutes = parse.GetValue(_minutes),
            CancelShare = cancel,
            HostileShare = hostile,
            Seed = parse.GetValue(_seed),
            Threads = threads > 0 ? threads : 2,
            Progress = asJson ? null : line => output.Error.WriteLine(line),
        };
        string command = "fastrank " + string.Join(' ', parse.Tokens.Select(t => t.Value));
        var report = SoakBench.RunAsync(options, command, CancellationToken.None).GetAwaiter().GetResult();
        if (reportDir is not null)
        {
            SoakReportWriter.WriteFolder(reportDir, report);
            if (!asJson) output.Error.WriteLine($"wrote {Path.Combine(reportDir, "README.md")}");
        }
        if (asJson) output.Out.WriteLine(JsonSerializer.Serialize(report, BenchCommand.ReportJson));
        else output.Out.Write(SoakReportWriter.Markdown(report, charts: false));
        bool held = report.Errors == 0 && report.Phases.All(p => p.RssGrowth < 0.05);
        output.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"soak: {report.Phases.Sum(p => p.Calls)} calls, {report.Errors} errors; {(held ? "every check held" : "a check was missed")}"));
        return held ? ExitCodes.Success : ExitCodes.Failure;
    }
}
