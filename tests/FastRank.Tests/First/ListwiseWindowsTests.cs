using FastRank.Ranking;

namespace FastRank.Tests.First;

/// <summary>The sliding window, model-free: window plans and final orders against a reference written the way rank_llm loops.</summary>
public class ListwiseWindowsTests
{
    public static TheoryData<int, int, int> Cases()
    {
        var data = new TheoryData<int, int, int>();
        foreach (int n in (int[])[0, 1, 19, 20, 21, 100])
            foreach (var (w, s) in ((int, int)[])[(20, 10), (20, 20), (20, 1), (20, 19), (5, 2), (4, 3), (2, 1), (26, 13), (3, 3)])
                data.Add(n, w, s);
        return data;
    }

    [Fact]
    public void Top100_Window20_Stride10_IsTheNineWindowsOfTheReference()
    {
        var plan = ListwiseWindows.Plan(100, 20, 10);
        Assert.Equal([(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40), (10, 30), (0, 20)], plan);
    }

    [Theory]
    [InlineData(0, new int[0])]
    [InlineData(1, new[] { 0, 1 })]
    [InlineData(19, new[] { 0, 19 })]
    [InlineData(20, new[] { 0, 20 })]
    [InlineData(21, new[] { 1, 21, 0, 11 })]
    [InlineData(35, new[] { 15, 35, 5, 25, 0, 15 })]
    public void Plan_StopsAtTheFirstWindowThatReachesTheTop(int n, int[] flat)
    {
        var expected = new List<(int, int)>();
        for (int i = 0; i < flat.Length; i += 2) expected.Add((flat[i], flat[i + 1]));
        Assert.Equal(expected, ListwiseWindows.Plan(n, 20, 10));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Run_EqualsTheReference_ForArbitraryWindowPermutations(int n, int w, int s)
    {
        // Each window's permutation is given (a seeded shuffle of the window), whatever the window holds.
        int[] Given(int window, int size)
        {
            var p = Enumerable.Range(0, size).ToArray();
            new Random(window * 7919 + size).Shuffle(p);
            return p;
        }
        int calls = 0;
        int[] actual = ListwiseWindows.Run(n, w, s, (window, items, perm) =>
        {
            Assert.Equal(calls++, window);
            Given(window, items.Length).CopyTo(perm);
        });
        Assert.Equal(Reference(n, w, s, (window, items) => Given(window, items.Count), stopAtTop: true), actual);
        Assert.Equal(ListwiseWindows.Plan(n, w, s).Count, calls);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Run_WithAConsistentRanker_EqualsTheUntrimmedReferenceLoop(int n, int w, int s)
    {
        // A ranker that sorts by a hidden relevance: the reference's extra windows inside the top one change nothing.
        double[] relevance = RandomRelevance(n, seed: n * 31 + w * 7 + s);
        int[] actual = ListwiseWindows.Run(n, w, s, (_, items, perm) => SortByRelevance(relevance, items.ToArray()).CopyTo(perm));
        int[] reference = Reference(n, w, s, (_, items) => SortByRelevance(relevance, [.. items]), stopAtTop: false);
        Assert.Equal(reference, actual);
        // Bottom-up windows carry the best w - s items to the top, in order.
        int top = Math.Min(n, w - s);
        if (n >= w && top > 0)
        {
            var best = Enumerable.Range(0, n).OrderByDescending(i => relevance[i]).Take(top);
            Assert.Equal(best, actual.Take(top));
        }
        Assert.Equal(Enumerable.Range(0, n), actual.Order());
    }

    [Fact]
    public void Run_PassesEachWindowTheOrderThePreviousLeft()
    {
        // Reversing every window: the second window of 30 items (w 20, s 10) sees [0,20) after the first reversed [10,30).
        var seen = new List<int[]>();
        ListwiseWindows.Run(30, 20, 10, (_, items, perm) =>
        {
            seen.Add(items.ToArray());
            for (int k = 0; k < items.Length; k++) perm[k] = items.Length - 1 - k;
        });
        Assert.Equal(Enumerable.Range(10, 20), seen[0]);
        Assert.Equal(Enumerable.Range(0, 10).Concat(Enumerable.Range(20, 10).Reverse()), seen[1]);
    }

    [Fact]
    public void Run_RejectsARankingThatIsNotAPermutation()
    {
        Assert.Throws<InvalidOperationException>(() => ListwiseWindows.Run(5, 5, 1, (_, _, perm) => perm.Fill(0)));
        Assert.Throws<InvalidOperationException>(() => ListwiseWindows.Run(5, 5, 1, (_, _, perm) => perm[0] = 9));
    }

    [Theory]
    [InlineData(10, 0, 1)]
    [InlineData(10, 5, 6)]
    [InlineData(10, 5, 0)]
    [InlineData(-1, 5, 1)]
    public void Plan_RejectsBadArguments(int n, int w, int s) =>
        Assert.ThrowsAny<ArgumentException>(() => ListwiseWindows.Plan(n, w, s));

    /// <summary>
    /// The reference, after rank_llm's sliding_windows: start = end - w, both move up by s, start clamped at 0.
    /// rank_llm stops after the window whose unclamped start is 0 (its loop test start + s != 0; that test
    /// also skips every window when n == w - s, a quirk left out here); FastRank stops after the first
    /// window that reaches the top (<paramref name="stopAtTop"/>).
    /// </summary>
    private static int[] Reference(int n, int w, int s, Func<int, IReadOnlyList<int>, int[]> rank, bool stopAtTop)
    {
        var list = Enumerable.Range(0, n).ToList();
        int endPos = n, startPos = n - w, window = 0;
        while (endPos > 0)
        {
            int start = Math.Max(startPos, 0);
            var items = list.GetRange(start, endPos - start);
            int[] perm = rank(window++, items);
            for (int k = 0; k < items.Count; k++) list[start + k] = items[perm[k]];
            if (stopAtTop ? start == 0 : startPos == 0) break;
            endPos -= s;
            startPos -= s;
        }
        return [.. list];
    }

    private static double[] RandomRelevance(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => r.NextDouble()).ToArray();
    }

    private static int[] SortByRelevance(double[] relevance, int[] items) =>
        Enumerable.Range(0, items.Length).OrderByDescending(k => relevance[items[k]]).ToArray();
}
