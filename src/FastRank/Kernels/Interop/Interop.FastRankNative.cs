using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastRank.Kernels.Interop;

/// <summary>
/// P/Invoke declarations for libfastrank_native (native/include/fastrank.h). Every function returns an
/// fr_status that <see cref="NativeStatus.ThrowIfFailed"/> turns into an exception; nothing here throws.
/// Pointers rather than spans: callers pin once and pass lengths explicitly, exactly as the C API takes them.
/// </summary>
internal static unsafe partial class FastRankNative
{
    internal const string LibraryName = "fastrank_native";
    internal const int ExpectedAbiVersion = 2;

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_abi_version();

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_last_error(byte** message);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_kernel_variant(byte** name);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_kernel_variant_supported(string name, int* supported);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_set_kernel_variant(string? name);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_set_thread_kernel_variant(string? name);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_topk_rows_f32(float* x, long nRows, long nCols, long rowStride, int k,
        int* outIdx, float* outVal, int* outCount);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_logsumexp_rows_f32(float* logits, long nRows, long nVocab, long rowStride, float* outLse);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_gather_logprobs_f32(float* logits, long nRows, long nVocab, long rowStride,
        int* ids, int nIds, float* outLogprobs, float* outLse);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_restricted_softmax_f32(float* logits, long nRows, long nVocab, long rowStride,
        int* ids, int nIds, float* outProbs);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_attn_accumulate_f32(void* data, long* ne, long* nb, long row0, long row1,
        long stream, float scale, float* acc);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_span_sums_f32(float* values, long n, IndexRange* spans, long nSpans, float* output);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_masked_calibration_f32(float* sQ, float* sNa, long n, IndexRange* docs, long nDocs,
        float* outScores);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_dot_rows_q8_f32(float* queries, long nQueries, long dim, sbyte* rows,
        long rowStrideBytes, float* scales, long nRows, float* outScores);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_dot_rows_f16_f32(float* queries, long nQueries, long dim, Half* rows,
        long rowStride, long nRows, float* outScores);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_topk_dot_q8_f32(float* queries, long nQueries, long dim, sbyte* rows,
        long rowStrideBytes, float* scales, long nRows, int k, int* outIdx, float* outScores, int* outCount);

    [LibraryImport(LibraryName)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial int fr_topk_dot_f16_f32(float* queries, long nQueries, long dim, Half* rows,
        long rowStride, long nRows, int k, int* outIdx, float* outScores, int* outCount);
}
