namespace FastRank.Engine;

/// <summary>
/// The shared machinery of every ranking method: a context whose first sequences hold the prefix
/// cache and whose other sequences ("work slots") decode per-item suffixes in parallel waves on top
/// of a shared prefix. A method declares tokens (prefixes, suffixes) and a readout; this class decides
/// how they are batched. Not thread-safe: the reranker serializes calls.
/// </summary>
internal sealed class RankingEngine : IDisposable
{
    /// <summary>Prefix-cache sequences of the pointwise and listwise contexts (a head entry and two query entries).</summary>
    public const int DefaultPrefixSlots = 3;

    private readonly long[] _slotGeneration;
    private readonly int[] _slotPrefixLength;
    private readonly PrefixCache? _prefixes;

    public RankingEngine(LlamaModel model, ContextConfig config)
    {
        if (config.PrefixSlots is < 0 or 1) throw new ArgumentException("a prefix cache needs 0 or at least 2 sequences", nameof(config));
        if (config.Sequences <= config.PrefixSlots) throw new ArgumentException("the context needs at least one work slot", nameof(config));
        Context = new InferenceContext(model, config);
        PrefixSlots = config.PrefixSlots;
        if (PrefixSlots > 0) _prefixes = new PrefixCache(Context, 0, PrefixSlots);
        WorkSlots = config.Sequences - PrefixSlots;
        _slotGeneration = new long[WorkSlots];
        _slotPrefixLength = new int[WorkSlots];
        Array.Fill(_slotGeneration, -1);
    }

    public InferenceContext Context { get; }

    /// <summary>The prefix cache.</summary>
    /// <exception cref="InvalidOperationException">The context was created without prefix slots.</exception>
    public PrefixCache Prefixes => _prefixes ?? throw new InvalidOperationException("this context has no prefix cache");

    /// <summary>Sequences 0..PrefixSlots-1 hold the prefix cache; work slots follow.</summary>
    public int PrefixSlots { get; }

    /// <summary>Sequences available for parallel suffixes.</summary>
    public int WorkSlots { get; }

    /// <summary>Longest prompt (prefix + suffix) one sequence can hold.</summary>
    public int CellsPerSequence => Context.Config.CellsPerSequence;

    /// <summary>
    /// Decodes every suffix on top of the prefix held by <paramref name="prefixSeq"/> (positions
    /// 0..<paramref name="prefixLength"/>-1) and hands the outputs of each suffix's last token to
    /// <paramref name="readout"/> with the suffix's index. Suffixes run in waves of at most
    /// <see cref="WorkSlots"/> (or <paramref name="maxParallel"/>) sequences; longer ones first, so each
    /// wave holds similar lengths and llama.cpp's equal-length micro-batches stay full. Results do not
    /// depend on the waves: every sequence has its own KV stream.
    /// </summary>
    public void DecodeSuffixes(int prefixSeq, long prefixGeneration, int prefixLength, IReadOnlyList<int[]> suffixes,
        OutputReadout readout, CancellationToken ct, int maxParallel = 0)
    {
        int n = suffixes.Count;
        if (n == 0) return;
        int slots = maxParallel > 0 ? Math.Min(maxParallel, WorkSlots) : WorkSlots;
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
            if (prefixLength + suffixes[i].Length > CellsPerSequence)
                throw new ArgumentException($"prompt of {prefixLength + suffixes[i].Length} tokens exceeds the {CellsPerSequence} cells of a sequence");
        }
        // Stable: equal lengths keep input order.
        Array.Sort(order, (a, b) => suffixes[b].Length != suffixes[a].Length ? suffixes[b].Length.CompareTo(suffixes[a].Length) : a.CompareTo(b));
        int waves = (n + slots - 1) / slots;
        int waveSize = (n + waves - 1) / waves;
        // A suffix shorter than a run re-decodes the end of the prefix with it (see SequenceBatcher).
        int minRun = Context.Config.MinimumRun;
        int[]? prefixTokens = _prefixes?.TokensOf(prefixSeq);
        var jobs = new List<DecodeJob>(waveSize);
        try
        {
            for (int start = 0; start < n; start += waveSize)
            {
                int count = Math.Min(waveSize, n - start);
                jobs.Clear();
                for (int k = 0; k < count; k++)
                {
                    int seq = PrefixSlots + k;
                    int item = order[start + k];
                    int[] suffix = suffixes[item];
                    // A prefix shorter than a run was itself decoded as a short run: decode it again, whole.
                    int back = prefixTokens is null || prefixTokens.Length != prefixLength ? 0
                        : prefixLength < minRun ? prefixLength
                        : suffix.Length < minRun ? minRun - suffix.Length : 0;
                    if (_slotGeneration[k] == prefixGeneration && _slotPrefixLength[k] == prefixLength && prefixGeneration >= 0)
                    {
                        Context.Truncate(seq, prefixLength - back);
                    }
                    else
                    {
                        Context.CopyAll(prefixSeq, seq);
                        if (back > 0) Context.Truncate(seq, prefixLength - back);
                        _slotGeneration[k] = prefixGeneration;
                        _slotPrefixLength[k] = prefixLength;
                    }
                    int[] tokens = back == 0 ? suffix : [.. prefixTokens.AsSpan(prefixLength - back), .. suffix];
                    jobs.Add(new DecodeJob(seq, prefixLength - back, tokens, item, true));
                }
                SequenceBatcher.Run(Context, jobs, readout, ct);
            }
        }
        catch
        {
            Array.Fill(_slotGeneration, -1);
            throw;
        }
    }

    /// <summary>Forgets all cached state (after a failed or cancelled decode).</summary>
    public void Reset()
    {
        Array.Fill(_slotGeneration, -1);
        _prefixes?.Invalidate();
    }

    public void Dispose() => Context.Dispose();
}
