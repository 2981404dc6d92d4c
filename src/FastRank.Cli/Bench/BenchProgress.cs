using Spectre.Console;

namespace FastRank.Cli.Bench;

/// <summary>
/// Progress of a long bench run on standard error: a Spectre.Console progress bar (points done, the current
/// measurement) when standard error is a terminal, plain lines otherwise (logs, pipes, tests); nothing when quiet.
/// </summary>
internal sealed class BenchProgress
{
    private readonly TextWriter? _plain;
    private readonly bool _terminal;
    private ProgressTask? _task;
    private string _step = "";

    private BenchProgress(TextWriter? plain, bool terminal)
    {
        _plain = plain;
        _terminal = terminal;
    }

    /// <summary>Plain lines to <paramref name="writer"/> (null: silent).</summary>
    public static BenchProgress Plain(TextWriter? writer) => new(writer, false);

    /// <summary>
    /// Runs <paramref name="work"/> with a progress display suited to <paramref name="output"/>: a live bar when its
    /// error stream is the console's and a terminal, plain lines otherwise, nothing when <paramref name="quiet"/>.
    /// </summary>
    public static T Show<T>(CliOutput output, bool quiet, Func<BenchProgress, T> work)
    {
        if (quiet) return work(Plain(null));
        bool terminal = ReferenceEquals(output.Error, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal) return work(Plain(output.Error));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        var progress = new BenchProgress(null, true);
        console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                progress._task = ctx.AddTask("bench", maxValue: 1);
                result = work(progress);
            });
        return result;
    }

    /// <summary>The run has <paramref name="steps"/> steps (points and target benchmarks).</summary>
    public void Begin(int steps)
    {
        if (_task is not null) _task.MaxValue = Math.Max(1, steps);
        _plain?.WriteLine($"bench: {steps} steps");
    }

    /// <summary>A step begins.</summary>
    public void Step(string what)
    {
        if (_task is not null)
        {
            if (_step.Length > 0) _task.Increment(1);
            _step = what;
            _task.Description = Markup.Escape(what);
        }
        else
        {
            _plain?.WriteLine($"== {what}");
        }
    }

    /// <summary>A measurement within the current step.</summary>
    public void Line(string line)
    {
        if (_task is not null)
        {
            string text = line.Length > 90 ? line[..87] + "..." : line;
            _task.Description = Markup.Escape($"{_step}: {text}");
        }
        else
        {
            _plain?.WriteLine(line);
        }
    }

    /// <summary>Every step is done.</summary>
    public void End()
    {
        if (_task is null) return;
        _task.Value = _task.MaxValue;
        _task.Description = "done";
        _task.StopTask();
    }

    /// <summary>Whether the display is a live terminal bar.</summary>
    public bool IsTerminal => _terminal;
}
