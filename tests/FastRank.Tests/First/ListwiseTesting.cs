using FastRank.Ranking;

namespace FastRank.Tests.First;

internal static class ListwiseTesting
{
    /// <summary>
    /// Options for the listwise tests. One llama.cpp thread: on the shared two-core machine its spinning
    /// thread pool slows down many times over when other processes hold the cores, and one thread computes
    /// the same logits (threads split rows, not the sums inside a row).
    /// </summary>
    public static RerankerOptions Options(RerankMethod method = RerankMethod.First, FirstOptions? first = null) =>
        new() { Method = method, First = first ?? new FirstOptions(), Threads = 1 };
}
