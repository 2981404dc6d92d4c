namespace FastRank;

/// <summary>Version information about the FastRank library.</summary>
public static class FastRankInfo
{
    /// <summary>The library's informational version.</summary>
    public static string Version { get; } =
        typeof(FastRankInfo).Assembly.GetName().Version?.ToString() ?? "0.0.0";
}
