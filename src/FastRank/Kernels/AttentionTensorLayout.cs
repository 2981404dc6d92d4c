namespace FastRank.Kernels;

/// <summary>
/// Shape and byte strides of one layer's attention probabilities as llama.cpp lays out its
/// <c>kq_soft_max-L</c> tensor: f32, <c>ne = [n_kv, n_tokens, n_head, n_stream]</c>, element
/// (cell, token, head, stream) at <c>data + cell*nb0 + token*nb1 + head*nb2 + stream*nb3</c>.
/// </summary>
public readonly struct AttentionTensorLayout : IEquatable<AttentionTensorLayout>
{
    /// <summary>Creates a layout from ggml's ne (elements) and nb (bytes) values.</summary>
    public AttentionTensorLayout(long cells, long tokens, long heads, long streams,
        long cellStride, long tokenStride, long headStride, long streamStride)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(cells);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegative(heads);
        ArgumentOutOfRangeException.ThrowIfNegative(streams);
        ArgumentOutOfRangeException.ThrowIfNegative(cellStride);
        ArgumentOutOfRangeException.ThrowIfNegative(tokenStride);
        ArgumentOutOfRangeException.ThrowIfNegative(headStride);
        ArgumentOutOfRangeException.ThrowIfNegative(streamStride);
        Cells = cells;
        Tokens = tokens;
        Heads = heads;
        Streams = streams;
        CellStride = cellStride;
        TokenStride = tokenStride;
        HeadStride = headStride;
        StreamStride = streamStride;
    }

    /// <summary>A densely packed f32 tensor (what llama.cpp's CPU backend produces).</summary>
    public static AttentionTensorLayout Contiguous(int cells, int tokens, int heads, int streams = 1)
    {
        long nb1 = 4L * cells, nb2 = nb1 * tokens;
        return new AttentionTensorLayout(cells, tokens, heads, streams, 4, nb1, nb2, nb2 * heads);
    }

    /// <summary>From a ggml tensor's <c>ne[4]</c> and <c>nb[4]</c> (read at offsets 16 and 48 of <c>ggml_tensor</c>).</summary>
    public static AttentionTensorLayout FromGgml(ReadOnlySpan<long> ne, ReadOnlySpan<long> nb)
    {
        if (ne.Length != 4 || nb.Length != 4)
            throw new ArgumentException("ggml tensors have exactly four ne and four nb values.");
        return new AttentionTensorLayout(ne[0], ne[1], ne[2], ne[3], nb[0], nb[1], nb[2], nb[3]);
    }

    /// <summary>ne[0]: KV cells (padded by llama.cpp to a multiple of 256; masked cells hold 0).</summary>
    public long Cells { get; }

    /// <summary>ne[1]: query tokens (rows) in this batch.</summary>
    public long Tokens { get; }

    /// <summary>ne[2]: attention heads (n_head, also with grouped-query attention).</summary>
    public long Heads { get; }

    /// <summary>ne[3]: KV streams (1 with a unified KV cache).</summary>
    public long Streams { get; }

    /// <summary>nb[0] in bytes (4 when cells are contiguous).</summary>
    public long CellStride { get; }

    /// <summary>nb[1] in bytes.</summary>
    public long TokenStride { get; }

    /// <summary>nb[2] in bytes.</summary>
    public long HeadStride { get; }

    /// <summary>nb[3] in bytes.</summary>
    public long StreamStride { get; }

    /// <summary>Bytes from the data pointer to the end of the last element (0 for an empty tensor).</summary>
    public long ExtentBytes =>
        Cells == 0 || Tokens == 0 || Heads == 0 || Streams == 0
            ? 0
            : ((Cells - 1) * CellStride) + ((Tokens - 1) * TokenStride) + ((Heads - 1) * HeadStride) +
              ((Streams - 1) * StreamStride) + sizeof(float);

    /// <inheritdoc />
    public bool Equals(AttentionTensorLayout other) =>
        Cells == other.Cells && Tokens == other.Tokens && Heads == other.Heads && Streams == other.Streams &&
        CellStride == other.CellStride && TokenStride == other.TokenStride && HeadStride == other.HeadStride &&
        StreamStride == other.StreamStride;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is AttentionTensorLayout other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() =>
        HashCode.Combine(Cells, Tokens, Heads, Streams, CellStride, TokenStride, HeadStride, StreamStride);

    /// <summary>Equality of every dimension and stride.</summary>
    public static bool operator ==(AttentionTensorLayout left, AttentionTensorLayout right) => left.Equals(right);

    /// <summary>Inequality of any dimension or stride.</summary>
    public static bool operator !=(AttentionTensorLayout left, AttentionTensorLayout right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() =>
        $"ne=[{Cells}, {Tokens}, {Heads}, {Streams}] nb=[{CellStride}, {TokenStride}, {HeadStride}, {StreamStride}]";

    internal void CopyTo(Span<long> ne, Span<long> nb)
    {
        ne[0] = Cells; ne[1] = Tokens; ne[2] = Heads; ne[3] = Streams;
        nb[0] = CellStride; nb[1] = TokenStride; nb[2] = HeadStride; nb[3] = StreamStride;
    }
}
