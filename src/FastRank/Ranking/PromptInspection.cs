namespace FastRank.Ranking;

/// <summary>One part of a prompt as a method decodes it.</summary>
/// <param name="Role">
/// <c>head</c> (kept in the prefix cache across queries), <c>query</c> (head's continuation with the query, shared by
/// every document or window of a call), <c>document</c> (a pointwise document's suffix), <c>window</c> (a FIRST window's
/// passages and instruction), <c>documents</c> (ICR's documents part), <c>query-span</c> and <c>calibration-span</c> (ICR's
/// two query passes).
/// </param>
/// <param name="Tokens">The part's token ids.</param>
/// <param name="Documents">Input indices of the documents the part holds (empty for shared parts).</param>
internal sealed record PromptPart(string Role, int[] Tokens, int[] Documents);

/// <summary>One prompt (a pointwise call's shared parts and documents, a FIRST window, an ICR chunk) as its parts in order.</summary>
/// <param name="Name">What the prompt is (<c>call</c>, <c>window 1</c>, <c>chunk 1</c>).</param>
/// <param name="Parts">The parts: shared ones first, then the per-item ones (each item's prompt is the shared parts plus its own).</param>
internal sealed record PromptView(string Name, IReadOnlyList<PromptPart> Parts);

/// <summary>
/// Shows what a method would decode for a query and documents, split the way the engine decodes it: what comes
/// from the prefix cache, what the query adds, what each document or window adds. Built from the same code
/// paths the methods rank with, so what it shows is what they decode.
/// </summary>
internal static class PromptInspection
{
    public static IReadOnlyList<PromptView> Explain(Reranker ranker, RerankMethod method, string query, IReadOnlyList<string> documents)
    {
        ArgumentNullException.ThrowIfNull(ranker);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        return ranker.Method(method) switch
        {
            PointwiseMethod p => Pointwise(p, ranker.Options, query, documents),
            ListwiseMethod l => Listwise(l, query, documents),
            IcrMethod i => Icr(i, query, documents),
            var m => throw new NotSupportedException($"no prompt view for {m.Kind}"),
        };
    }

    private static List<PromptView> Pointwise(PointwiseMethod method, RerankerOptions options, string query, IReadOnlyList<string> documents)
    {
        var prompt = method.BuildPrompt(query, documents, options);
        int head = method.SharedHead(prompt.Prefix);
        var parts = new List<PromptPart>
        {
            new("head", prompt.Prefix[..head], []),
            new("query", prompt.Prefix[head..], []),
        };
        for (int i = 0; i < prompt.Suffixes.Length; i++) parts.Add(new PromptPart("document", prompt.Suffixes[i], [i]));
        return [new PromptView("call", parts)];
    }

    private static List<PromptView> Listwise(ListwiseMethod method, string query, IReadOnlyList<string> documents)
    {
        var call = method.Prompt.Build(query, documents, method.PassageBudget, method.Options.MaxQueryTokens);
        var views = new List<PromptView>();
        // Windows from the bottom of the list up, each in input order: the first window is exactly what is
        // decoded first; later windows hold what the earlier ones moved up, so they are shown as planned.
        var plan = ListwiseWindows.Plan(documents.Count, method.Settings.WindowSize, method.Settings.Stride);
        int w = 0;
        foreach (var (start, end) in plan)
        {
            int[] items = [.. Enumerable.Range(start, end - start)];
            int num = items.Length;
            int[] head = call.Head(num), prefix = call.Prefix(num);
            views.Add(new PromptView($"window {++w}", [
                new PromptPart("head", head, []),
                new PromptPart("query", prefix[head.Length..], []),
                new PromptPart("window", call.WindowSuffix(items), items),
            ]));
        }
        return views;
    }

    private static List<PromptView> Icr(IcrMethod method, string query, IReadOnlyList<string> documents)
    {
        var prompt = method.BuildPrompt(query, documents);
        var views = new List<PromptView>();
        int c = 0;
        foreach (var chunk in prompt.Chunks)
        {
            int head = method.Builder.Head.Length;
            var parts = new List<PromptPart> { new("head", chunk.Prefix[..head], []), new("documents", chunk.Prefix[head..], chunk.Documents) };
            parts.Add(new PromptPart("query-span", prompt.QuerySuffix, []));
            if (method.Calibrates) parts.Add(new PromptPart("calibration-span", prompt.CalibrationSuffix, []));
            views.Add(new PromptView($"chunk {++c}", parts));
        }
        return views;
    }
}
