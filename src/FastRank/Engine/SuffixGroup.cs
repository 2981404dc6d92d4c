namespace FastRank.Engine;

/// <summary>
/// One request's share of shared decode waves (<see cref="RankingEngine.DecodeWave"/>): the prefix its
/// suffixes continue (and the head within it that is cached across queries), the suffixes, and where their
/// readouts go. Items are handed out longest first. Not thread-safe: one scheduler thread drives it.
/// </summary>
internal sealed class SuffixGroup
{
    private readonly int[] _order;
    private int _next;

    public SuffixGroup(int[] prefix, int[][] suffixes, int[]? head, OutputReadout readout)
    {
        Prefix = prefix;
        Suffixes = suffixes;
        Head = head;
        Readout = readout;
        _order = new int[suffixes.Length];
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        // Stable: equal lengths keep input order.
        Array.Sort(_order, (a, b) => suffixes[b].Length != suffixes[a].Length ? suffixes[b].Length.CompareTo(suffixes[a].Length) : a.CompareTo(b));
    }

    /// <summary>Head + query: the tokens every suffix continues.</summary>
    public int[] Prefix { get; }

    /// <summary>The per-item tokens (document and template tail).</summary>
    public int[][] Suffixes { get; }

    /// <summary>The cross-query part of <see cref="Prefix"/>, cached on its own (null: none).</summary>
    public int[]? Head { get; }

    /// <summary>Receives the logits of each item's last token, with the item's index.</summary>
    public OutputReadout Readout { get; }

    /// <summary>Items not yet handed to a wave.</summary>
    public int Remaining => _order.Length - _next;

    /// <summary>Prefix tokens decoded for this group (not served by the cache).</summary>
    public long DecodedPrefixTokens { get; set; }

    /// <summary>Stopwatch ticks spent getting this group's prefixes.</summary>
    public long PrefixTicks { get; set; }

    /// <summary>llama_decode calls of the waves this group took part in (shared with the other groups of a wave).</summary>
    public int DecodeCalls { get; set; }

    /// <summary>The next item, longest first.</summary>
    public int Take() => _order[_next++];
}
