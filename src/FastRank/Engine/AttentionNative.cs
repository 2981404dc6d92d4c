using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastRank.Interop;

namespace FastRank.Engine;

/// <summary>ggml_init_params (ggml.h), passed by value.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GgmlInitParams
{
    public nuint MemSize;
    public IntPtr MemBuffer;
    public byte NoAlloc;
}

/// <summary>
/// The few ggml functions the attention readout needs, imported from the very libggml-base that
/// LLamaSharp loaded (see <see cref="NativeLibraryResolver"/>).
/// </summary>
internal static unsafe partial class AttentionNative
{
    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_backend_buffer_is_host(IntPtr buffer);

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void ggml_backend_tensor_get(IntPtr tensor, void* data, nuint offset, nuint size);

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial byte* ggml_op_name(int op);

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial IntPtr ggml_init(GgmlInitParams parameters);

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial IntPtr ggml_new_tensor_4d(IntPtr ctx, int type, long ne0, long ne1, long ne2, long ne3);

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial IntPtr ggml_set_name(IntPtr tensor, byte* name);

    [LibraryImport(LlamaNative.GgmlBase)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial void ggml_free(IntPtr ctx);
}
