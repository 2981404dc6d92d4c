namespace FastRank.Ranking;

/// <summary>
/// Ranks the items of one window: <paramref name="items"/> are input indices in their current order
/// (the first gets the first identifier); on return <paramref name="permutation"/>[k] is the position
/// in <paramref name="items"/> of the k-th best item (a permutation of 0..items.Length-1).
/// </summary>
internal delegate void WindowRanker(int window, ReadOnlySpan<int> items, Span<int> permutation);

/// <summary>
/// The sliding window of listwise reranking, independent of any model. Windows of <c>w</c> items move
/// from the bottom of the list to the top in steps of <c>s</c>: for 100 items, w = 20 and s = 10 they
/// are [80,100), [70,90), ..., [0,20), each ranked on the order the previous one left, so a relevant
/// item near the bottom can climb to the top in one pass. The last window is the first that reaches
/// position 0; the reference implementation's loop goes on with windows already inside that one
/// (for 21 items it ranks [1,21), [0,11), then [0,1)), which costs a forward pass each and is left out.
/// </summary>
internal static class ListwiseWindows
{
    /// <summary>The windows as [Start, End) ranges of list positions, in the order they are ranked.</summary>
    public static List<(int Start, int End)> Plan(int count, int window, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        if (stride < 1 || stride > window) throw new ArgumentOutOfRangeException(nameof(stride), stride, $"must be in 1..{window}");
        var plan = new List<(int, int)>();
        if (count == 0) return plan;
        int end = count;
        while (true)
        {
            int start = Math.Max(0, end - window);
            plan.Add((start, end));
            if (start == 0) break;
            end -= stride;
        }
        return plan;
    }

    /// <summary>
    /// Runs the windows over the list 0..<paramref name="count"/>-1 (input order) and returns the final
    /// order (input indices, best first). <paramref name="rank"/> is called once per window, in order.
    /// </summary>
    /// <exception cref="InvalidOperationException">The ranker returned something that is not a permutation.</exception>
    public static int[] Run(int count, int window, int stride, WindowRanker rank)
    {
        ArgumentNullException.ThrowIfNull(rank);
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        var plan = Plan(count, window, stride);
        var items = new int[Math.Min(window, count)];
        var perm = new int[items.Length];
        var seen = new bool[items.Length];
        for (int w = 0; w < plan.Count; w++)
        {
            var (start, end) = plan[w];
            int n = end - start;
            order.AsSpan(start, n).CopyTo(items);
            perm.AsSpan(0, n).Fill(-1);
            rank(w, items.AsSpan(0, n), perm.AsSpan(0, n));
            seen.AsSpan(0, n).Clear();
            for (int k = 0; k < n; k++)
            {
                int p = perm[k];
                if ((uint)p >= (uint)n || seen[p]) throw new InvalidOperationException($"window {w}: the ranking is not a permutation of 0..{n - 1}");
                seen[p] = true;
                order[start + k] = items[p];
            }
        }
        return order;
    }
}
