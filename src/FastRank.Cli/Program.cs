namespace FastRank.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.WriteLine($"fastrank {FastRankInfo.Version} ({args.Length} args)");
        return 0;
    }
}
