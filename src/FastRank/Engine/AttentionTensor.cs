using System.Runtime.InteropServices;
using System.Text;

namespace FastRank.Engine;

/// <summary>
/// A read-only view of a native <c>struct ggml_tensor</c> as the eval callback receives it, by field
/// offset (x64 layout of the llama.cpp build LLamaSharp ships; <see cref="VerifyLayout"/> checks the
/// offsets against ggml itself before any callback trusts them).
/// </summary>
internal readonly unsafe struct GgmlTensor
{
    public const int TypeOffset = 0;
    public const int BufferOffset = 8;
    public const int NeOffset = 16;
    public const int NbOffset = 48;
    public const int OpOffset = 80;
    public const int OpParamsOffset = 84;
    public const int SrcOffset = 152;
    public const int DataOffset = 248;
    public const int NameOffset = 256;
    public const int NameLength = 64;

    private readonly byte* _p;

    public GgmlTensor(IntPtr pointer) => _p = (byte*)pointer;

    public bool IsNull => _p == null;

    public IntPtr Pointer => (IntPtr)_p;

    /// <summary>ggml_type code (0 = f32, 1 = f16).</summary>
    public int Type => *(int*)(_p + TypeOffset);

    /// <summary>The ggml_backend_buffer holding the data (null for views resolved elsewhere).</summary>
    public IntPtr Buffer => *(IntPtr*)(_p + BufferOffset);

    /// <summary>Elements along dimension <paramref name="i"/> (0..3).</summary>
    public long Ne(int i) => ((long*)(_p + NeOffset))[i];

    /// <summary>Byte stride of dimension <paramref name="i"/> (0..3).</summary>
    public long Nb(int i) => (long)((ulong*)(_p + NbOffset))[i];

    /// <summary>ggml_op code.</summary>
    public int Op => *(int*)(_p + OpOffset);

    /// <summary>
    /// Operation parameter <paramref name="i"/> (0..15) read as a float (ggml's op_params, an int32 array right after op
    /// and before flags and src, whose offset <see cref="VerifyLayout"/> checks).
    /// </summary>
    public float OpParamF32(int i) => ((float*)(_p + OpParamsOffset))[i];

    /// <summary>Source tensor <paramref name="i"/> (0..9).</summary>
    public GgmlTensor Src(int i) => new(((IntPtr*)(_p + SrcOffset))[i]);

    /// <summary>The data pointer (host memory when <see cref="IsHost"/>).</summary>
    public void* Data => *(void**)(_p + DataOffset);

    /// <summary>The tensor's name bytes (without the terminating zero).</summary>
    public ReadOnlySpan<byte> NameBytes
    {
        get
        {
            var all = new ReadOnlySpan<byte>(_p + NameOffset, NameLength);
            int end = all.IndexOf((byte)0);
            return end < 0 ? all : all[..end];
        }
    }

    public string Name => Encoding.UTF8.GetString(NameBytes);

    /// <summary>Whether the data lives in host memory that can be read in place.</summary>
    public bool IsHost => Buffer != IntPtr.Zero && AttentionNative.ggml_backend_buffer_is_host(Buffer);

    private static readonly Lazy<string?> LayoutProblem = new(CheckLayout);

    /// <summary>
    /// Checks the field offsets above against the loaded ggml: creates a tensor in a small ggml context
    /// and reads type, shape, strides, name and data back through this view.
    /// </summary>
    /// <exception cref="ModelNotSupportedException">The loaded ggml lays its tensors out differently.</exception>
    public static void VerifyLayout()
    {
        if (LayoutProblem.Value is { } problem)
            throw new ModelNotSupportedException($"this llama.cpp build's ggml_tensor layout is not the one FastRank reads attention from: {problem}");
    }

    private static string? CheckLayout()
    {
        if (!Environment.Is64BitProcess) return "FastRank reads ggml tensors only in 64-bit processes";
        LlamaRuntime.EnsureLoaded();
        IntPtr ctx = AttentionNative.ggml_init(new GgmlInitParams { MemSize = 1 << 16, MemBuffer = IntPtr.Zero, NoAlloc = 0 });
        if (ctx == IntPtr.Zero) return "ggml_init failed";
        try
        {
            IntPtr p = AttentionNative.ggml_new_tensor_4d(ctx, 0, 7, 5, 3, 2);
            if (p == IntPtr.Zero) return "ggml_new_tensor_4d failed";
            fixed (byte* name = "fastrank-layout-probe\0"u8)
                AttentionNative.ggml_set_name(p, name);
            var t = new GgmlTensor(p);
            if (t.Type != 0) return $"type read as {t.Type}";
            if (t.Ne(0) != 7 || t.Ne(1) != 5 || t.Ne(2) != 3 || t.Ne(3) != 2) return "ne is not at offset 16";
            if (t.Nb(0) != 4 || t.Nb(1) != 28 || t.Nb(2) != 140 || t.Nb(3) != 420) return "nb is not at offset 48";
            if (t.Op != 0) return "op is not at offset 80";
            if (!t.NameBytes.SequenceEqual("fastrank-layout-probe"u8)) return "name is not at offset 256";
            if (t.Data == null) return "data is not at offset 248";
            for (int i = 0; i < 10; i++)
                if (!t.Src(i).IsNull) return "src is not at offset 152";
            return null;
        }
        finally
        {
            AttentionNative.ggml_free(ctx);
        }
    }
}

/// <summary>The attention layout could not be read or did not match FastRank's expectations (for example cells that do not map to positions).</summary>
public sealed class AttentionLayoutException(string message) : FastRankException(message);

/// <summary>Attention-readout helpers shared by the capture and its tests.</summary>
internal static class AttentionNames
{
    /// <summary>The prefix of llama.cpp's attention-probability tensors (<c>kq_soft_max-L</c>).</summary>
    public static ReadOnlySpan<byte> SoftmaxPrefix => "kq_soft_max-"u8;

    /// <summary>Parses the layer of a tensor named <c>&lt;prefix&gt;L</c>; -1 when the name is something else.</summary>
    public static int Layer(ReadOnlySpan<byte> name, ReadOnlySpan<byte> prefix)
    {
        if (!name.StartsWith(prefix) || name.Length == prefix.Length) return -1;
        int layer = 0;
        for (int i = prefix.Length; i < name.Length; i++)
        {
            int d = name[i] - '0';
            if ((uint)d > 9 || layer > 100_000) return -1;
            layer = layer * 10 + d;
        }
        return layer;
    }

    /// <summary>Whether op code <paramref name="op"/> is named <paramref name="opName"/> in the loaded ggml (cached per code).</summary>
    public static unsafe bool IsOp(int op, string opName, Dictionary<int, bool> cache)
    {
        if (cache.TryGetValue(op, out bool known)) return known;
        byte* p = AttentionNative.ggml_op_name(op);
        bool match = p != null && Marshal.PtrToStringUTF8((IntPtr)p) == opName;
        cache[op] = match;
        return match;
    }
}
