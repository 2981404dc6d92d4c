using System.Runtime.InteropServices;
using FastRank.Gguf;

namespace FastRank.Synthetic;

/// <summary>
/// The constructed <c>match</c> model: weights chosen, not random, so that attention from a token
/// concentrates on the earlier occurrences of the same token. A model with a known ICR answer (the
/// document that shares the query's rare words gets the attention) and, for every other method's tests,
/// a model whose attention is not noise.
/// <para>
/// Construction (llama architecture, the vocabulary of the other synthetic models, whose frequent English
/// words are single tokens): every token embedding is a random unit vector that is zero on the first
/// eight dimensions of each head; with <c>rope.freq_base</c> = 1e38 RoPE rotates only those dimension
/// pairs noticeably (pair i turns by pos x 1e38^(-2i/64), below 0.15 rad for i &gt;= 4 at any position
/// under 8192), so positions barely move the dot products. Q and K are 1.6 x identity: after the RMS norm
/// a token's query and key are its embedding scaled to norm 16 x 1.6, the logit of a token against itself
/// is about 20 and against an unrelated token about 0 +- 3, and the softmax puts almost all the weight on
/// earlier copies of the token (and the token itself). V, the attention output and the feed-forward
/// block are zero, so the residual stream stays the token embedding through every layer and each layer
/// repeats the same attention. The output head is the embedding matrix (tied).
/// </para>
/// </summary>
internal static class MatchModel
{
    /// <summary>The shape's name.</summary>
    public const string ShapeName = "match";

    /// <summary>Scale of the Q and K identity projections.</summary>
    public const float QkScale = 1.6f;

    /// <summary>Leading dimensions of each head left at zero in the embeddings (the pairs RoPE turns).</summary>
    public const int RotatedDimensions = 8;

    /// <summary>Whether <paramref name="shape"/> is the constructed match model.</summary>
    public static bool Is(ModelShape shape) => shape.Name == ShapeName;

    /// <summary>The GGUF description of the file.</summary>
    public static string Description(int seed) =>
        $"FastRank synthetic model 'match' (constructed weights: attention follows repeated tokens; embeddings from seed {seed}); not a trained model.";

    /// <summary>Adds the tensors of the match model to <paramref name="w"/> (metadata already added).</summary>
    public static void AddTensors(GgufWriter w, ModelShape s, int layers, int seed, GgmlType matrixType, IProgress<double>? progress)
    {
        if (s.Heads * s.HeadDim != s.EmbeddingSize || s.KvHeads != s.Heads)
            throw new ArgumentException("the match model needs heads x head_dim = embedding and no grouped KV heads", nameof(s));
        if (!s.TiedEmbeddings) throw new ArgumentException("the match model ties its output head to the embeddings", nameof(s));
        long e = s.EmbeddingSize, ff = s.FeedForward, n = s.VocabSize;
        long all = n * e + layers * (4 * e * e + 3 * e * ff);
        long done = 0;
        void Report(long elems)
        {
            done += elems;
            progress?.Report(all == 0 ? 1 : Math.Min(1.0, (double)done / all));
        }

        w.AddTensor("token_embd.weight", matrixType, [e, n], stream =>
        {
            WriteEmbeddings(stream, matrixType, (int)e, (int)n, s.HeadDim, seed);
            Report(n * e);
        });
        for (int l = 0; l < layers; l++)
        {
            string p = $"blk.{l}.";
            Ones(w, p + "attn_norm.weight", e);
            Identity(w, p + "attn_q.weight", matrixType, e, QkScale, Report);
            Identity(w, p + "attn_k.weight", matrixType, e, QkScale, Report);
            Zeros(w, p + "attn_v.weight", matrixType, e, e, Report);
            Zeros(w, p + "attn_output.weight", matrixType, e, e, Report);
            Ones(w, p + "ffn_norm.weight", e);
            Zeros(w, p + "ffn_gate.weight", matrixType, e, ff, Report);
            Zeros(w, p + "ffn_up.weight", matrixType, e, ff, Report);
            Zeros(w, p + "ffn_down.weight", matrixType, ff, e, Report);
        }
        Ones(w, "output_norm.weight", e);
    }

    private static void Ones(GgufWriter w, string name, long len) =>
        w.AddTensor(name, GgmlType.F32, [len], stream => WriteRows(stream, GgmlType.F32, len, 1, static (_, row) => row.Fill(1f)));

    private static void Zeros(GgufWriter w, string name, GgmlType type, long cols, long rows, Action<long> report) =>
        w.AddTensor(name, type, [cols, rows], stream =>
        {
            WriteRows(stream, type, cols, rows, static (_, row) => row.Clear());
            report(cols * rows);
        });

    private static void Identity(GgufWriter w, string name, GgmlType type, long size, float scale, Action<long> report) =>
        w.AddTensor(name, type, [size, size], stream =>
        {
            WriteRows(stream, type, size, size, (r, row) =>
            {
                row.Clear();
                row[(int)r] = scale;
            });
            report(size * size);
        });

    /// <summary>Unit vectors from a seeded Gaussian, zero on the first <see cref="RotatedDimensions"/> dimensions of each head.</summary>
    private static void WriteEmbeddings(Stream stream, GgmlType type, int e, int n, int headDim, int seed)
    {
        ulong state = 0x9E3779B97F4A7C15UL ^ (ulong)(uint)seed;
        if (state == 0) state = 1;
        WriteRows(stream, type, e, n, (_, row) =>
        {
            double norm = 0;
            for (int i = 0; i < e; i++)
            {
                if (i % headDim < RotatedDimensions)
                {
                    row[i] = 0;
                    continue;
                }
                double g = Gaussian(ref state);
                row[i] = (float)g;
                norm += g * g;
            }
            float inv = (float)(1 / Math.Sqrt(norm));
            for (int i = 0; i < e; i++) row[i] *= inv;
        });
    }

    private static double Gaussian(ref ulong state)
    {
        // Box-Muller on xorshift64*: the same values on every platform.
        double u1 = Math.Max(Uniform(ref state), 1e-300), u2 = Uniform(ref state);
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static double Uniform(ref ulong state)
    {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return ((state * 2685821657736338717UL) >> 11) * (1.0 / (1UL << 53));
    }

    private delegate void RowFiller(long row, Span<float> values);

    private static void WriteRows(Stream stream, GgmlType type, long cols, long rows, RowFiller fill)
    {
        var f = new float[cols];
        var h = type == GgmlType.F16 ? new Half[cols] : null;
        for (long r = 0; r < rows; r++)
        {
            fill(r, f);
            if (h is null)
            {
                stream.Write(MemoryMarshal.AsBytes(f.AsSpan()));
            }
            else
            {
                for (int i = 0; i < f.Length; i++) h[i] = (Half)f[i];
                stream.Write(MemoryMarshal.AsBytes(h.AsSpan()));
            }
        }
    }
}
