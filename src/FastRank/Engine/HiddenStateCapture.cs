using System.Runtime.CompilerServices;

namespace FastRank.Engine;

/// <summary>
/// Reads the final normalized hidden state of every output token of a decode out of llama.cpp's graph,
/// through the eval callback (<c>cb_eval</c>) of the context: the node named <c>result_norm</c>, which
/// llama.cpp's model graphs name after the output norm and hand to the LM head (and, in embedding contexts,
/// to pooling as <c>t_embd</c>). It holds one row of n_embd floats per output token, in the order of the
/// micro-batch's outputs.
/// <para>
/// Why not llama.cpp's own embeddings output: with <c>cparams.embeddings</c> on, llama_decode marks every
/// token of every batch as an output (<c>output_all</c> in llama_context::decode), so the LM head and the
/// copies would run for every token, not only the last of each document. The callback asks for
/// <c>result_norm</c> alone: the graph is evaluated up to that node, with the same operations in the same order,
/// and only the output rows are copied. The callback then answers false, which ends the graph's evaluation
/// there (ggml_backend_sched_compute_splits stops at a callback's false): the LM head, n_vocab rows (151,936 x
/// n_embd for Qwen3) multiplied for every output token, is never run, and the context's logits are left unset
/// (<see cref="InferenceContext.Logits"/> refuses to read them).
/// </para>
/// Not thread-safe: one decode at a time, as the context itself.
/// </summary>
internal sealed unsafe class HiddenStateCapture : IEvalHandler
{
    private readonly int _embd;
    private float[] _rows;
    private int _rowCount;
    private int _seen;
    private string? _failure;

    public HiddenStateCapture(int embeddingSize, int maxRows)
    {
        GgmlTensor.VerifyLayout();
        _embd = embeddingSize;
        _rows = GC.AllocateUninitializedArray<float>(embeddingSize * Math.Max(1, maxRows));
    }

    /// <summary>Rows captured by the last decode.</summary>
    public int RowCount => _rowCount;

    /// <summary>Forgets the previous decode's rows; called before each decode.</summary>
    public void Begin()
    {
        _rowCount = 0;
        _seen = 0;
        _failure = null;
    }

    /// <summary>
    /// Checks what the last decode captured against the <paramref name="outputs"/> rows it asked for: exactly one
    /// <c>result_norm</c> node (one micro-batch) of that many rows.
    /// </summary>
    /// <exception cref="DecodeException">The graph had no such node, several micro-batches, or another shape.</exception>
    public void Verify(int outputs)
    {
        if (_failure is { } f) throw new DecodeException($"the hidden-state readout failed: {f}", -1);
        if (outputs == 0) return;
        if (_seen == 0)
            throw new DecodeException("the model's graph has no result_norm node: the final hidden state cannot be read from this architecture", -1);
        if (_seen > 1)
            throw new DecodeException($"llama_decode evaluated the batch as {_seen} micro-batches; hidden-state rows cannot be mapped to tokens", -1);
        if (_rowCount != outputs)
            throw new DecodeException($"result_norm held {_rowCount} rows for {outputs} requested outputs", -1);
    }

    /// <summary>Row <paramref name="row"/> (0-based among the decode's outputs, in batch order).</summary>
    public ReadOnlySpan<float> Row(int row) => _rows.AsSpan(row * _embd, _embd);

    /// <inheritdoc/>
    public bool Eval(GgmlTensor t, bool ask)
    {
        bool wanted = t.NameBytes.SequenceEqual("result_norm"u8);
        if (ask) return wanted;
        if (!wanted) return true;
        Copy(t);
        // Stop the graph here: what follows result_norm is the LM head, whose logits nobody reads.
        return false;
    }

    /// <inheritdoc/>
    public void Fail(string message) => _failure ??= message;

    [SkipLocalsInit]
    private void Copy(GgmlTensor t)
    {
        _seen++;
        long rows = t.Ne(1);
        if (t.Type != 0 || t.Ne(0) != _embd || t.Ne(2) != 1 || t.Ne(3) != 1 || t.Nb(0) != 4)
        {
            _failure ??= $"result_norm has type {t.Type} and shape [{t.Ne(0)}, {t.Ne(1)}, {t.Ne(2)}, {t.Ne(3)}], not f32 [{_embd}, rows]";
            return;
        }
        if (rows * _embd > _rows.Length) _rows = GC.AllocateUninitializedArray<float>((int)(rows * _embd));
        _rowCount = (int)rows;
        long rowBytes = 4L * _embd;
        fixed (float* dst = _rows)
        {
            bool host = t.IsHost;
            for (long r = 0; r < rows; r++)
            {
                long offset = r * t.Nb(1);
                if (host)
                    Buffer.MemoryCopy((byte*)t.Data + offset, dst + r * _embd, rowBytes, rowBytes);
                else
                    AttentionNative.ggml_backend_tensor_get(t.Pointer, dst + r * _embd, (nuint)offset, (nuint)rowBytes);
            }
        }
    }
}
