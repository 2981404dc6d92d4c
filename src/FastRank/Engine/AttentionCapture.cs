using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastRank.Kernels;

namespace FastRank.Engine;

/// <summary>
/// Attention received by each KV cell of one sequence during a capture: the sum over layers, heads and
/// the captured query rows of the attention probability, indexed by KV cell of the sequence's stream
/// (which <see cref="AttentionCapture"/> verifies to be the token position).
/// </summary>
internal sealed class SequenceAttention(int cells)
{
    /// <summary>Per-cell sums (length: the context's cells per sequence).</summary>
    public float[] Cells { get; } = new float[cells];

    /// <summary>Query rows captured (each counted once, not per layer).</summary>
    public int Rows { get; set; }

    /// <summary>Smallest position among the captured rows (int.MaxValue when none).</summary>
    public int FirstPosition { get; set; } = int.MaxValue;

    /// <summary>Largest position among the captured rows (-1 when none).</summary>
    public int LastPosition { get; set; } = -1;

    public void Reset()
    {
        Array.Clear(Cells);
        Rows = 0;
        FirstPosition = int.MaxValue;
        LastPosition = -1;
    }
}

/// <summary>
/// Reads attention probabilities out of llama.cpp's own graph through the eval callback
/// (<c>cb_eval</c>) of one context, which must have flash attention off (only then does the graph
/// hold the <c>kq_soft_max-L</c> nodes: f32, ne = [n_kv, n_rows, n_head, n_stream]).
/// <para>
/// Outside a capture the callback asks for no tensor, so decoding runs as one graph at full speed.
/// During a capture it asks only for the <c>kq_soft_max-L</c> nodes (by name and op) and, as each one
/// is computed, adds the rows of tokens at or after the capture's first position to their sequence's
/// per-cell sums (<see cref="AttentionReduction"/>), reading the tensor in place.
/// </para>
/// <para>
/// Rows, streams and cells. Every llama_decode of the context must be one micro-batch (the
/// <see cref="SequenceBatcher"/> plans them so); the callback checks that the tensor's rows x streams
/// equal the batch's tokens, and that the batch lists, stream after stream, runs of consecutive
/// positions of consecutive sequence ids: stream s of the tensor is then the s-th sequence of the batch
/// and row r its r-th token. Cell c of a stream is mapped to position c, and this is verified, not
/// assumed: on every micro-batch (captured or not) the callback reads the attention mask (the softmax's
/// second source, already filled when the callback is first asked, so reading it costs no graph split)
/// and requires that the row of the token at position p sees exactly the cells 0..p and no other cell
/// up to n_kv (padding and cells of removed tokens included). As every token of every sequence of the
/// context passes this check when it is decoded, and positions grow by one from 0, the cells of
/// positions 0..p are exactly the cells 0..p at every step, hence cell(p) = p for every cached token,
/// whatever cells the cache reused or copied. Any deviation (a split micro-batch, a sliding-window or
/// ALiBi mask, cells out of order) is reported as an <see cref="AttentionLayoutException"/> by
/// <see cref="ThrowIfFailed"/> instead of a wrong score.
/// </para>
/// Not thread-safe: one decode at a time, as the context itself.
/// </summary>
internal sealed unsafe class AttentionCapture : IDisposable
{
    private const int MaxStreams = 256;
    private const uint F32Zero = 0u, F32NegZero = 0x8000_0000u, F32NegInf = 0xFF80_0000u;
    private const ushort F16Zero = 0, F16NegZero = 0x8000, F16NegInf = 0xFC00;

    private GCHandle _self;
    private readonly Dictionary<int, bool> _softmaxOps = [];
    private int _softmaxOp = -1;
    private InferenceContext? _ctx;
    private SequenceAttention?[] _seqs = [];
    private bool[] _layerSeen = [];
    private int _layers;

    private bool _capturing;
    private int _fromPosition;

    // The micro-batch being evaluated.
    private long _ubatchDecode = -1;
    private int _lastLayerAsked = -1;
    private int _streams;
    private int _rowsPerStream;
    private readonly int[] _streamSeq = new int[MaxStreams];
    private readonly int[] _streamRow0 = new int[MaxStreams];
    private bool _wantUbatch;
    private int _layersReduced;
    private float[] _scratch = [];
    private CudaAttentionAccumulator? _deviceSums;
    private string? _deviceFailure;

    private string? _failure;

    public AttentionCapture() => _self = GCHandle.Alloc(this, GCHandleType.Weak);

    /// <summary>The callback to put in <see cref="ContextConfig.EvalCallback"/>.</summary>
    public static IntPtr CallbackPointer => (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, byte, IntPtr, byte>)&OnEval;

    /// <summary>The user data to put in <see cref="ContextConfig.EvalUserData"/>.</summary>
    public IntPtr UserData => GCHandle.ToIntPtr(_self);

    /// <summary>
    /// When false, a capture asks for no tensor (the query passes run the callback at full speed and
    /// capture nothing); for measuring the capture's own cost.
    /// </summary>
    public bool ReadoutEnabled { get; set; } = true;

    /// <summary>Micro-batches whose mask was verified since creation.</summary>
    public long VerifiedMicroBatches { get; private set; }

    /// <summary>Mask rows verified since creation.</summary>
    public long VerifiedRows { get; private set; }

    /// <summary>Layer tensors reduced since creation.</summary>
    public long ReducedTensors { get; private set; }

    /// <summary>Binds the capture to the context whose callback it is (the context must have been created with it).</summary>
    public void Attach(InferenceContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        if (ReferenceEquals(_ctx, ctx)) return;
        if (ctx.Config.EvalCallback != CallbackPointer || ctx.Config.EvalUserData != UserData)
            throw new ArgumentException("the context was not created with this capture's callback", nameof(ctx));
        if (ctx.Config.FlashAttention) throw new ArgumentException("attention can only be read with flash attention off", nameof(ctx));
        _ctx = ctx;
        _seqs = new SequenceAttention?[ctx.Config.Sequences];
        _layers = ctx.Model.LayerCount;
        _layerSeen = new bool[_layers];
        _ubatchDecode = -1;
    }

    /// <summary>
    /// Starts a capture: from now on the rows of tokens at position <paramref name="fromPosition"/> or
    /// later are summed into their sequence's <see cref="SequenceAttention"/> (cleared here).
    /// </summary>
    public void BeginCapture(int fromPosition)
    {
        if (_ctx is null) throw new InvalidOperationException("attach the capture to its context first");
        ArgumentOutOfRangeException.ThrowIfNegative(fromPosition);
        foreach (var s in _seqs) s?.Reset();
        _fromPosition = fromPosition;
        _capturing = true;
        _ubatchDecode = -1;
    }

    /// <summary>Ends the capture started by <see cref="BeginCapture"/>.</summary>
    public void EndCapture()
    {
        FinishMicroBatch();
        _capturing = false;
        _wantUbatch = false;
        _ubatchDecode = -1;
    }

    /// <summary>The sums of sequence <paramref name="seq"/> from the last capture (null when it had no captured row).</summary>
    public SequenceAttention? Result(int seq) => (uint)seq < (uint)_seqs.Length && _seqs[seq] is { Rows: > 0 } r ? r : null;

    /// <summary>Throws (once) what went wrong inside the callback since the last call.</summary>
    /// <exception cref="AttentionLayoutException">A micro-batch, mask or tensor did not have the verified layout.</exception>
    public void ThrowIfFailed()
    {
        if (_failure is not { } f) return;
        _failure = null;
        throw new AttentionLayoutException(f);
    }

    /// <summary>Forgets the micro-batch state (after an aborted decode).</summary>
    public void Reset()
    {
        _ubatchDecode = -1;
        _wantUbatch = false;
        _capturing = false;
        _failure = null;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnEval(IntPtr tensor, byte ask, IntPtr userData)
    {
        bool asking = ask != 0;
        AttentionCapture? self = null;
        try
        {
            self = GCHandle.FromIntPtr(userData).Target as AttentionCapture;
            if (self is null) return asking ? (byte)0 : (byte)1;
            return self.Eval(new GgmlTensor(tensor), asking) ? (byte)1 : (byte)0;
        }
        catch (Exception ex)
        {
            // Nothing may unwind into native code: remember it, finish the graph, throw after the decode.
            if (self is not null) self.Fail($"{ex.GetType().Name} in the attention callback: {ex.Message}");
            return asking ? (byte)0 : (byte)1;
        }
    }

    private bool Eval(GgmlTensor t, bool ask)
    {
        // With ask = false the return value means "continue"; with ask = true, "I want this tensor's data".
        if (_ctx is null) return !ask;
        int op = t.Op;
        if (_softmaxOp >= 0 && op != _softmaxOp) return !ask;
        int layer = AttentionNames.Layer(t.NameBytes, AttentionNames.SoftmaxPrefix);
        if (layer < 0) return !ask;
        if (_softmaxOp < 0)
        {
            if (!AttentionNames.IsOp(op, "SOFT_MAX", _softmaxOps)) return !ask;
            _softmaxOp = op;
        }
        if (ask)
        {
            if (_ctx.DecodeCalls != _ubatchDecode)
            {
                StartMicroBatch(t);
            }
            else if (layer <= _lastLayerAsked)
            {
                Fail($"llama_decode evaluated a batch of {_ctx.BatchCount} tokens as several micro-batches; attention rows cannot be mapped to tokens");
                _wantUbatch = false;
            }
            _lastLayerAsked = layer;
            return _wantUbatch && _failure is null;
        }
        if (_wantUbatch && _failure is null) Reduce(t, layer);
        return true;
    }

    private void StartMicroBatch(GgmlTensor t)
    {
        FinishMicroBatch();
        var ctx = _ctx!;
        _ubatchDecode = ctx.DecodeCalls;
        _lastLayerAsked = -1;
        _wantUbatch = false;
        _layersReduced = 0;
        Array.Clear(_layerSeen);

        long cells = t.Ne(0), rows = t.Ne(1), streams = t.Ne(3);
        var pos = ctx.BatchPositions;
        var seq = ctx.BatchSequences;
        if (t.Type != 0)
        {
            Fail($"kq_soft_max has ggml type {t.Type}, not f32");
            return;
        }
        if (streams < 1 || streams > MaxStreams || rows * streams != pos.Length)
        {
            Fail($"llama_decode evaluated a batch of {pos.Length} tokens as a micro-batch of {rows} rows x {streams} streams; attention rows cannot be mapped to tokens");
            return;
        }
        _streams = (int)streams;
        _rowsPerStream = (int)rows;
        for (int s = 0; s < _streams; s++)
        {
            int first = s * _rowsPerStream;
            int sq = seq[first];
            if (s > 0 && sq != _streamSeq[s - 1] + 1)
            {
                Fail($"the batch's sequences are not consecutive ({_streamSeq[s - 1]} then {sq})");
                return;
            }
            _streamSeq[s] = sq;
            for (int r = 1; r < _rowsPerStream; r++)
            {
                if (seq[first + r] != sq || pos[first + r] != pos[first] + r)
                {
                    Fail("the batch is not laid out as runs of consecutive positions, one sequence after another");
                    return;
                }
            }
        }
        if (!VerifyMask(t.Src(1), cells, pos)) return;
        VerifiedMicroBatches++;

        if (!_capturing || !ReadoutEnabled) return;
        for (int s = 0; s < _streams; s++)
        {
            int p0 = pos[s * _rowsPerStream];
            int r0 = Math.Clamp(_fromPosition - p0, 0, _rowsPerStream);
            _streamRow0[s] = r0;
            if (r0 == _rowsPerStream) continue;
            int sq = _streamSeq[s];
            if ((uint)sq >= (uint)_seqs.Length)
            {
                Fail($"sequence {sq} is outside the context's {_seqs.Length} sequences");
                return;
            }
            if (cells > ctx.Config.CellsPerSequence)
            {
                Fail($"n_kv = {cells} exceeds the {ctx.Config.CellsPerSequence} cells of a sequence");
                return;
            }
            var acc = _seqs[sq] ??= new SequenceAttention(ctx.Config.CellsPerSequence);
            acc.Rows += _rowsPerStream - r0;
            acc.FirstPosition = Math.Min(acc.FirstPosition, p0 + r0);
            acc.LastPosition = Math.Max(acc.LastPosition, p0 + _rowsPerStream - 1);
            _wantUbatch = true;
        }
    }

    private void FinishMicroBatch()
    {
        if (_wantUbatch && _failure is null && _layersReduced != _layers)
            Fail($"attention of {_layersReduced} of {_layers} layers was seen in a micro-batch (a layer without kq_soft_max?)");
        _wantUbatch = false;
    }

    /// <summary>Checks that the row of the token at position p sees exactly the cells 0..p of its stream.</summary>
    private bool VerifyMask(GgmlTensor mask, long cells, ReadOnlySpan<int> pos)
    {
        if (mask.IsNull)
        {
            Fail("kq_soft_max has no mask source");
            return false;
        }
        int type = mask.Type;
        if (type is not (0 or 1) || mask.Ne(0) != cells || mask.Ne(1) < _rowsPerStream || mask.Ne(3) != _streams && mask.Ne(3) != 1)
        {
            Fail($"unexpected attention mask: type {type}, ne [{mask.Ne(0)}, {mask.Ne(1)}, {mask.Ne(2)}, {mask.Ne(3)}] for {cells} cells, {_rowsPerStream} rows, {_streams} streams");
            return false;
        }
        bool host = mask.IsHost;
        int n = (int)cells;
        int elem = type == 0 ? 4 : 2;
        if (!host && _scratch.Length < n) _scratch = new float[n];
        for (int s = 0; s < _streams; s++)
        {
            long streamOffset = mask.Ne(3) == 1 ? 0 : s * mask.Nb(3);
            for (int r = 0; r < _rowsPerStream; r++)
            {
                int p = pos[s * _rowsPerStream + r];
                if (p < 0 || p >= n)
                {
                    Fail($"position {p} is outside the {n} cells the micro-batch attends to");
                    return false;
                }
                long offset = streamOffset + r * mask.Nb(1);
                bool ok;
                if (mask.Nb(0) != elem)
                {
                    Fail("the attention mask is not contiguous along cells");
                    return false;
                }
                fixed (float* scratch = _scratch)
                {
                    byte* row;
                    if (host)
                    {
                        row = (byte*)mask.Data + offset;
                    }
                    else
                    {
                        AttentionNative.ggml_backend_tensor_get(mask.Pointer, scratch, (nuint)offset, (nuint)(n * elem));
                        row = (byte*)scratch;
                    }
                    ok = type == 0 ? RowIsCausalPrefix(new ReadOnlySpan<uint>(row, n), p) : RowIsCausalPrefix(new ReadOnlySpan<ushort>(row, n), p);
                }
                if (!ok)
                {
                    Fail($"the attention mask row of the token at position {p} (stream {s}) does not see exactly the cells 0..{p}: " +
                        "KV cells are not in position order (or the model masks attention by window)");
                    return false;
                }
            }
        }
        VerifiedRows += (long)_streams * _rowsPerStream;
        return true;
    }

    private static bool RowIsCausalPrefix(ReadOnlySpan<uint> bits, int p) =>
        bits[..(p + 1)].IndexOfAnyExcept(F32Zero, F32NegZero) < 0 && bits[(p + 1)..].IndexOfAnyExcept(F32NegInf) < 0;

    private static bool RowIsCausalPrefix(ReadOnlySpan<ushort> bits, int p) =>
        bits[..(p + 1)].IndexOfAnyExcept(F16Zero, F16NegZero) < 0 && bits[(p + 1)..].IndexOfAnyExcept(F16NegInf) < 0;

    [SkipLocalsInit]
    private void Reduce(GgmlTensor t, int layer)
    {
        if (layer >= _layers || _layerSeen[layer])
        {
            Fail($"kq_soft_max-{layer} seen {(layer >= _layers ? "beyond the model's layers" : "twice")} in one micro-batch");
            return;
        }
        _layerSeen[layer] = true;
        _layersReduced++;
        ReducedTensors++;
        if (t.Ne(1) != _rowsPerStream || t.Ne(3) != _streams)
        {
            Fail($"kq_soft_max-{layer} has another shape than layer 0's");
            return;
        }
        Span<long> ne = stackalloc long[4];
        Span<long> nb = stackalloc long[4];
        for (int i = 0; i < 4; i++)
        {
            ne[i] = t.Ne(i);
            nb[i] = t.Nb(i);
        }
        bool host = t.IsHost;
        for (int s = 0; s < _streams; s++)
        {
            int r0 = _streamRow0[s];
            if (r0 >= _rowsPerStream) continue;
            var acc = _seqs[_streamSeq[s]]!.Cells;
            if (host)
            {
                AttentionReduction.Accumulate(t.Data, ne, nb, r0, _rowsPerStream, s, 1f, acc);
            }
            else if (!ReduceOnDevice(t, ne, nb, r0, s, acc))
            {
                ReduceFromDevice(t, ne, nb, r0, s, acc);
            }
        }
    }

    /// <summary>
    /// Tensors in GPU memory with libfastrank_cuda and a device present: the CUDA reduction reads the tensor where
    /// llama.cpp left it (its device <c>data</c> pointer; the scheduler has synchronized before the callback) and only
    /// the per-cell sums of this layer come back. Any CUDA failure switches to <see cref="ReduceFromDevice"/> for the
    /// rest of the capture's life (reported by <see cref="DeviceReduction"/>).
    /// </summary>
    private bool ReduceOnDevice(GgmlTensor t, ReadOnlySpan<long> ne, ReadOnlySpan<long> nb, int r0, int stream, float[] acc)
    {
        if (_deviceFailure is not null || !CudaKernels.IsAvailable) return false;
        try
        {
            int n = (int)ne[0];
            if (_deviceSums is null || _deviceSums.Cells != n)
            {
                _deviceSums?.Dispose();
                _deviceSums = new CudaAttentionAccumulator(n);
            }
            else
            {
                _deviceSums.Reset();
            }
            var layout = new AttentionTensorLayout(ne[0], ne[1], ne[2], ne[3], nb[0], nb[1], nb[2], nb[3]);
            _deviceSums.Accumulate(t.Data, layout, r0, _rowsPerStream, stream, 1f);
            if (_scratch.Length < n) _scratch = new float[n];
            _deviceSums.CopyTo(_scratch.AsSpan(0, n));
            TensorPrimitives.Add(acc.AsSpan(0, n), _scratch.AsSpan(0, n), acc.AsSpan(0, n));
            return true;
        }
        catch (Exception ex)
        {
            _deviceFailure = $"{ex.GetType().Name}: {ex.Message}";
            return false;
        }
    }

    /// <summary>How query rows in GPU memory are reduced: on the device, or fetched row by row (and why).</summary>
    public string DeviceReduction => _deviceFailure is null
        ? (CudaKernels.IsAvailable ? "CUDA kernel on the tensor in device memory" : $"rows fetched to the host (CUDA kernels {CudaKernels.Description})")
        : $"rows fetched to the host (the CUDA reduction failed: {_deviceFailure})";

    /// <summary>Tensors outside host memory (a GPU build): the query rows only are fetched, one at a time.</summary>
    private void ReduceFromDevice(GgmlTensor t, ReadOnlySpan<long> ne, ReadOnlySpan<long> nb, int r0, int stream, float[] acc)
    {
        int n = (int)ne[0];
        if (_scratch.Length < n) _scratch = new float[n];
        Span<long> rowNe = [ne[0], 1, 1, 1];
        Span<long> rowNb = [4, 4L * n, 4L * n, 4L * n];
        fixed (float* scratch = _scratch)
        {
            for (long h = 0; h < ne[2]; h++)
            {
                for (int r = r0; r < _rowsPerStream; r++)
                {
                    long offset = stream * nb[3] + h * nb[2] + r * nb[1];
                    AttentionNative.ggml_backend_tensor_get(t.Pointer, scratch, (nuint)offset, (nuint)(n * 4));
                    AttentionReduction.Accumulate(scratch, rowNe, rowNb, 0, 1, 0, 1f, acc);
                }
            }
        }
    }

    private void Fail(string message) => _failure ??= message;

    public void Dispose()
    {
        _deviceSums?.Dispose();
        _deviceSums = null;
        if (_self.IsAllocated) _self.Free();
        GC.SuppressFinalize(this);
    }

    ~AttentionCapture()
    {
        if (_self.IsAllocated) _self.Free();
    }
}
