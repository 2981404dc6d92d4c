using System.Diagnostics;
using FastRank.Engine;
using FastRank.Prompts;
using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>
/// What the listwise methods share: the prompt, the identifiers, the sliding window and the prefix
/// cache. Per call the head (layout, system text, instruction) and the query are acquired from the
/// prefix cache once; every window then decodes only its passages and the tail on top of them, one
/// window after another (each ranks the order the previous one left). A call of a single window
/// shares only the head (there is nothing to share the query with). A subclass decides how one
/// window is ranked: from the identifier logits of one forward pass (FIRST), or by generating the
/// permutation (listwise-generate).
/// <para>
/// Scores: the final order is the result, so <see cref="RankedDocument.Score"/> is the reciprocal
/// rank 1 / (1 + r) of the document's final position r (1 for the best, then 1/2, 1/3, ...), in
/// (0, 1] and consistent with the order; <see cref="RankedDocument.RawScore"/> is what the method read
/// in the last window that held the document.
/// </para>
/// </summary>
internal abstract class ListwiseMethod : IRankingMethod
{
    protected ListwiseMethod(LlamaModel model, RerankerOptions options, ILogger logger, bool generates)
    {
        ArgumentNullException.ThrowIfNull(options.First);
        options.First.Validate();
        Model = model;
        Options = options;
        Settings = options.First;
        Logger = logger;
        Identifiers = ListwiseIdentifierSet.Resolve(model, Settings.Identifiers, Settings.WindowSize);
        (Layout, LayoutSource) = ChatLayout.Choose(model, Settings.ChatLayout);
        Prompt = new ListwisePrompt(model, Layout, Identifiers, Settings.SystemPrompt);

        int w = Settings.WindowSize;
        GenerationBudget = !generates ? 0 : Settings.MaxGeneratedTokens > 0 ? Settings.MaxGeneratedTokens : CompletePermutationTokens(model, Identifiers, w) + 1;
        int other = Prompt.FixedTokens(w) + 2 * options.MaxQueryTokens + GenerationBudget + 2 + w;
        PassageBudget = Settings.MaxPassageTokens;
        int train = model.TrainContextLength;
        if (train > 0 && other + (long)w * PassageBudget > train)
        {
            int fit = (train - other) / w;
            if (fit < 16)
                throw new ModelNotSupportedException(
                    $"'{Path.GetFileName(model.Path)}' has a training context of {train} tokens: too short for windows of {w} passages; use a smaller window");
            logger.LogInformation("Passage budget lowered from {Budget} to {Fit} tokens so that a window of {Window} fits the model's {Train}-token context",
                PassageBudget, fit, w, train);
            PassageBudget = fit;
        }
        MaxPromptTokens = other + w * PassageBudget;
    }

    public abstract RerankMethod Kind { get; }

    protected LlamaModel Model { get; }

    internal RerankerOptions Options { get; }

    protected ILogger Logger { get; }

    /// <summary>The listwise options in force.</summary>
    public FirstOptions Settings { get; }

    public ListwiseIdentifierSet Identifiers { get; }

    public ChatLayout Layout { get; }

    /// <summary>Where the layout came from (<c>user</c>, <c>builtin:NAME</c>, <c>gguf-family:NAME</c>, <c>gguf:llama.cpp</c>, <c>fallback:chatml</c>).</summary>
    public string LayoutSource { get; }

    public ListwisePrompt Prompt { get; }

    /// <summary>Per-passage token budget in force (<see cref="FirstOptions.MaxPassageTokens"/>, or lower to fit the model's context).</summary>
    public int PassageBudget { get; }

    /// <summary>Most tokens generated per window (0 for FIRST).</summary>
    public int GenerationBudget { get; }

    /// <summary>Longest prompt (and generation) a window can need.</summary>
    public int MaxPromptTokens { get; }

    public ContextConfig ContextConfig(RerankerOptions options) =>
        // Windows depend on each other, so one work slot is all a call can use; two prefix entries (the head,
        // and head + query) are all the windows of a call share. Every stream is as long as a window.
        new(ListwisePrefixSlots + 1, RankingMethods.CellsFor(MaxPromptTokens), options.MicroBatchSize, options.MicroBatchSize,
            Settings.FlashAttention ?? true, RankingMethods.Threads(options))
        {
            PrefixSlots = ListwisePrefixSlots,
        };

    private const int ListwisePrefixSlots = 2;

    public MethodResult Rank(RankingEngine engine, string query, IReadOnlyList<string> documents, CancellationToken ct)
    {
        long t0 = Stopwatch.GetTimestamp();
        long calls0 = engine.Context.DecodeCalls;
        int n = documents.Count;
        var call = Prompt.Build(query, documents, PassageBudget, Options.MaxQueryTokens);
        if (call.TruncatedDocuments > 0)
            Logger.LogWarning("{Count} of {Total} passages exceeded {Budget} tokens and were truncated", call.TruncatedDocuments, n, PassageBudget);
        if (call.TruncatedQuery) Logger.LogWarning("Query truncated to {Budget} tokens", Options.MaxQueryTokens);
        long t1 = Stopwatch.GetTimestamp();
        if (n == 0)
        {
            return new MethodResult([], new RerankUsage { TruncatedQuery = call.TruncatedQuery },
                new RerankTimings { TokenizeMs = RankingMethods.Ms(t1 - t0) });
        }

        var raw = new double[n];
        long promptTokens = 0, cachedTokens = 0, prefixTicks = 0;
        int windows = 0;
        var plan = ListwiseWindows.Plan(n, Settings.WindowSize, Settings.Stride);
        int prefixNum = 0, prefixSeq = -1;
        long generation = 0;
        int[] prefix = [], lead = [];
        var stats = new WindowStats();
        int[] order = ListwiseWindows.Run(n, Settings.WindowSize, Settings.Stride, (_, items, perm) =>
        {
            int num = items.Length;
            if (num != prefixNum)
            {
                // The instruction names the number of passages, so windows of another size (only the top
                // one can be shorter) have a prefix of their own. Windows of a size that occurs more than
                // once share head and query; a window alone of its size shares only the head (cached
                // across queries) and decodes the query with its passages, which saves a decode call and a
                // copy of the query's cache entry that no other window would read.
                long a = Stopwatch.GetTimestamp();
                prefixNum = num;
                int[] head = call.Head(num);
                int sharing = 0;
                foreach (var (start, end) in plan) sharing += end - start == num ? 1 : 0;
                prefixSeq = engine.Prefixes.Acquire(head, ct, out int headReused, out generation);
                cachedTokens -= head.Length - headReused;
                prefix = head;
                lead = call.Prefix(num)[head.Length..];
                if (sharing > 1)
                {
                    prefix = call.Prefix(num);
                    prefixSeq = engine.Prefixes.Acquire(prefix, ct, out int reused, out generation);
                    cachedTokens -= prefix.Length - reused;
                    lead = [];
                }
                prefixTicks += Stopwatch.GetTimestamp() - a;
            }
            int[] suffix = lead.Length == 0 ? call.WindowSuffix(items) : [.. lead, .. call.WindowSuffix(items)];
            promptTokens += prefix.Length + suffix.Length;
            cachedTokens += prefix.Length;
            windows++;
            RankWindow(engine, prefixSeq, generation, prefix.Length, suffix, items, perm, raw, stats, ct);
        });
        long t3 = Stopwatch.GetTimestamp();
        if (stats.Repaired > 0)
        {
            Logger.LogWarning("{Repaired} of {Windows} generated permutations needed repair ({Missing} identifiers missing, {Duplicates} repeated, {Unknown} unknown)",
                stats.Repaired, windows, stats.Missing, stats.Duplicates, stats.Unknown);
        }

        var ranked = new RankedDocument[n];
        for (int r = 0; r < n; r++) ranked[r] = new RankedDocument(order[r], 1.0 / (1 + r), raw[order[r]]);
        var usage = new RerankUsage
        {
            PromptTokens = promptTokens,
            CachedTokens = cachedTokens,
            TruncatedDocuments = call.TruncatedDocuments,
            TruncatedQuery = call.TruncatedQuery,
            DecodeCalls = (int)(engine.Context.DecodeCalls - calls0),
        };
        var timings = new RerankTimings
        {
            TokenizeMs = RankingMethods.Ms(t1 - t0),
            PrefixMs = RankingMethods.Ms(prefixTicks),
            ScoreMs = RankingMethods.Ms(t3 - t1 - prefixTicks),
        };
        LastWindowStats = stats with { Windows = windows };
        return new MethodResult(ranked, usage, timings);
    }

    /// <summary>What the last call's windows did (for diagnostics and the bench).</summary>
    internal WindowStats LastWindowStats { get; private set; } = new();

    /// <summary>
    /// Ranks one window: <paramref name="suffix"/> on top of the prefix in <paramref name="prefixSeq"/>;
    /// writes the window's permutation and each item's raw score.
    /// </summary>
    protected abstract void RankWindow(RankingEngine engine, int prefixSeq, long generation, int prefixLength, int[] suffix,
        ReadOnlySpan<int> items, Span<int> permutation, double[] raw, WindowStats stats, CancellationToken ct);

    /// <summary>Tokens of a complete permutation of <paramref name="window"/> identifiers after the prompt's <c>[</c>.</summary>
    internal static int CompletePermutationTokens(LlamaModel model, ListwiseIdentifierSet ids, int window)
    {
        string text = string.Join(" > ", ids.Labels.Take(window).Select(l => "[" + l + "]"));
        return model.TokenizeTemplate(text).Length - model.TokenizeTemplate("[").Length;
    }
}

/// <summary>Counters of one call's windows.</summary>
internal sealed record WindowStats
{
    public int Windows { get; set; }

    public int Repaired { get; set; }

    public int Missing { get; set; }

    public int Duplicates { get; set; }

    public int Unknown { get; set; }

    /// <summary>Tokens generated (listwise-generate).</summary>
    public int GeneratedTokens { get; set; }
}
