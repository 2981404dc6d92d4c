using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastRank.Interop;

/// <summary><c>struct ggml_type_traits_cpu</c> (ggml-cpu.h): the CPU backend's conversion and dot kernels of one type.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlTypeTraitsCpu
{
    /// <summary><c>void from_float(const float * x, void * y, int64_t k)</c>: f32 to this type (null for f32 on some builds).</summary>
    public delegate* unmanaged[Cdecl]<float*, void*, long, void> FromFloat;

    /// <summary><c>void vec_dot(int n, float * s, size_t bs, const void * x, size_t bx, const void * y, size_t by, int nrc)</c>.</summary>
    public delegate* unmanaged[Cdecl]<int, float*, nuint, void*, nuint, void*, nuint, int, void> VecDot;

    /// <summary>The type the other operand of <see cref="VecDot"/> is converted to (activations in a mul_mat).</summary>
    public int VecDotType;

    /// <summary>Rows one vec_dot call may process.</summary>
    public long Rows;
}

/// <summary><c>struct ggml_type_traits</c> (ggml.h): the type's geometry and reference conversions.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlTypeTraits
{
    public byte* TypeName;
    public long BlockSize;
    public long BlockSizeInterleave;
    public nuint TypeSize;
    public byte IsQuantized;

    /// <summary><c>void to_float(const void * x, float * y, int64_t k)</c>.</summary>
    public delegate* unmanaged[Cdecl]<void*, float*, long, void> ToFloat;
    public IntPtr FromFloatRef;
}

/// <summary>
/// ggml's per-type kernels, imported from the libggml-base and libggml-cpu that LLamaSharp loaded (see
/// <see cref="NativeLibraryResolver"/>): what llama.cpp's CPU mul_mat runs, for reading a weight the same way.
/// </summary>
internal static unsafe partial class GgmlTypeNative
{
    [LibraryImport(LlamaNative.GgmlCpu)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial GgmlTypeTraitsCpu* ggml_get_type_traits_cpu(int type);

    [LibraryImport(LlamaNative.GgmlCpu)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void ggml_cpu_init();

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial GgmlTypeTraits* ggml_get_type_traits(int type);

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial nuint ggml_row_size(int type, long ne);
}
