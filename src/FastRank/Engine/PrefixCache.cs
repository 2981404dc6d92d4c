namespace FastRank.Engine;

/// <summary>
/// Keeps decoded prompt prefixes in dedicated sequences of a context so that no prefix is decoded
/// twice while it is cached. A request for a token sequence is served, in order of preference, by an
/// entry holding exactly those tokens; by the entry sharing the longest prefix with them (its stream is
/// copied, cut back to the shared part, and only the rest is decoded); or by a fresh decode. Entries are
/// evicted least recently used. With a head entry (system text and instruction) and per-query entries
/// (head + query), this is the two-level cache of the pointwise and listwise methods.
/// </summary>
internal sealed class PrefixCache
{
    private readonly InferenceContext _ctx;
    private readonly Entry[] _entries;
    private long _clock;

    private sealed class Entry(int seq)
    {
        public int Seq { get; } = seq;
        public int[]? Tokens { get; set; }
        public long LastUse { get; set; }
        public long Generation { get; set; }
    }

    /// <summary>
    /// Whether an entry's cells equal those of a lone decode of any longer prompt that starts with its tokens. Not for a
    /// prompt shorter than a minimum prefix: its attention took llama.cpp's per-row kernel, from scratch or on top of
    /// exact cells alike (the short-run handler keeps that kernel for a prompt that short, as its lone decode takes it),
    /// and a longer prompt's does not. Longer entries start from exact cells only, so they are exact themselves.
    /// </summary>
    private bool Exact(Entry e) => e.Tokens is { } t && t.Length >= _ctx.MinimumPrefix;

    public PrefixCache(InferenceContext ctx, int firstSeq, int slots)
    {
        if (slots < 2) throw new ArgumentOutOfRangeException(nameof(slots), "a prefix cache needs at least two slots");
        _ctx = ctx;
        // Reusing a partial match copies a whole KV stream (kv_unified off). That beats decoding the
        // shared tokens again only when enough of them are shared: a token costs about 2 x params FLOPs
        // (~1e11 FLOP/s on a CPU), a copy moves the stream's bytes (~5e9 B/s).
        long streamBytes = (long)ctx.Config.CellsPerSequence * ctx.Model.KvBytesPerCell;
        MinimumReuse = (int)Math.Max(2, Math.Ceiling(streamBytes * 10.0 / Math.Max(1, ctx.Model.SizeInBytes)));
        _entries = new Entry[slots];
        for (int i = 0; i < slots; i++) _entries[i] = new Entry(firstSeq + i);
    }

    /// <summary>Fewest shared tokens for which a partial match is copied rather than decoded again.</summary>
    public int MinimumReuse { get; }

    /// <summary>Tokens served from the cache since creation (for statistics).</summary>
    public long ReusedTokens { get; private set; }

    /// <summary>Tokens decoded into the cache since creation.</summary>
    public long DecodedTokens { get; private set; }

    /// <summary>
    /// Returns a sequence holding exactly <paramref name="tokens"/> at positions 0..n-1, and an identity
    /// (<paramref name="generation"/>) that changes whenever that sequence's content changes.
    /// <paramref name="reused"/> tells how many of the tokens came from the cache.
    /// </summary>
    public int Acquire(int[] tokens, CancellationToken ct, out int reused, out long generation)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        long now = ++_clock;
        Entry? best = null;
        int bestLen = 0;
        foreach (var e in _entries)
        {
            if (e.Tokens is null) continue;
            int common = tokens.AsSpan().CommonPrefixLength(e.Tokens);
            if (common == tokens.Length && common == e.Tokens.Length)
            {
                e.LastUse = now;
                reused = common;
                ReusedTokens += common;
                generation = e.Generation;
                return e.Seq;
            }
            // A longer prompt may start only from exact cells.
            if (common > bestLen && Exact(e))
            {
                best = e;
                bestLen = common;
            }
        }

        // Never continue with fewer tokens than a run: llama.cpp evaluates short runs on other kernels,
        // and the prefix must equal a lone decode (see SequenceBatcher). Decode some shared tokens again instead.
        int minRun = _ctx.MinimumRun;
        if (bestLen > 0 && tokens.Length - bestLen < minRun) bestLen = Math.Max(0, tokens.Length - minRun);
        if (bestLen < MinimumReuse) best = null;
        Entry target = PickVictim(exclude: best);
        target.Tokens = null;
        target.Generation = now;
        if (best is not null && bestLen > 0)
        {
            _ctx.CopyAll(best.Seq, target.Seq);
            if (bestLen < best.Tokens!.Length) _ctx.Truncate(target.Seq, bestLen);
            best.LastUse = now;
        }
        else
        {
            _ctx.Clear(target.Seq);
            bestLen = 0;
        }

        int[] rest = tokens[bestLen..];
        SequenceBatcher.Run(_ctx, [new DecodeJob(target.Seq, bestLen, rest, 0, false)], null, ct);
        target.Tokens = tokens;
        target.LastUse = now;
        reused = bestLen;
        ReusedTokens += bestLen;
        DecodedTokens += rest.Length;
        generation = target.Generation;
        return target.Seq;
    }

    /// <summary>Whether an entry holds exactly <paramref name="tokens"/>.</summary>
    public bool Holds(int[] tokens)
    {
        foreach (var e in _entries)
        {
            if (e.Tokens is { } t && t.AsSpan().SequenceEqual(tokens)) return true;
        }
        return false;
    }

    /// <summary>Whether the entry in sequence <paramref name="seq"/> holds exact cells (see <see cref="Exact(Entry)"/>).</summary>
    public bool IsExact(int seq) => EntryOf(seq) is { } e && Exact(e);

    /// <summary>
    /// Finds an entry whose exact cells start with <paramref name="tokens"/> (it may hold more), without decoding
    /// anything: how a prefix shorter than a minimum prefix, which a decode from scratch would not make exact, is
    /// served from a longer prompt's cells.
    /// </summary>
    public bool TryFindExact(int[] tokens, out int seq, out long generation)
    {
        foreach (var e in _entries)
        {
            if (Exact(e) && e.Tokens.AsSpan().StartsWith(tokens))
            {
                e.LastUse = ++_clock;
                seq = e.Seq;
                generation = e.Generation;
                return true;
            }
        }
        seq = -1;
        generation = -1;
        return false;
    }

    /// <summary>The tokens held by the entry in sequence <paramref name="seq"/>, or null when it holds none.</summary>
    public int[]? TokensOf(int seq) => EntryOf(seq)?.Tokens;

    private Entry? EntryOf(int seq) => Array.Find(_entries, e => e.Seq == seq);

    /// <summary>Forgets every entry (for example after a failed decode left the cache in doubt).</summary>
    public void Invalidate()
    {
        foreach (var e in _entries)
        {
            e.Tokens = null;
            _ctx.Clear(e.Seq);
        }
    }

    private Entry PickVictim(Entry? exclude)
    {
        Entry? victim = null;
        foreach (var e in _entries)
        {
            if (ReferenceEquals(e, exclude)) continue;
            if (e.Tokens is null) return e;
            if (victim is null || e.LastUse < victim.LastUse) victim = e;
        }
        return victim!;
    }
}
