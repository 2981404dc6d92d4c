namespace FastRank.Tests;

/// <summary>
/// Runs the fastrank command line in this process, as <c>fastrank ARGS</c> would run, with its standard output and error
/// captured: the CLI tests' one way to call it (<c>using static FastRank.Tests.InProcessCli;</c>, then <c>Run(...)</c>).
/// </summary>
public static class InProcessCli
{
    /// <summary>The exit code and everything written to standard output and standard error.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = FastRank.Cli.Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
