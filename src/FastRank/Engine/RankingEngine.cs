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
        int[]? prefixTokens = _prefixes?.TokensOf(prefixSeq);
        var jobs = new List<DecodeJob>(waveSize);
        try
        {
            for (int start = 0; start < n; start += waveSize)
            {
                int count = Math.Min(waveSize, n - start);
                jobs.Clear();
                int run = RunTarget(suffixes[order[start]].Length); // the wave's longest suffix (sorted)
                for (int k = 0; k < count; k++)
                {
                    int item = order[start + k];
                    jobs.Add(Place(k, prefixSeq, prefixGeneration, prefixLength, prefixTokens, suffixes[item], item, run));
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

    /// <summary>
    /// The run length short suffixes of a wave are brought to by re-decoding the end of their prefix with them: the
    /// wave's longest suffix, at least a minimum run, at most a minimum prefix. Equal runs let the sequences share
    /// micro-batches (see SequenceBatcher); beyond 64 tokens the padding would cost more than the calls it saves.
    /// </summary>
    private int RunTarget(int longestSuffix) => Math.Max(Context.MinimumRun, Math.Min(longestSuffix, Context.MinimumPrefix));

    /// <summary>
    /// Puts work slot <paramref name="k"/> on top of the prefix held by <paramref name="prefixSeq"/> and returns the
    /// job that decodes <paramref name="suffix"/> there. A slot that still holds this prefix is cut back instead
    /// of copied. A suffix shorter than <paramref name="run"/> re-decodes the end of the prefix with it (see SequenceBatcher).
    /// </summary>
    private DecodeJob Place(int k, int prefixSeq, long prefixGeneration, int prefixLength, int[]? prefixTokens, int[] suffix, int tag, int run)
    {
        int seq = PrefixSlots + k;
        // A prefix whose cells are not exact (shorter than a minimum prefix, it took other kernels than a longer prompt's): decode it again, whole.
        int back = prefixTokens is null || prefixTokens.Length != prefixLength ? 0
            : !_prefixes!.IsExact(prefixSeq) ? prefixLength
            : suffix.Length < run ? Math.Min(prefixLength, run - suffix.Length) : 0;
        if (_slotGeneration[k] == prefixGeneration && _slotPrefixLength[k] == prefixLength && prefixGeneration >= 0)
        {
            Context.Truncate(seq, prefixLength - back);
        }
        else
        {
            Context.CopyAll(prefixSeq, seq);
            Context.Truncate(seq, prefixLength - back); // the entry may hold more than the prefix (PrefixCache.TryFindExact)
            _slotGeneration[k] = prefixGeneration;
            _slotPrefixLength[k] = prefixLength;
        }
        int[] tokens = back == 0 ? suffix : [.. prefixTokens.AsSpan(prefixLength - back), .. suffix];
        return new DecodeJob(seq, prefixLength - back, tokens, tag, true);
    }

    /// <summary>
    /// Decodes one wave of the suffixes of several <paramref name="groups"/> (requests) in the same llama_decode
    /// calls: each group's prefix (head, then head + query) comes from the prefix cache and is copied into the
    /// work slots of its items, so every item has its own KV stream and its score equals a lone decode (a group
    /// with one item in the wave and an uncached prefix decodes its whole prompt in its slot instead). Groups are
    /// served in their order (arrival), each whole when it fits, a group larger than a wave only its share, so
    /// one large group never takes the wave from the others; each group's longest items first; waves are
    /// balanced in size.
    /// Returns false when no group has items left. Cancellation: between and inside decode calls.
    /// </summary>
    public bool DecodeWave(IReadOnlyList<SuffixGroup> groups, CancellationToken ct)
    {
        if (_prefixes is null) throw new InvalidOperationException("shared waves need a prefix cache");
        int remaining = 0;
        foreach (var g in groups) remaining += g.Remaining;
        if (remaining == 0) return false;
        int waves = (remaining + WorkSlots - 1) / WorkSlots;
        int capacity = (remaining + waves - 1) / waves;
        var picks = new List<(SuffixGroup Group, int Item)>(capacity);
        int waiting = 0;
        foreach (var g in groups) waiting += g.Remaining > 0 ? 1 : 0;
        // In arrival order, a group that fits what is left of the wave goes in whole (its prefix is then fetched
        // once); a group larger than a whole wave takes only its share, so it never starves the others; then the
        // rest of the wave is filled in arrival order. A group's items stay together.
        int share = (capacity + waiting - 1) / waiting;
        for (int pass = 0; pass < 2 && picks.Count < capacity; pass++)
        {
            foreach (var g in groups)
            {
                int left = capacity - picks.Count;
                int take = pass == 1 ? Math.Min(g.Remaining, left)
                    : g.Remaining <= left ? g.Remaining
                    : g.Remaining > capacity ? Math.Min(share, left)
                    : 0;
                int at = picks.FindLastIndex(p => p.Group == g) + 1;
                if (at == 0) at = picks.Count;
                for (int t = 0; t < take; t++)
                {
                    int item = g.Take();
                    if (g.Prefix.Length + g.Suffixes[item].Length > CellsPerSequence)
                        throw new ArgumentException($"prompt of {g.Prefix.Length + g.Suffixes[item].Length} tokens exceeds the {CellsPerSequence} cells of a sequence");
                    picks.Insert(at++, (g, item));
                }
            }
        }
        // Slots by suffix length (stable), so neighbouring sequences have similar lengths and micro-batches stay full.
        var slotOf = new int[picks.Count];
        var bySize = new int[picks.Count];
        for (int i = 0; i < bySize.Length; i++) bySize[i] = i;
        Array.Sort(bySize, (a, b) =>
        {
            int la = picks[a].Group.Suffixes[picks[a].Item].Length, lb = picks[b].Group.Suffixes[picks[b].Item].Length;
            return la != lb ? lb.CompareTo(la) : a.CompareTo(b);
        });
        for (int k = 0; k < bySize.Length; k++) slotOf[bySize[k]] = k;

        var jobs = new List<DecodeJob>(picks.Count);
        int longest = 0;
        foreach (var p in picks) longest = Math.Max(longest, p.Group.Suffixes[p.Item].Length);
        int run = RunTarget(longest);
        try
        {
            long calls0 = Context.DecodeCalls;
            var inWave = new List<SuffixGroup>(groups.Count);
            foreach (var p in picks)
            {
                if (!inWave.Contains(p.Group)) inWave.Add(p.Group);
            }
            foreach (var g in inWave)
            {
                int first = picks.FindIndex(p => p.Group == g);
                bool single = picks.FindLastIndex(p => p.Group == g) == first;
                if (single && !_prefixes.Holds(g.Prefix))
                {
                    // One document of an uncached prefix: nothing to share, so the rest of its prompt decodes in its
                    // own slot within the wave, rather than in a decode call of its own first (many one-document
                    // calls): on top of the head when the cache has its cells, else whole.
                    int k = slotOf[first];
                    int[] suffix = g.Suffixes[picks[first].Item];
                    long headDecoded0 = _prefixes.DecodedTokens;
                    if (g.Head is { } h && h.Length < g.Prefix.Length && CachedHead(h, ct, out int headSeq, out long headGeneration))
                    {
                        g.DecodedPrefixTokens += _prefixes.DecodedTokens - headDecoded0 + g.Prefix.Length - h.Length;
                        jobs.Add(Place(k, headSeq, headGeneration, h.Length, h, [.. g.Prefix.AsSpan(h.Length), .. suffix], first, run));
                        continue;
                    }
                    // A head too short to be cached on its own, and no earlier query's cells to serve it: this query's
                    // prefix is cached like a many-document request's (below), so that the next queries find the head.
                    bool cachePrefix = g.Head is { } shortHead && shortHead.Length < Context.MinimumPrefix && g.Prefix.Length >= Context.MinimumPrefix;
                    if (!cachePrefix)
                    {
                        Context.Clear(PrefixSlots + k);
                        _slotGeneration[k] = -1;
                        g.DecodedPrefixTokens += g.Prefix.Length;
                        jobs.Add(new DecodeJob(PrefixSlots + k, 0, [.. g.Prefix, .. suffix], first, true));
                        continue;
                    }
                }
                // Each group's prefix, once per wave; placing its items right away keeps them safe from the next group's eviction.
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                long decoded0 = _prefixes.DecodedTokens;
                if (g.Head is { } head && head.Length >= Context.MinimumPrefix) _prefixes.Acquire(head, ct, out _, out _);
                int prefixSeq = _prefixes.Acquire(g.Prefix, ct, out _, out long generation);
                g.DecodedPrefixTokens += _prefixes.DecodedTokens - decoded0;
                g.PrefixTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
                for (int j = 0; j < picks.Count; j++)
                {
                    if (picks[j].Group == g) jobs.Add(Place(slotOf[j], prefixSeq, generation, g.Prefix.Length, g.Prefix, g.Suffixes[picks[j].Item], j, run));
                }
            }
            SequenceBatcher.Run(Context, jobs, (tag, logits) => picks[tag].Group.Readout(picks[tag].Item, logits), ct);
            int calls = (int)(Context.DecodeCalls - calls0);
            foreach (var g in inWave) g.DecodeCalls += calls;
        }
        catch
        {
            Array.Fill(_slotGeneration, -1);
            throw;
        }
        return true;
    }

    /// <summary>
    /// The cells of a prompt head from the prefix cache: decoded there when it is a minimum prefix long, else found in a
    /// longer cached prompt (a head that short decoded on its own would not be exact, see <see cref="PrefixCache.IsExact"/>).
    /// </summary>
    private bool CachedHead(int[] head, CancellationToken ct, out int seq, out long generation)
    {
        if (head.Length >= Context.MinimumPrefix)
        {
            seq = _prefixes!.Acquire(head, ct, out _, out generation);
            return true;
        }
        return _prefixes!.TryFindExact(head, out seq, out generation);
    }

    /// <summary>Forgets all cached state (after a failed or cancelled decode).</summary>
    public void Reset()
    {
        Array.Fill(_slotGeneration, -1);
        _prefixes?.Invalidate();
    }

    public void Dispose() => Context.Dispose();
}
