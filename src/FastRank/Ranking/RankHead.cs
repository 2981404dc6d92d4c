using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Interop;

namespace FastRank.Ranking;

/// <summary>
/// The yes/no rank head of a converted Qwen3-Reranker GGUF (<c>cls.output.weight</c>, [n_embd, 2], labels
/// <c>yes</c>/<c>no</c>, pooling type RANK), applied to a final normalized hidden state exactly as llama.cpp's
/// RANK pooling applies it (llm_graph_context::build_pooling: for qwen3 the row of the sequence's last position,
/// <c>ggml_mul_mat(cls_out, row)</c> with no bias, then <c>ggml_soft_max</c>; the qwen3 loader reads no
/// <c>cls.output.bias</c> and no <c>cls.weight</c>).
/// <para>
/// The two rows are read from the file in their storage type and multiplied the way ggml's CPU mul_mat does: the
/// hidden state is converted to the type's <c>vec_dot_type</c> with ggml's own <c>from_float</c> (q8_0 blocks for
/// q8_0/q4_0/q5_0 heads, q8_K blocks for k-quants, f16 for f16 heads) and dotted with ggml's own <c>vec_dot</c>
/// (integer block dot products), both taken from libggml-cpu's type traits. Where libggml-cpu's traits cannot be
/// reached (a custom llama.cpp build that loads its CPU backend dynamically) the rows are dequantized once with
/// ggml's <c>to_float</c> and dotted in f32: within 1e-3 of llama.cpp's P(yes) on the measured q8_0 and q4_k_m
/// files, but not the same rounding.
/// </para>
/// The same class applies the "yes" and "no" rows of a plain LM head (<see cref="LoadLmRows"/>): llama.cpp multiplies
/// the hidden state with every row of the vocabulary to read two of them.
/// Thread-safe: a call allocates its conversion buffer on the stack.
/// </summary>
internal sealed unsafe class RankHead
{
    /// <summary>The rank head's tensor name.</summary>
    public const string TensorName = "cls.output.weight";

    private readonly int _embd;
    private readonly int _yes;
    private readonly int _no;
    private readonly byte[]? _rows;
    private readonly nuint _rowBytes;
    private readonly GgmlTypeTraitsCpu* _traits;
    private readonly GgmlTypeTraitsCpu* _activationTraits;
    private readonly int _activationBytes;
    private readonly float[]? _dequantized;

    private RankHead(int embd, int yes, int no, GgmlType type)
    {
        _embd = embd;
        _yes = yes;
        _no = no;
        StorageType = type;
        Kernel = "";
    }

    private RankHead(int embd, int yes, int no, GgmlType type, byte[] rows, nuint rowBytes, GgmlTypeTraitsCpu* traits,
        GgmlTypeTraitsCpu* activationTraits, int activationBytes) : this(embd, yes, no, type)
    {
        _rows = rows;
        _rowBytes = rowBytes;
        _traits = traits;
        _activationTraits = activationTraits;
        _activationBytes = activationBytes;
        Kernel = $"ggml-cpu vec_dot {TypeName((int)type)} x {TypeName(traits->VecDotType)}";
    }

    private RankHead(int embd, int yes, int no, GgmlType type, float[] dequantized) : this(embd, yes, no, type)
    {
        _dequantized = dequantized;
        Kernel = $"{TypeName((int)type)} rows dequantized to f32, f32 dot";
    }

    /// <summary>The head's storage type in the file.</summary>
    public GgmlType StorageType { get; }

    /// <summary>How the head is applied (for logs and reports).</summary>
    public string Kernel { get; }

    /// <summary>
    /// Why <paramref name="header"/> has no rank head FastRank can apply as llama.cpp does, or null when it has one.
    /// </summary>
    public static string? Unsupported(GgufFile header)
    {
        ArgumentNullException.ThrowIfNull(header);
        string arch = header.Architecture ?? "";
        if (header.GetArchInteger("pooling_type") != 4) return "the model is not marked pooling RANK";
        var tensor = header.Tensors.FirstOrDefault(t => t.Name == TensorName);
        if (tensor is null) return $"the model has no {TensorName}";
        if (arch is not ("qwen3" or "qwen3vl"))
            return $"the rank head of a {arch} model is not the yes/no classifier FastRank applies (llama.cpp reads it at another position or through a dense layer)";
        long embd = header.GetArchInteger("embedding_length") ?? -1;
        if (tensor.Dimensions.Length != 2 || tensor.Dimensions[0] != embd || tensor.Dimensions[1] != 2)
            return $"{TensorName} has shape [{string.Join(", ", tensor.Dimensions)}], not [{embd}, 2]";
        var labels = header.GetArray($"{arch}.classifier.output_labels")?.Values.OfType<string>().ToArray();
        if (labels is not { Length: 2 } || Array.IndexOf(labels, "yes") < 0 || Array.IndexOf(labels, "no") < 0)
            return "the rank head's labels are not yes and no";
        return null;
    }

    /// <summary>
    /// Reads the head of <paramref name="model"/>. <paramref name="ggmlKernels"/> false forces the dequantized f32
    /// path (for measuring it).
    /// </summary>
    /// <exception cref="ModelNotSupportedException">The model has no yes/no rank head, or ggml cannot read its type.</exception>
    public static RankHead Load(LlamaModel model, bool ggmlKernels = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        var header = model.Header;
        if (Unsupported(header) is { } why) throw new ModelNotSupportedException($"'{Path.GetFileName(model.Path)}' has no yes/no rank head: {why}");
        var tensor = header.Tensors.First(t => t.Name == TensorName);
        var labels = header.GetArray($"{header.Architecture}.classifier.output_labels")!.Values.OfType<string>().ToArray();
        return LoadRows(model, tensor, Array.IndexOf(labels, "yes"), Array.IndexOf(labels, "no"), ggmlKernels);
    }

    /// <summary>
    /// Architectures whose LM head llama.cpp applies as a plain product of the final normalized hidden state with
    /// <c>output.weight</c> (or, tied, <c>token_embd.weight</c>): no bias, soft cap or logit scale.
    /// </summary>
    private static readonly string[] PlainLmHeadArchitectures = ["llama", "qwen2", "qwen3", "qwen3moe"];

    /// <summary>
    /// The rows of the tokens <paramref name="yesToken"/> and <paramref name="noToken"/> of the LM head of
    /// <paramref name="model"/>, applied like <see cref="Load"/>'s rank head: the same two logits as the LM head's, without
    /// multiplying the rest of the vocabulary. Null (with <paramref name="why"/>) where llama.cpp's LM head is more than
    /// that product (another architecture, a soft cap, a logit scale, a bias) or its rows cannot be read.
    /// </summary>
    public static RankHead? LoadLmRows(LlamaModel model, int yesToken, int noToken, out string? why)
    {
        ArgumentNullException.ThrowIfNull(model);
        var header = model.Header;
        string arch = header.Architecture ?? "";
        why = null;
        if (Array.IndexOf(PlainLmHeadArchitectures, arch) < 0) why = $"llama.cpp's {arch} LM head is not known to be a plain product";
        else if (header.Metadata.ContainsKey($"{arch}.final_logit_softcapping") || header.Metadata.ContainsKey($"{arch}.logit_scale"))
            why = "the LM head soft-caps or scales its logits";
        else if (header.Tensors.Any(t => t.Name == "output.bias")) why = "the LM head has a bias";
        if (why is not null) return null;
        var tensor = header.Tensors.FirstOrDefault(t => t.Name == "output.weight") ?? header.Tensors.FirstOrDefault(t => t.Name == "token_embd.weight");
        if (tensor is null || tensor.Dimensions.Length != 2 || tensor.Dimensions[0] != model.EmbeddingSize
            || Math.Max(yesToken, noToken) >= tensor.Dimensions[1] || Math.Min(yesToken, noToken) < 0)
        {
            why = "the model has no LM head of [n_embd, n_vocab]";
            return null;
        }
        try
        {
            return LoadRows(model, tensor, yesToken, noToken, ggmlKernels: true);
        }
        catch (ModelNotSupportedException ex)
        {
            why = ex.Message;
            return null;
        }
    }

    /// <summary>Reads rows <paramref name="yes"/> and <paramref name="no"/> of a [n_embd, rows] tensor of the model's file.</summary>
    private static RankHead LoadRows(LlamaModel model, GgufTensorInfo tensor, int yes, int no, bool ggmlKernels)
    {
        var header = model.Header;
        int embd = (int)tensor.Dimensions[0];
        int type = (int)tensor.Type;
        LlamaRuntime.EnsureLoaded();
        nuint rowBytes = GgmlTypeNative.ggml_row_size(type, embd);
        if (rowBytes == 0 || (long)rowBytes * tensor.Dimensions[1] != tensor.ByteSize)
            throw new ModelNotSupportedException($"{tensor.Name} of type {tensor.Type}: ggml reports {rowBytes} bytes per row for {tensor.ByteSize} bytes in the file");
        byte[] rows = GC.AllocateUninitializedArray<byte>((int)rowBytes * 2, pinned: true);
        using (var file = File.OpenHandle(model.Path))
        {
            foreach (var (row, at) in new[] { (yes, 0), (no, 1) })
            {
                var span = rows.AsSpan(at * (int)rowBytes, (int)rowBytes);
                int read = RandomAccess.Read(file, span, header.DataOffset + tensor.Offset + (long)row * (long)rowBytes);
                if (read != span.Length) throw new ModelNotSupportedException($"'{Path.GetFileName(model.Path)}' ends inside {tensor.Name}");
            }
        }

        if (ggmlKernels && CpuTraits(type, embd, out var traits, out var activation, out int activationBytes))
            return new RankHead(embd, 0, 1, tensor.Type, rows, rowBytes, traits, activation, activationBytes);
        return new RankHead(embd, 0, 1, tensor.Type, Dequantize(type, rows, rowBytes, embd));
    }

    /// <summary>libggml-cpu's traits of the head's type and of its vec_dot_type; false when they cannot be used.</summary>
    private static bool CpuTraits(int type, int embd, out GgmlTypeTraitsCpu* traits, out GgmlTypeTraitsCpu* activation, out int activationBytes)
    {
        traits = activation = null;
        activationBytes = 0;
        try
        {
            GgmlTypeNative.ggml_cpu_init();
            traits = GgmlTypeNative.ggml_get_type_traits_cpu(type);
            if (traits is null || traits->VecDot == null) return false;
            activation = GgmlTypeNative.ggml_get_type_traits_cpu(traits->VecDotType);
            if (activation is null || (activation->FromFloat == null && traits->VecDotType != (int)GgmlType.F32)) return false;
            nuint bytes = GgmlTypeNative.ggml_row_size(traits->VecDotType, embd);
            if (bytes == 0 || bytes > 1 << 20) return false;
            activationBytes = (int)bytes;
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static float[] Dequantize(int type, byte[] rows, nuint rowBytes, int embd)
    {
        var result = new float[2 * embd];
        if (type == (int)GgmlType.F32)
        {
            MemoryMarshal.Cast<byte, float>(rows).CopyTo(result);
            return result;
        }
        var traits = GgmlTypeNative.ggml_get_type_traits(type);
        if (traits is null || traits->ToFloat == null || !GgmlTypeInfo.TryGetBlock((GgmlType)type, out int blockElements, out int blockBytes)
            || traits->BlockSize != blockElements || traits->TypeSize != (nuint)blockBytes)
            throw new ModelNotSupportedException($"this llama.cpp build cannot dequantize the rank head's type {TypeName(type)}");
        fixed (byte* src = rows)
        fixed (float* dst = result)
        {
            traits->ToFloat(src, dst, embd);
            traits->ToFloat(src + rowBytes, dst + embd, embd);
        }
        return result;
    }

    private static string TypeName(int type) => Enum.IsDefined((GgmlType)type) ? ((GgmlType)type).ToString().ToLowerInvariant() : $"type {type}";

    /// <summary>The head's yes and no logits for one final normalized hidden state.</summary>
    [SkipLocalsInit]
    public (float Yes, float No) Logits(ReadOnlySpan<float> hidden)
    {
        if (hidden.Length != _embd) throw new ArgumentException($"a hidden state has {_embd} values, not {hidden.Length}", nameof(hidden));
        float y, n;
        if (_dequantized is { } w)
        {
            y = TensorPrimitives.Dot(hidden, w.AsSpan(_yes * _embd, _embd));
            n = TensorPrimitives.Dot(hidden, w.AsSpan(_no * _embd, _embd));
            return (y, n);
        }
        byte[]? rented = null;
        Span<byte> activation = _activationBytes <= 16384 ? stackalloc byte[_activationBytes] : (rented = new byte[_activationBytes]);
        fixed (float* h = hidden)
        fixed (byte* a = activation)
        fixed (byte* rows = _rows)
        {
            // What ggml_compute_forward_mul_mat does with the f32 activation of a quantized (or f16) weight.
            if (_activationTraits->FromFloat != null) _activationTraits->FromFloat(h, a, _embd);
            else Buffer.MemoryCopy(h, a, _activationBytes, (long)_embd * 4);
            _traits->VecDot(_embd, &y, 0, rows + (nuint)_yes * _rowBytes, 0, a, 0, 1);
            _traits->VecDot(_embd, &n, 0, rows + (nuint)_no * _rowBytes, 0, a, 0, 1);
        }
        GC.KeepAlive(rented);
        return (y, n);
    }

    /// <summary>The yes-minus-no logit difference: RawScore, whose logistic function is the softmax's P(yes).</summary>
    public double LogitDifference(ReadOnlySpan<float> hidden)
    {
        var (y, n) = Logits(hidden);
        return (double)y - n;
    }
}
