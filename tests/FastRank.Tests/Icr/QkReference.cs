using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastRank.Engine;

namespace FastRank.Tests.Icr;

/// <summary>
/// An independent, slow ICR reference: a separate eval callback copies the post-RoPE queries and keys
/// (<c>Qcur-L</c> / <c>Kcur-L</c>, op ROPE) of a whole prompt decoded in one micro-batch, and the attention
/// is recomputed here in double precision: softmax(q.k / sqrt(d) over the causal prefix), summed over
/// layers and heads, averaged over the query rows. Nothing of FastRank's capture, mask check or reduction is used.
/// </summary>
internal sealed unsafe class QkReference : IDisposable
{
    private GCHandle _self;
    private readonly Dictionary<int, bool> _ropeOps = [];
    private readonly int _layers;

    /// <summary>Per layer: post-RoPE queries [token][head][dim] and keys [token][kv head][dim], as captured.</summary>
    private readonly float[]?[] _q;
    private readonly float[]?[] _k;
    private long _qHeads, _kHeads, _dim, _tokens;

    private QkReference(int layers)
    {
        _layers = layers;
        _q = new float[]?[layers];
        _k = new float[]?[layers];
        _self = GCHandle.Alloc(this);
    }

    /// <summary>
    /// Decodes <paramref name="prompt"/> alone in a fresh one-sequence context (flash attention off) and returns
    /// s(t) for t &lt; <paramref name="queryStart"/>: the attention position t receives, summed over layers
    /// and heads, averaged over the rows queryStart..end.
    /// </summary>
    public static double[] TokenScores(LlamaModel model, int[] prompt, int queryStart)
    {
        using var capture = new QkReference(model.LayerCount);
        int cells = (prompt.Length + 255) / 256 * 256;
        int batch = (prompt.Length + 31) / 32 * 32;
        var config = new ContextConfig(1, cells, batch, batch, false, 2)
        {
            EvalCallback = (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, byte, IntPtr, byte>)&OnEval,
            EvalUserData = GCHandle.ToIntPtr(capture._self),
        };
        using (var ctx = new InferenceContext(model, config))
        {
            ctx.BatchClear();
            for (int i = 0; i < prompt.Length; i++) ctx.BatchAdd(prompt[i], i, 0, false);
            ctx.Decode(default);
        }
        return capture.Compute(queryStart);
    }

    private double[] Compute(int queryStart)
    {
        int n = (int)_tokens, d = (int)_dim, hq = (int)_qHeads, hk = (int)_kHeads;
        if (n == 0) throw new InvalidOperationException("no Q/K captured");
        int group = hq / hk;
        double scale = 1 / Math.Sqrt(d);
        var acc = new double[n];
        var logits = new double[n];
        for (int l = 0; l < _layers; l++)
        {
            float[] q = _q[l] ?? throw new InvalidOperationException($"layer {l}: no Q");
            float[] k = _k[l] ?? throw new InvalidOperationException($"layer {l}: no K");
            // llama.cpp multiplies K (f16 in the KV cache) with Q converted to f16: round both the same way.
            for (int i = 0; i < q.Length; i++) q[i] = (float)(Half)q[i];
            for (int i = 0; i < k.Length; i++) k[i] = (float)(Half)k[i];
            for (int h = 0; h < hq; h++)
            {
                int g = h / group;
                for (int r = queryStart; r < n; r++)
                {
                    double max = double.NegativeInfinity;
                    for (int c = 0; c <= r; c++)
                    {
                        double dot = 0;
                        int qo = (r * hq + h) * d, ko = (c * hk + g) * d;
                        for (int i = 0; i < d; i++) dot += (double)q[qo + i] * k[ko + i];
                        logits[c] = dot * scale;
                        max = Math.Max(max, logits[c]);
                    }
                    double sum = 0;
                    for (int c = 0; c <= r; c++) sum += logits[c] = Math.Exp(logits[c] - max);
                    for (int c = 0; c <= r; c++) acc[c] += logits[c] / sum;
                }
            }
        }
        int rows = n - queryStart;
        var result = new double[queryStart];
        for (int t = 0; t < queryStart; t++) result[t] = acc[t] / rows;
        return result;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnEval(IntPtr tensor, byte ask, IntPtr userData)
    {
        var self = (QkReference)GCHandle.FromIntPtr(userData).Target!;
        var t = new GgmlTensor(tensor);
        var name = t.NameBytes;
        int ql = AttentionNames.Layer(name, "Qcur-"u8), kl = AttentionNames.Layer(name, "Kcur-"u8);
        if (ql < 0 && kl < 0) return ask != 0 ? (byte)0 : (byte)1;
        if (!AttentionNames.IsOp(t.Op, "ROPE", self._ropeOps)) return ask != 0 ? (byte)0 : (byte)1;
        if (ask != 0) return 1;
        // ne = [head_dim, heads, tokens]; copy element by element through the strides.
        long d = t.Ne(0), heads = t.Ne(1), tokens = t.Ne(2);
        var data = new float[d * heads * tokens];
        byte* p = (byte*)t.Data;
        for (long tok = 0; tok < tokens; tok++)
            for (long h = 0; h < heads; h++)
                for (long i = 0; i < d; i++)
                    data[(tok * heads + h) * d + i] = *(float*)(p + i * t.Nb(0) + h * t.Nb(1) + tok * t.Nb(2));
        self._dim = d;
        self._tokens = tokens;
        if (ql >= 0)
        {
            self._q[ql] = data;
            self._qHeads = heads;
        }
        else
        {
            self._k[kl] = data;
            self._kHeads = heads;
        }
        return 1;
    }

    public void Dispose()
    {
        if (_self.IsAllocated) _self.Free();
    }
}
