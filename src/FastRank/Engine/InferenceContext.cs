using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastRank.Diagnostics;
using FastRank.Interop;
using LLama.Extensions;
using LLama.Native;

namespace FastRank.Engine;

/// <summary>How an <see cref="InferenceContext"/> is laid out.</summary>
/// <param name="Sequences">Parallel sequences (n_seq_max); each gets its own KV stream.</param>
/// <param name="CellsPerSequence">KV cells of each stream: the longest prompt a sequence can hold.</param>
/// <param name="BatchSize">Most tokens one llama_decode call takes (n_batch).</param>
/// <param name="MicroBatchSize">Most tokens one graph evaluation takes (n_ubatch).</param>
/// <param name="FlashAttention">Flash attention on (fast) or off (needed to read attention probabilities).</param>
/// <param name="Threads">CPU threads for decoding.</param>
internal sealed record ContextConfig(int Sequences, int CellsPerSequence, int BatchSize, int MicroBatchSize, bool FlashAttention, int Threads)
{
    /// <summary>Optional llama.cpp eval callback (ggml_backend_sched_eval_callback) and its user data.</summary>
    public IntPtr EvalCallback { get; init; }

    /// <summary>User data passed to <see cref="EvalCallback"/>.</summary>
    public IntPtr EvalUserData { get; init; }

    /// <summary>
    /// Capture the final normalized hidden state of every output token (<see cref="InferenceContext.HiddenState"/>),
    /// through the eval callback (<see cref="HiddenStateCapture"/>), instead of logits: the graph stops before the
    /// LM head. Not together with <see cref="EvalCallback"/>.
    /// </summary>
    public bool HiddenStates { get; init; }

    /// <summary>
    /// Sequences reserved for the prefix cache (0 or at least 2): 3 by default, a head entry and two query
    /// entries. A method that manages its sequences itself (ICR) asks for none.
    /// </summary>
    public int PrefixSlots { get; init; } = 3;

    /// <summary>
    /// With flash attention on, compute the attention of runs shorter than 64 rows exactly (<see cref="ShortRunAttention"/>)
    /// where the model allows, instead of decoding every run at 64 rows or more (see <see cref="InferenceContext.MinimumRun"/>);
    /// <see cref="Ranking.RerankerOptions.ExactShortRunAttention"/>.
    /// </summary>
    public bool ExactShortRuns { get; init; }
}

/// <summary>
/// One llama.cpp context with many parallel sequences, one KV stream per sequence (kv_unified off, so a
/// sequence's results never depend on what else shares a batch), and a reusable native batch. Not
/// thread-safe: one caller at a time (the reranker serializes access).
/// </summary>
internal sealed unsafe class InferenceContext : IDisposable
{
    private readonly SafeLLamaContextHandle _handle;
    private readonly IntPtr _ctx;
    private readonly IntPtr _mem;
    private readonly int* _token;
    private readonly int* _pos;
    private readonly int* _nSeq;
    private readonly int** _seqIds;
    private readonly int* _seqStore;
    private readonly sbyte* _logits;
    private readonly int* _abortFlag;
    private readonly HiddenStateCapture? _hidden;
    private readonly ShortRunAttention? _shortRuns;
    private readonly EvalCallbacks? _callbacks;
    private readonly int[]? _outputRow;
    private readonly int[] _promptEnd;
    private int _count;
    private bool _disposed;

    public InferenceContext(LlamaModel model, ContextConfig config)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        Config = config;
        if (config.CellsPerSequence % 256 != 0) throw new ArgumentException("cells per sequence must be a multiple of 256", nameof(config));
        // llama.cpp allocates the KV cache with the process's allocator: on Linux that succeeds beyond the memory there
        // is (overcommit) and the process is killed later, when the pages are touched. Refuse a cache that cannot fit
        // (with a tenth of the memory left for the weights, compute buffers and the rest of the process).
        long kvBytes = (long)config.Sequences * config.CellsPerSequence * model.KvBytesPerCell;
        if (AvailableMemory.Bytes() is { } available && kvBytes > available / 10 * 9)
            throw new ModelLoadException($"a context of {config.Sequences} sequences x {config.CellsPerSequence} cells needs {kvBytes / 1e6:F0} MB of KV cache, " +
                $"more than the {available / 1e6:F0} MB of memory available; lower the parallel sequences, the token budgets or the context size");
        var mp = new LLama.Common.ModelParams(model.Path)
        {
            ContextSize = (uint)(config.Sequences * config.CellsPerSequence),
            BatchSize = (uint)config.BatchSize,
            UBatchSize = (uint)config.MicroBatchSize,
            SeqMax = (uint)config.Sequences,
            Threads = config.Threads,
            BatchThreads = config.Threads,
            FlashAttention = config.FlashAttention,
            KVUnified = false,
        };
        mp.ToLlamaContextParams(out LLamaContextParams cp);
        // Token logits, never pooled embeddings: llama.cpp's converter marks Qwen3-Reranker GGUFs pooling RANK,
        // which would otherwise turn the context into an embedding context without per-token logits.
        cp.llama_pooling_type = LLamaPoolingType.None;
        cp.embeddings = false;
        cp.cb_eval = config.EvalCallback;
        cp.cb_eval_user_data = config.EvalUserData;
        if (config.HiddenStates)
        {
            if (config.EvalCallback != IntPtr.Zero) throw new ArgumentException("hidden states are read through the eval callback: a context cannot have both", nameof(config));
            _hidden = new HiddenStateCapture(model.EmbeddingSize, Math.Min(config.BatchSize, 64));
            _outputRow = new int[config.BatchSize];
        }
        if (config.FlashAttention && config.ExactShortRuns && config.EvalCallback == IntPtr.Zero && ShortRunAttention.IsSupported(model))
            _shortRuns = new ShortRunAttention(this);
        // With flash attention on, llama.cpp's CPU kernels take the same path as for a whole prompt only from 64 rows of a
        // sequence (the tiled kernel: f32 Q, 64-cell KV tiles; shorter runs take a per-row kernel that rounds Q to f16),
        // unless ShortRunAttention recomputes the short runs' attention; with it off, only a lone token takes other
        // matrix kernels.
        MinimumRun = config.FlashAttention && _shortRuns is null ? ShortRunAttention.TiledRows : 2;
        MinimumPrefix = config.FlashAttention ? ShortRunAttention.TiledRows : 2;
        if (_hidden is not null || _shortRuns is not null)
        {
            _callbacks = new EvalCallbacks([.. new IEvalHandler?[] { _shortRuns, _hidden }.OfType<IEvalHandler>()]);
            cp.cb_eval = EvalCallbacks.CallbackPointer;
            cp.cb_eval_user_data = _callbacks.UserData;
        }
        cp.no_perf = true;
        try
        {
            _handle = SafeLLamaContextHandle.Create(model.Weights.NativeHandle, cp);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            DisposeCallbacks();
            throw new ModelLoadException(
                $"llama.cpp could not create a context of {config.Sequences} sequences x {config.CellsPerSequence} cells: {ex.Message}", ex);
        }
        if (_handle.IsInvalid)
        {
            // llama.cpp refused the parameters (it logs why, e.g. n_seq_max above its limit) and returned no context:
            // every native call on it would crash the process.
            _handle.Dispose();
            DisposeCallbacks();
            throw new ModelLoadException($"llama.cpp could not create a context of {config.Sequences} sequences x {config.CellsPerSequence} cells " +
                $"(micro-batch {config.MicroBatchSize}, flash attention {(config.FlashAttention ? "on" : "off")}); its log says why");
        }
        _ctx = _handle.DangerousGetHandle();
        _promptEnd = new int[config.Sequences];
        _mem = LlamaNative.llama_get_memory(_ctx);
        int cap = config.BatchSize;
        _token = (int*)NativeMemory.Alloc((nuint)cap, sizeof(int));
        _pos = (int*)NativeMemory.Alloc((nuint)cap, sizeof(int));
        _nSeq = (int*)NativeMemory.Alloc((nuint)cap, sizeof(int));
        _seqIds = (int**)NativeMemory.Alloc((nuint)cap, (nuint)sizeof(int*));
        _seqStore = (int*)NativeMemory.Alloc((nuint)cap, sizeof(int));
        _logits = (sbyte*)NativeMemory.Alloc((nuint)cap, sizeof(sbyte));
        _abortFlag = (int*)NativeMemory.AllocZeroed(sizeof(int));
        for (int i = 0; i < cap; i++)
        {
            _nSeq[i] = 1;
            _seqIds[i] = _seqStore + i;
        }
        LlamaNative.llama_set_abort_callback(_ctx, &AbortCallback, (IntPtr)_abortFlag);
    }

    public LlamaModel Model { get; }

    /// <summary>
    /// Fewest tokens of one sequence in a micro-batch for which results are identical to a lone decode of the prompt
    /// (see <see cref="SequenceBatcher"/>): 64 with flash attention on and llama.cpp's own kernels, otherwise 2.
    /// </summary>
    public int MinimumRun { get; }

    /// <summary>
    /// Fewest tokens of a cached prefix that another prompt may continue: 64 with flash attention on, since llama.cpp
    /// decodes a whole prompt shorter than that on its per-row attention kernel (which <see cref="ShortRunAttention"/>
    /// leaves alone for such prompts), otherwise 2.
    /// </summary>
    public int MinimumPrefix { get; }

    /// <summary>The exact attention of short runs, when this context computes it (null otherwise).</summary>
    internal ShortRunAttention? ShortRuns => _shortRuns;

    public ContextConfig Config { get; }

    /// <summary>The llama_context pointer (for the eval callback's bookkeeping).</summary>
    public IntPtr NativeContext => _ctx;

    public int BatchCount => _count;

    /// <summary>llama_decode calls made so far (for usage statistics).</summary>
    public long DecodeCalls { get; private set; }

    /// <summary>Tokens evaluated by those calls (cached tokens re-decoded to lengthen a run included).</summary>
    public long DecodedTokens { get; private set; }

    public int BatchFree => Config.BatchSize - _count;

    /// <summary>Positions of the tokens in the batch (an eval callback maps attention rows to tokens with it while <see cref="Decode"/> runs).</summary>
    public ReadOnlySpan<int> BatchPositions => new(_pos, _count);

    /// <summary>Sequence ids of the tokens in the batch (read by an eval callback while <see cref="Decode"/> runs).</summary>
    public ReadOnlySpan<int> BatchSequences => new(_seqStore, _count);

    public void BatchClear() => _count = 0;

    /// <summary>
    /// Declares that the prompt of sequence <paramref name="seq"/> ends at position <paramref name="end"/> (exclusive)
    /// while its tokens are decoded, possibly over several calls (0: not declared). <see cref="ShortRunAttention"/>
    /// reproduces the tiled attention kernel only for prompts that a lone decode takes through it.
    /// </summary>
    public void SetPromptEnd(int seq, int end)
    {
        if ((uint)seq < (uint)_promptEnd.Length) _promptEnd[seq] = end;
    }

    /// <summary>The declared end of sequence <paramref name="seq"/>'s prompt (0 when not declared).</summary>
    public int PromptEnd(int seq) => (uint)seq < (uint)_promptEnd.Length ? _promptEnd[seq] : 0;

    /// <summary>Appends one token; returns its index in the batch (the index for <see cref="Logits"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BatchAdd(int token, int pos, int seq, bool logits)
    {
        int i = _count;
        if (i >= Config.BatchSize) ThrowBatchFull();
        _token[i] = token;
        _pos[i] = pos;
        _seqStore[i] = seq;
        _logits[i] = logits ? (sbyte)1 : (sbyte)0;
        _count = i + 1;
        return i;
    }

    private static void ThrowBatchFull() => throw new InvalidOperationException("batch is full");

    /// <summary>Evaluates the batch. Cancellation aborts a running evaluation between graph nodes.</summary>
    /// <exception cref="OperationCanceledException">Cancelled; the sequences in the batch must be treated as garbage.</exception>
    /// <exception cref="DecodeException">llama.cpp failed.</exception>
    public void Decode(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_count == 0) return;
        ct.ThrowIfCancellationRequested();
        var batch = new LlamaBatchNative
        {
            NTokens = _count,
            Token = _token,
            Embd = null,
            Pos = _pos,
            NSeqId = _nSeq,
            SeqId = _seqIds,
            Logits = _logits,
        };
        Volatile.Write(ref *_abortFlag, 0);
        DecodeCalls++;
        DecodedTokens += _count;
        _hidden?.Begin();
        int status;
        using (ct.CanBeCanceled ? ct.UnsafeRegister(static s => Volatile.Write(ref *(int*)(IntPtr)s!, 1), (IntPtr)_abortFlag) : default)
            status = LlamaNative.llama_decode(_ctx, batch);
        if (status == 0)
        {
            _shortRuns?.ThrowIfFailed();
            if (_hidden is not null) MapHiddenRows();
            return;
        }
        if (status == 2 || ct.IsCancellationRequested) throw new OperationCanceledException("decoding was cancelled", ct);
        throw new DecodeException(status == 1
            ? $"llama.cpp found no KV cache slot for a batch of {_count} tokens"
            : $"llama_decode failed with status {status} on a batch of {_count} tokens", status);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte AbortCallback(IntPtr data) => Volatile.Read(ref *(int*)data) != 0 ? (byte)1 : (byte)0;

    /// <summary>The logits row of batch index <paramref name="index"/> (valid until the next decode).</summary>
    /// <exception cref="InvalidOperationException">A context of <see cref="ContextConfig.HiddenStates"/>: it never runs the LM head.</exception>
    public ReadOnlySpan<float> Logits(int index)
    {
        if (_hidden is not null) throw new InvalidOperationException("this context reads hidden states: its graph stops before the LM head, so it has no logits");
        float* p = LlamaNative.llama_get_logits_ith(_ctx, index);
        if (p is null) throw new InvalidOperationException($"no logits for batch index {index}");
        return new ReadOnlySpan<float>(p, Model.VocabSize);
    }

    /// <summary>
    /// The final normalized hidden state (the LM head's input) of batch index <paramref name="index"/>, which must
    /// have asked for logits (valid until the next decode). Needs <see cref="ContextConfig.HiddenStates"/>.
    /// </summary>
    public ReadOnlySpan<float> HiddenState(int index)
    {
        if (_hidden is null) throw new InvalidOperationException("this context was created without hidden-state capture");
        if ((uint)index >= (uint)_count || _outputRow![index] < 0) throw new InvalidOperationException($"no hidden state for batch index {index}");
        return _hidden.Row(_outputRow[index]);
    }

    /// <summary>
    /// Maps batch indices to rows of the captured hidden states. llama.cpp evaluates one micro-batch per call here
    /// (the <see cref="SequenceBatcher"/> plans them so) with the sequences in batch order, so the j-th output row
    /// is the j-th token that asked for logits.
    /// </summary>
    private void MapHiddenRows()
    {
        int outputs = 0;
        for (int i = 0; i < _count; i++) _outputRow![i] = _logits[i] != 0 ? outputs++ : -1;
        _hidden!.Verify(outputs);
    }

    /// <summary>Removes every cell of a sequence.</summary>
    public void Clear(int seq) => LlamaNative.llama_memory_seq_rm(_mem, seq, -1, -1);

    /// <summary>Removes the cells of a sequence from position <paramref name="from"/> on.</summary>
    public void Truncate(int seq, int from) => LlamaNative.llama_memory_seq_rm(_mem, seq, from, -1);

    /// <summary>Replaces sequence <paramref name="dst"/> with a copy of the whole of <paramref name="src"/> (a full-stream copy).</summary>
    public void CopyAll(int src, int dst)
    {
        LlamaNative.llama_memory_seq_rm(_mem, dst, -1, -1);
        LlamaNative.llama_memory_seq_cp(_mem, src, dst, -1, -1);
    }

    /// <summary>Empties the whole KV cache.</summary>
    public void ClearAll() => LlamaNative.llama_memory_clear(_mem, true);

    /// <summary>Largest position held by a sequence, or -1 when it is empty.</summary>
    public int MaxPosition(int seq) => LlamaNative.llama_memory_seq_pos_max(_mem, seq);

    private void DisposeCallbacks()
    {
        _callbacks?.Dispose();
        _shortRuns?.Dispose();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _handle.Dispose();
        DisposeCallbacks();
        NativeMemory.Free(_token);
        NativeMemory.Free(_pos);
        NativeMemory.Free(_nSeq);
        NativeMemory.Free(_seqIds);
        NativeMemory.Free(_seqStore);
        NativeMemory.Free(_logits);
        NativeMemory.Free(_abortFlag);
    }
}
