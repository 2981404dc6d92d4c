using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FastRank.Engine;

/// <summary>
/// Makes llama.cpp's CPU flash attention exact for short runs, so that a document decoded on a cached prefix in a
/// few tokens scores as a lone decode of its whole prompt without padding its run to 64 tokens.
/// <para>
/// Why: with one KV stream per sequence, a micro-batch is evaluated as equal runs of rows per stream, and the CPU
/// kernel of <c>GGML_OP_FLASH_ATTN_EXT</c> depends on the run: from 64 rows (GGML_FA_TILE_Q) it takes the tiled
/// kernel (Q, K, V, scores, softmax and accumulator in f32), below that a per-row kernel that rounds Q to f16 and
/// accumulates V in f16, which moved a yes-no logit by up to 0.27. A lone decode of a prompt of 64 tokens or more
/// takes the tiled kernel; FastRank used to decode every run at 64 rows or more for that reason.
/// </para>
/// <para>
/// How: through the context's eval callback. On a micro-batch of fewer than 64 rows per stream the handler asks
/// for every flash-attention node; when llama.cpp has computed one, it computes the same attention in f32 from the
/// node's sources (Q; the K and V cache views, f16 converted exactly; the mask; scale, ALiBi slope, soft cap and
/// sinks from its parameters) and overwrites the node's output before any later node reads it. Only the
/// accumulation order differs from the tiled kernel (one softmax over all cells instead of 64-cell tiles), which
/// is within f32 rounding. So that llama.cpp's own per-row attention costs nothing, the handler keeps a copy of
/// the micro-batch's attention mask (the graph's input, already filled when the callback is first asked) and fills
/// the input with -inf before any node is computed: the per-row kernel then skips every cell.
/// </para>
/// <para>
/// Only for host tensors of a graph run on the CPU (<see cref="IsSupported"/>), with head sizes that are multiples
/// of 16 (the tiled kernel's condition on AVX-512; otherwise lone decodes take the per-row kernel too) and f16 or f32
/// K/V. Anything else seen in a micro-batch is reported (<see cref="ThrowIfFailed"/>) rather than scored wrongly.
/// Not thread-safe: one decode at a time, as the context itself.
/// </para>
/// </summary>
internal sealed unsafe class ShortRunAttention : IEvalHandler, IDisposable
{
    /// <summary>Rows of one stream from which llama.cpp's CPU flash attention takes its tiled kernel (GGML_FA_TILE_Q).</summary>
    public const int TiledRows = 64;

    /// <summary>Head sizes must be multiples of this for the tiled kernel (GGML_F32_EPR with AVX-512).</summary>
    public const int HeadMultiple = 16;

    private const int MaxStreams = 1024;
    private const uint F32NegInf = 0xFF80_0000u;
    private const ushort F16NegInf = 0xFC00;

    private readonly InferenceContext _ctx;
    private readonly Dictionary<int, bool> _faOps = [];
    private readonly Dictionary<int, bool> _cpyOps = [];
    private int _faOp = -1;

    // The micro-batch being evaluated.
    private long _ubatchDecode = -1;
    private bool _active;
    private int _rows, _streams, _cells, _maskStreams;
    private GgmlTensor _maskInput;
    private byte* _maskProbe; // the first row this handler filled with -inf
    private readonly int[] _visible = new int[MaxStreams];
    private readonly bool[] _exact = new bool[MaxStreams];

    // Scratch (64-byte aligned, grown on demand).
    private float* _mask;
    private long _maskFloats;


    private string? _failure;

    public ShortRunAttention(InferenceContext ctx)
    {
        GgmlTensor.VerifyLayout();
        _ctx = ctx;

    }

    /// <summary>
    /// Whether a context of <paramref name="model"/> with flash attention on can take this handler: every layer on the
    /// CPU, head sizes that are multiples of <see cref="HeadMultiple"/>, no soft cap, ALiBi or sinks in the architecture,
    /// and llama.cpp's AVX-512 CPU build loaded in a process that has AVX-512 (the softmax is reproduced bit for bit from
    /// that build's kernels, see <see cref="ExpTile"/>).
    /// </summary>
    public static bool IsSupported(LlamaModel model) =>
        model.GpuLayers == 0 && model.HeadDim % HeadMultiple == 0 && model.ValueHeadDim % HeadMultiple == 0
        && !UsesOtherSoftmax(model) && RowIndependentWeights(model) && CpuBuildMatches.Value;

    /// <summary>
    /// Whether every weight matrix of the layers is f32, f16, bf16 or q8_0. Short runs change more than the attention
    /// kernel for other types: with q4_k_m weights, FastRank's runs of 2 to 63 tokens moved scores by up to 0.23 even
    /// with this handler (llama.cpp's CPU matrix kernels for those types evaluate rows in groups, so a row's result
    /// depends on the micro-batch's size), so such models keep runs of 64 tokens.
    /// </summary>
    private static bool RowIndependentWeights(LlamaModel model)
    {
        foreach (var t in model.Header.Tensors)
        {
            if (!t.Name.StartsWith("blk.", StringComparison.Ordinal) || t.Dimensions.Length < 2) continue;
            if (t.Type is not (Gguf.GgmlType.F32 or Gguf.GgmlType.F16 or Gguf.GgmlType.BF16 or Gguf.GgmlType.Q8_0)) return false;
        }
        return true;
    }

    private static readonly Lazy<bool> CpuBuildMatches = new(() =>
        Environment.Is64BitProcess && Avx512F.IsSupported && Vector512.IsHardwareAccelerated
        && Interop.NativeLibraryResolver.LoadedPath(Interop.LlamaNative.GgmlCpu) is { } path
        && path.Replace('\\', '/').Contains("/avx512/", StringComparison.Ordinal));

    /// <summary>Architectures whose attention adds a soft cap, ALiBi slopes or sinks to the plain softmax.</summary>
    private static bool UsesOtherSoftmax(LlamaModel model)
    {
        string arch = model.Header.Architecture ?? "";
        if (arch is "bloom" or "mpt" or "jais" or "gpt-oss" or "openai-moe" or "gemma2" or "grok" or "baichuan") return true;
        return model.Header.Metadata.ContainsKey($"{arch}.attn_logit_softcapping");
    }

    /// <summary>Attention nodes computed here since creation.</summary>
    public long Nodes { get; private set; }

    /// <summary>Throws (once) what went wrong inside the callback during the last decode.</summary>
    /// <exception cref="DecodeException">A micro-batch's attention did not have the layout this handler computes.</exception>
    public void ThrowIfFailed()
    {
        if (_failure is not { } f) return;
        _failure = null;
        throw new DecodeException($"exact short-run attention failed: {f}", -1);
    }

    /// <inheritdoc/>
    public void Fail(string message)
    {
        _failure ??= message;
        _active = false;
    }

    /// <inheritdoc/>
    public bool Eval(GgmlTensor t, bool ask)
    {
        int op = t.Op;
        if (_faOp >= 0 ? op != _faOp : !IsFlashAttention(op)) return !ask;
        if (ask)
        {
            if (_ctx.DecodeCalls != _ubatchDecode || !_active || MaskRefilled()) StartMicroBatch(t);
            return _active && _failure is null;
        }
        if (_active && _failure is null)
        {
            Compute(t);
            Nodes++;
        }
        return true;
    }

    private bool IsFlashAttention(int op)
    {
        if (!AttentionNames.IsOp(op, "FLASH_ATTN_EXT", _faOps)) return false;
        _faOp = op;
        return true;
    }

    /// <summary>
    /// Whether llama.cpp filled the mask input again since <see cref="TakeMask"/> filled it with -inf: a new micro-batch
    /// of the same llama_decode call (the graph's nodes are unnamed, and every row of a real mask sees its own cell).
    /// </summary>
    private bool MaskRefilled()
    {
        if (_maskProbe == null) return false;
        void* row = _maskProbe;
        return _maskInput.Type == 0
            ? new ReadOnlySpan<uint>(row, _cells).IndexOfAnyExcept(F32NegInf) >= 0
            : new ReadOnlySpan<ushort>(row, _cells).IndexOfAnyExcept(F16NegInf) >= 0;
    }

    private void StartMicroBatch(GgmlTensor fa)
    {
        _ubatchDecode = _ctx.DecodeCalls;
        _active = false;
        _maskInput = default;
        _maskProbe = null;
        var q = fa.Src(0);
        var k = fa.Src(1);
        var v = fa.Src(2);
        long rows = q.Ne(1);
        if (rows >= TiledRows) return; // llama.cpp's own tiled kernel
        if (q.Type != 0 || k.Type != v.Type || k.Type is not (0 or 1) || fa.Type != 0)
        {
            Fail($"attention types q {q.Type}, k {k.Type}, v {v.Type}, out {fa.Type}: FastRank computes f32 Q with f16 or f32 K/V");
            return;
        }
        if (k.Ne(0) % HeadMultiple != 0 || v.Ne(0) % HeadMultiple != 0 || k.Ne(0) != q.Ne(0))
        {
            Fail($"head sizes {k.Ne(0)} and {v.Ne(0)} are not multiples of {HeadMultiple}");
            return;
        }
        if (!fa.IsHost || !q.IsHost || !k.IsHost || !v.IsHost)
        {
            Fail("the attention tensors are not in host memory");
            return;
        }
        long streams = q.Ne(3), heads = q.Ne(2), kvHeads = k.Ne(2), cells = k.Ne(1);
        if (streams < 1 || streams > MaxStreams || kvHeads < 1 || heads % kvHeads != 0 || k.Ne(3) < 1 || streams % k.Ne(3) != 0
            || v.Ne(1) != cells || v.Ne(2) != kvHeads || v.Ne(3) != k.Ne(3)
            || fa.Ne(0) != v.Ne(0) || fa.Ne(1) != heads || fa.Ne(2) != rows || fa.Ne(3) != streams || fa.Nb(0) != 4
            || q.Nb(0) != 4 || k.Nb(0) != (k.Type == 0 ? 4 : 2) || v.Nb(0) != k.Nb(0))
        {
            Fail($"unexpected attention shapes: q [{q.Ne(0)}, {rows}, {heads}, {streams}], k [{k.Ne(0)}, {cells}, {kvHeads}, {k.Ne(3)}], " +
                $"out [{fa.Ne(0)}, {fa.Ne(1)}, {fa.Ne(2)}, {fa.Ne(3)}]");
            return;
        }
        _rows = (int)rows;
        _streams = (int)streams;
        _cells = (int)cells;
        // A stream whose whole prompt is shorter than 64 tokens keeps llama.cpp's per-row kernel: a lone decode of
        // that prompt takes it too (and it treats every row alike, however the prompt is split).
        var pos = _ctx.BatchPositions;
        var seq = _ctx.BatchSequences;
        if (pos.Length != rows * streams)
        {
            Fail($"llama_decode evaluated a batch of {pos.Length} tokens as a micro-batch of {rows} rows x {streams} streams");
            return;
        }
        bool any = false;
        for (int s = 0; s < _streams; s++)
        {
            int last = (s + 1) * _rows - 1;
            int end = Math.Max(pos[last] + 1, _ctx.PromptEnd(seq[last]));
            _exact[s] = end >= TiledRows;
            any |= _exact[s];
        }
        if (!any) return;
        if (!TakeMask(fa.Src(3))) return;
        _active = true;
    }

    /// <summary>
    /// Copies the micro-batch's mask (rows x cells of each stream, as f32) from the graph's input, notes the cells any
    /// row of a stream sees, and fills the input with -inf so that llama.cpp's per-row kernel skips every cell.
    /// </summary>
    private bool TakeMask(GgmlTensor mask)
    {
        int rows = _rows, cells = _cells;
        if (mask.IsNull)
        {
            _maskStreams = 0;
            for (int s = 0; s < _streams; s++) _visible[s] = cells;
            return true;
        }
        // The mask reaches the attention either as the input itself or through one cast (ggml_cast is a CPY node).
        var input = mask;
        if (input.Op != 0)
        {
            if (!AttentionNames.IsOp(input.Op, "CPY", _cpyOps) || input.Src(0).IsNull || input.Src(0).Op != 0)
            {
                Fail($"the attention mask is computed by op {input.Op}, not an input");
                return false;
            }
            input = input.Src(0);
        }
        int type = input.Type;
        long maskStreams = input.Ne(3);
        if (type is not (0 or 1) || !input.IsHost || input.Ne(0) != cells || input.Ne(1) < rows || input.Ne(2) != 1
            || maskStreams != _streams && maskStreams != 1 || input.Nb(0) != (type == 0 ? 4 : 2))
        {
            Fail($"unexpected attention mask: type {type}, ne [{input.Ne(0)}, {input.Ne(1)}, {input.Ne(2)}, {maskStreams}] for {cells} cells, {rows} rows");
            return false;
        }
        _maskStreams = (int)maskStreams;
        _maskInput = input;
        long need = maskStreams * rows * cells;
        Ensure(ref _mask, ref _maskFloats, need);
        byte* data = (byte*)input.Data;
        for (int s = 0; s < maskStreams; s++)
        {
            int visible = 0;
            for (int r = 0; r < rows; r++)
            {
                byte* row = data + s * input.Nb(3) + r * input.Nb(1);
                var dst = new Span<float>(_mask + ((long)s * rows + r) * cells, cells);
                int last;
                if (type == 0)
                {
                    new ReadOnlySpan<float>(row, cells).CopyTo(dst);
                    last = new ReadOnlySpan<uint>(row, cells).LastIndexOfAnyExcept(F32NegInf);
                }
                else
                {
                    TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(row, cells), dst);
                    last = new ReadOnlySpan<ushort>(row, cells).LastIndexOfAnyExcept(F16NegInf);
                }
                visible = Math.Max(visible, last + 1);
            }
            _visible[s] = visible;
        }
        if (maskStreams == 1)
            for (int s = 1; s < _streams; s++) _visible[s] = _visible[0];
        for (int s = 0; s < maskStreams; s++)
        {
            if (maskStreams == _streams ? !_exact[s] : !AllExact()) continue; // llama.cpp computes these streams
            if (_maskProbe == null) _maskProbe = data + s * input.Nb(3);
            for (long r = 0; r < input.Ne(1); r++)
            {
                byte* row = data + s * input.Nb(3) + r * input.Nb(1);
                if (type == 0) new Span<uint>(row, cells).Fill(F32NegInf);
                else new Span<ushort>(row, cells).Fill(F16NegInf);
            }
        }
        return true;
    }

    private bool AllExact()
    {
        for (int s = 0; s < _streams; s++)
            if (!_exact[s]) return false;
        return true;
    }

    [SkipLocalsInit]
    private void Compute(GgmlTensor fa)
    {
        var q = fa.Src(0);
        var k = fa.Src(1);
        var v = fa.Src(2);
        if (q.Ne(1) != _rows || q.Ne(3) != _streams || k.Ne(1) != _cells)
        {
            Fail("an attention node of the micro-batch has another shape than its first");
            return;
        }
        float scale = fa.OpParamF32(0), maxBias = fa.OpParamF32(1), softcap = fa.OpParamF32(2);
        if (!float.IsFinite(scale) || maxBias != 0 || softcap != 0 || !fa.Src(4).IsNull)
        {
            Fail($"attention with scale {scale}, ALiBi bias {maxBias}, soft cap {softcap}{(fa.Src(4).IsNull ? "" : " and sinks")}: FastRank reproduces the plain softmax only");
            return;
        }
        var job = new Job
        {
            Q = (byte*)q.Data, K = (byte*)k.Data, V = (byte*)v.Data, O = (byte*)fa.Data,
            QNb1 = q.Nb(1), QNb2 = q.Nb(2), QNb3 = q.Nb(3),
            KNb1 = k.Nb(1), KNb2 = k.Nb(2), KNb3 = k.Nb(3),
            VNb1 = v.Nb(1), VNb2 = v.Nb(2), VNb3 = v.Nb(3),
            ONb1 = fa.Nb(1), ONb2 = fa.Nb(2), ONb3 = fa.Nb(3),
            Dk = (int)k.Ne(0), Dv = (int)v.Ne(0), Group = (int)(q.Ne(2) / k.Ne(2)), StreamGroup = _streams / (int)k.Ne(3),
            Rows = _rows, Cells = _cells, KF16 = k.Type == 1, Scale = scale,
            Mask = _mask, MaskStreams = _maskStreams,
        };
        int kvHeads = (int)k.Ne(2);
        _items.Clear();
        int maxVisible = 0;
        for (int st = 0; st < _streams; st++)
        {
            if (!_exact[st]) continue;
            maxVisible = Math.Max(maxVisible, _visible[st]);
            for (int g = 0; g < kvHeads; g++) _items.Add((st, g, _visible[st]));
        }
        // On the calling thread: splitting the items over two workers made the attention slower on the 2-core
        // development machine (llama.cpp's own threads spin between the graph's pieces).
        _scratch.Ensure(job.Dk, job.Dv, job.Rows, Pad(maxVisible));
        foreach (var (st, g, n) in _items) Attend(in job, _scratch, st, g, n);
    }

    private readonly List<(int Stream, int KvHead, int Visible)> _items = [];
    private readonly Scratch _scratch = new();

    /// <summary>What one attention node's computation reads and writes.</summary>
    private struct Job
    {
        public byte* Q, K, V, O;
        public long QNb1, QNb2, QNb3, KNb1, KNb2, KNb3, VNb1, VNb2, VNb3, ONb1, ONb2, ONb3;
        public int Dk, Dv, Group, StreamGroup, Rows, Cells, MaskStreams;
        public bool KF16;
        public float Scale;
        public float* Mask;
    }

    /// <summary>The computation's buffers (64-byte aligned, grown on demand).</summary>
    private sealed class Scratch : IDisposable
    {
        public float* Kt, Vf, P, Acc, Tmp, M, Sum;
        private long _kt, _vf, _p, _acc, _tmp, _m, _sum;

        public void Ensure(int dk, int dv, int rows, int pad)
        {
            ShortRunAttention.Ensure(ref Kt, ref _kt, (long)dk * pad);
            ShortRunAttention.Ensure(ref Vf, ref _vf, (long)dv * pad);
            ShortRunAttention.Ensure(ref P, ref _p, (long)rows * pad);
            ShortRunAttention.Ensure(ref Acc, ref _acc, (long)rows * dv);
            ShortRunAttention.Ensure(ref Tmp, ref _tmp, dk);
            ShortRunAttention.Ensure(ref M, ref _m, rows);
            ShortRunAttention.Ensure(ref Sum, ref _sum, rows);
        }

        public void Dispose()
        {
            foreach (var b in new[] { Kt, Vf, P, Acc, Tmp, M, Sum }) NativeMemory.AlignedFree(b);
            Kt = Vf = P = Acc = Tmp = M = Sum = null;
            _kt = _vf = _p = _acc = _tmp = _m = _sum = 0;
        }
    }

    /// <summary>The attention of the query heads of KV head <paramref name="g"/> in stream <paramref name="s"/>, over its <paramref name="n"/> visible cells.</summary>
    private static void Attend(in Job job, Scratch w, int s, int g, int n)
    {
        int dk = job.Dk, dv = job.Dv, rows = job.Rows, cells = job.Cells;
        int pad = Pad(n);
        int ks = s / job.StreamGroup;
        float* kt = w.Kt, vf = w.Vf, p = w.P, acc = w.Acc;
        var tmp = new Span<float>(w.Tmp, dk);
        var m = new Span<float>(w.M, rows);
        var sum = new Span<float>(w.Sum, rows);
        float* maskBase = job.MaskStreams == 0 ? null : job.Mask + (long)(job.MaskStreams == 1 ? 0 : s) * rows * cells;
        // K transposed ([dk][pad]) and V ([pad][dv]) of this KV head in f32 (f16 converts exactly), zero beyond the
        // visible cells, as the tiled kernel packs its 64-cell tiles.
        for (int c = 0; c < n; c++)
        {
            byte* kr = job.K + c * job.KNb1 + g * job.KNb2 + ks * job.KNb3;
            byte* vr = job.V + c * job.VNb1 + g * job.VNb2 + ks * job.VNb3;
            var vrow = new Span<float>(vf + (long)c * dv, dv);
            if (job.KF16)
            {
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(kr, dk), tmp);
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(vr, dv), vrow);
            }
            else
            {
                new ReadOnlySpan<float>(kr, dk).CopyTo(tmp);
                new ReadOnlySpan<float>(vr, dv).CopyTo(vrow);
            }
            for (int d = 0; d < dk; d++) kt[(long)d * pad + c] = tmp[d];
        }
        for (int d = 0; d < dk; d++) new Span<float>(kt + (long)d * pad + n, pad - n).Clear();
        new Span<float>(vf + (long)n * dv, (pad - n) * dv).Clear();

        for (int h = g * job.Group; h < (g + 1) * job.Group; h++)
        {
            Scores(job.Q + h * job.QNb2 + s * job.QNb3, job.QNb1, rows, kt, dk, pad, p);
            m.Fill(float.NegativeInfinity);
            sum.Clear();
            new Span<float>(acc, rows * dv).Clear();
            for (int t0 = 0; t0 < n; t0 += Tile)
            {
                int valid = Math.Min(Tile, n - t0);
                for (int r = 0; r < rows; r++)
                {
                    var x = new Span<float>(p + (long)r * pad + t0, Tile);
                    float tileMax = valid == Tile
                        ? ScaleMaskMax(p + (long)r * pad + t0, job.Scale, maskBase == null ? null : maskBase + (long)r * cells + t0)
                        : ScaleMaskMax(x, valid, job.Scale, maskBase == null ? default : new ReadOnlySpan<float>(maskBase + (long)r * cells + t0, valid));
                    if (float.IsNegativeInfinity(tileMax))
                    {
                        x.Clear();
                        continue;
                    }
                    float mOld = m[r], mNew = MathF.Max(mOld, tileMax);
                    if (mNew > mOld)
                    {
                        float ms = MathF.Exp(mOld - mNew);
                        var a = new Span<float>(acc + (long)r * dv, dv);
                        TensorPrimitives.Multiply(a, ms, a);
                        sum[r] *= ms;
                    }
                    m[r] = mNew;
                    sum[r] = (float)(sum[r] + ExpTile(x, mNew));
                }
                AccumulateValues(p + t0, pad, rows, vf + (long)t0 * dv, dv, acc);
            }
            byte* oh = job.O + h * job.ONb1 + s * job.ONb3;
            for (int r = 0; r < rows; r++)
            {
                float inv = sum[r] == 0f ? 0f : 1f / sum[r];
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(acc + (long)r * dv, dv), inv, new Span<float>(oh + r * job.ONb2, dv));
            }
        }
    }

    /// <summary>
    /// One row of a whole tile: x = x * scale (+ mask), as the tiled kernel's separate multiply and add; returns the
    /// tile's largest value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScaleMaskMax(float* x, float scale, float* mask)
    {
        var s = Vector512.Create(scale);
        var x0 = Vector512.Load(x) * s;
        var x1 = Vector512.Load(x + 16) * s;
        var x2 = Vector512.Load(x + 32) * s;
        var x3 = Vector512.Load(x + 48) * s;
        if (mask != null)
        {
            x0 += Vector512.Load(mask);
            x1 += Vector512.Load(mask + 16);
            x2 += Vector512.Load(mask + 32);
            x3 += Vector512.Load(mask + 48);
        }
        x0.Store(x);
        x1.Store(x + 16);
        x2.Store(x + 32);
        x3.Store(x + 48);
        var m = Vector512.Max(Vector512.Max(x0, x1), Vector512.Max(x2, x3));
        var m256 = Vector256.Max(m.GetLower(), m.GetUpper());
        var m128 = Vector128.Max(m256.GetLower(), m256.GetUpper());
        return MathF.Max(MathF.Max(m128[0], m128[1]), MathF.Max(m128[2], m128[3]));
    }

    /// <summary>The same for the last, partial tile: cells from <paramref name="valid"/> on are -inf.</summary>
    private static float ScaleMaskMax(Span<float> x, int valid, float scale, ReadOnlySpan<float> mask)
    {
        TensorPrimitives.Multiply(x, scale, x);
        x[valid..].Fill(float.NegativeInfinity);
        if (!mask.IsEmpty)
        {
            var xv = x[..valid];
            TensorPrimitives.Add(xv, mask, xv);
        }
        return TensorPrimitives.Max(x);
    }

    /// <summary>Cells of one KV tile of the tiled kernel (GGML_FA_TILE_KV).</summary>
    private const int Tile = 64;

    private static int Pad(int n) => (n + Tile - 1) / Tile * Tile;

    /// <summary>
    /// p[r][c] = q_r . k_c for every row and the <paramref name="pad"/> cells of <paramref name="kt"/> ([dk][pad]): one
    /// fused multiply-add per dimension in order from zero, as llama.cpp's simd_gemm.
    /// </summary>
    private static void Scores(byte* q, long rowStride, int rows, float* kt, int dk, int pad, float* p)
    {
        for (int r0 = 0; r0 < rows; r0 += 4)
        {
            float* q0 = (float*)(q + r0 * rowStride);
            float* q1 = r0 + 1 < rows ? (float*)(q + (r0 + 1) * rowStride) : q0;
            float* q2 = r0 + 2 < rows ? (float*)(q + (r0 + 2) * rowStride) : q0;
            float* q3 = r0 + 3 < rows ? (float*)(q + (r0 + 3) * rowStride) : q0;
            for (int c0 = 0; c0 < pad; c0 += 32)
            {
                Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
                float* kc = kt + c0;
                for (int d = 0; d < dk; d++, kc += pad)
                {
                    var k0 = Vector512.Load(kc);
                    var k1 = Vector512.Load(kc + 16);
                    var x0 = Vector512.Create(q0[d]);
                    var x1 = Vector512.Create(q1[d]);
                    var x2 = Vector512.Create(q2[d]);
                    var x3 = Vector512.Create(q3[d]);
                    a0 = Avx512F.FusedMultiplyAdd(x0, k0, a0);
                    b0 = Avx512F.FusedMultiplyAdd(x0, k1, b0);
                    a1 = Avx512F.FusedMultiplyAdd(x1, k0, a1);
                    b1 = Avx512F.FusedMultiplyAdd(x1, k1, b1);
                    a2 = Avx512F.FusedMultiplyAdd(x2, k0, a2);
                    b2 = Avx512F.FusedMultiplyAdd(x2, k1, b2);
                    a3 = Avx512F.FusedMultiplyAdd(x3, k0, a3);
                    b3 = Avx512F.FusedMultiplyAdd(x3, k1, b3);
                }
                float* o = p + (long)r0 * pad + c0;
                a0.Store(o);
                b0.Store(o + 16);
                if (r0 + 1 < rows) { a1.Store(o + pad); b1.Store(o + pad + 16); }
                if (r0 + 2 < rows) { a2.Store(o + 2 * pad); b2.Store(o + 2 * pad + 16); }
                if (r0 + 3 < rows) { a3.Store(o + 3 * pad); b3.Store(o + 3 * pad + 16); }
            }
        }
    }

    /// <summary>
    /// acc_r += sum over the tile's 64 cells of p[r][c] v_c, one fused multiply-add per cell in order, as llama.cpp's
    /// simd_gemm adds a tile's weighted values to its accumulator.
    /// </summary>
    private static void AccumulateValues(float* p, int pad, int rows, float* vf, int dv, float* acc)
    {
        for (int r0 = 0; r0 < rows; r0 += 4)
        {
            float* p0 = p + (long)r0 * pad;
            float* p1 = r0 + 1 < rows ? p0 + pad : p0;
            float* p2 = r0 + 2 < rows ? p0 + 2 * pad : p0;
            float* p3 = r0 + 3 < rows ? p0 + 3 * pad : p0;
            for (int d0 = 0; d0 < dv; d0 += 16)
            {
                float* o0 = acc + (long)r0 * dv + d0;
                var a0 = Vector512.Load(o0);
                var a1 = r0 + 1 < rows ? Vector512.Load(o0 + dv) : default;
                var a2 = r0 + 2 < rows ? Vector512.Load(o0 + 2 * dv) : default;
                var a3 = r0 + 3 < rows ? Vector512.Load(o0 + 3 * dv) : default;
                float* vc = vf + d0;
                for (int c = 0; c < Tile; c++, vc += dv)
                {
                    var v0 = Vector512.Load(vc);
                    a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(p0[c]), v0, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(p1[c]), v0, a1);
                    a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(p2[c]), v0, a2);
                    a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(p3[c]), v0, a3);
                }
                a0.Store(o0);
                if (r0 + 1 < rows) a1.Store(o0 + dv);
                if (r0 + 2 < rows) a2.Store(o0 + 2 * dv);
                if (r0 + 3 < rows) a3.Store(o0 + 3 * dv);
            }
        }
    }

    /// <summary>
    /// x = exp(x - max) over one 64-cell tile and the sum of the results, as llama.cpp's AVX-512 ggml_vec_soft_max_f32:
    /// its polynomial ggml_v_expf, 16 lanes at a time, each group summed in the order of _mm512_reduce_add_ps and added
    /// to a double.
    /// </summary>
    private static double ExpTile(Span<float> x, float max)
    {
        double total = 0;
        var vmax = Vector512.Create(max);
        fixed (float* px = x)
        {
            for (int i = 0; i < Tile; i += 16)
            {
                var e = ExpGgml(Vector512.Load(px + i) - vmax);
                e.Store(px + i);
                float* v = px + i;
                float a0 = v[8] + v[0], a1 = v[9] + v[1], a2 = v[10] + v[2], a3 = v[11] + v[3];
                float a4 = v[12] + v[4], a5 = v[13] + v[5], a6 = v[14] + v[6], a7 = v[15] + v[7];
                float b0 = a4 + a0, b1 = a5 + a1, b2 = a6 + a2, b3 = a7 + a3;
                float c0 = b2 + b0, c1 = b3 + b1;
                total += c0 + c1;
            }
        }
        return total;
    }

    // ggml_v_expf (AVX-512) constants, bit for bit.
    private static readonly Vector512<float> ExpLog2E = Vector512.Create(BitConverter.Int32BitsToSingle(0x3fb8aa3b));
    private static readonly Vector512<float> ExpShift = Vector512.Create(BitConverter.Int32BitsToSingle(0x4b400000));
    private static readonly Vector512<float> ExpNegShift = Vector512.Create(BitConverter.Int32BitsToSingle(unchecked((int)0xcb400000)));
    private static readonly Vector512<float> ExpLn2Hi = Vector512.Create(BitConverter.Int32BitsToSingle(0x3f317200));
    private static readonly Vector512<float> ExpLn2Lo = Vector512.Create(BitConverter.Int32BitsToSingle(0x35bfbe8e));
    private static readonly Vector512<float> ExpLimit = Vector512.Create(192f);
    private static readonly Vector512<float> ExpC1 = Vector512.Create(BitConverter.Int32BitsToSingle(0x3f7ffff6));
    private static readonly Vector512<float> ExpC2 = Vector512.Create(BitConverter.Int32BitsToSingle(0x3efffedb));
    private static readonly Vector512<float> ExpC3 = Vector512.Create(BitConverter.Int32BitsToSingle(0x3e2aaf33));
    private static readonly Vector512<float> ExpC4 = Vector512.Create(BitConverter.Int32BitsToSingle(0x3d2b9f17));
    private static readonly Vector512<float> ExpC5 = Vector512.Create(BitConverter.Int32BitsToSingle(0x3c072010));

    /// <summary>ggml_v_expf for AVX-512, operation for operation (fused multiply-adds where it has them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpGgml(Vector512<float> x)
    {
        var z = Avx512F.FusedMultiplyAdd(x, ExpLog2E, ExpShift);
        var n = z + ExpNegShift;
        var b = Avx512F.FusedMultiplyAddNegated(n, ExpLn2Hi, x);
        b = Avx512F.FusedMultiplyAddNegated(n, ExpLn2Lo, b);
        var u = b * b;
        var j0 = Avx512F.FusedMultiplyAdd(ExpC1, b, Vector512<float>.One);
        var j1 = Avx512F.FusedMultiplyAdd(ExpC3, b, ExpC2);
        var j = Avx512F.FusedMultiplyAdd(b, ExpC5, ExpC4);
        j = Avx512F.FusedMultiplyAdd(j, u, j1);
        j = Avx512F.FusedMultiplyAdd(j, u, j0);
        var res = Avx512F.Scale(j, n);
        var big = Vector512.GreaterThan(Vector512.Abs(n), ExpLimit);
        if (big == Vector512<float>.Zero) return res;
        var alt = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(n, Vector512<float>.Zero), Vector512<float>.Zero, Vector512.Create(float.PositiveInfinity));
        return Vector512.ConditionalSelect(big, alt, res);
    }

    internal static void Ensure(ref float* buffer, ref long floats, long need)
    {
        if (need <= floats) return;
        NativeMemory.AlignedFree(buffer);
        buffer = null;
        floats = 0;
        buffer = (float*)NativeMemory.AlignedAlloc((nuint)(need * sizeof(float)), 64);
        floats = need;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_mask);
        _mask = null;
        _maskFloats = 0;
        _scratch.Dispose();
    }
}
