using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastRank.Kernels.Interop;

/// <summary>
/// P/Invoke declarations for libfastrank_cuda (native/include/fastrank_cuda.h): the subset the managed
/// side uses (device discovery, device memory, the attention reduction on device pointers). Loaded only
/// when the library file exists; see <see cref="CudaKernels"/>.
/// </summary>
internal static unsafe partial class FastRankCuda
{
    internal const string LibraryName = "fastrank_cuda";
    internal const int ExpectedAbiVersion = 1;

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_abi_version();

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_last_error(byte** message);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_device_count(int* count);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_device_description(int device, byte* buffer, int capacity);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_set_device(int device);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_malloc(void** ptr, nuint bytes);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_free(void* ptr);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_memcpy_to_host(void* hostDst, void* src, nuint bytes, void* stream);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_memset_zero(void* dst, nuint bytes, void* stream);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_synchronize(void* stream);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_cuda_attn_accumulate_f32(void* data, long* hostNe, long* hostNb, long row0,
        long row1, long streamIndex, float scale, float* acc, void* stream);
}
