using System.Runtime.InteropServices;

namespace FastRank.Kernels;

/// <summary>
/// The one place where fr_status codes from the native libraries become .NET exceptions (the
/// onnxruntime NativeApiStatus / TorchSharp CheckForErrors habit). The message is the library's own
/// per-thread description of the failure.
/// </summary>
internal static unsafe class NativeStatus
{
    internal const int Ok = 0;
    internal const int NullArgument = 1;
    internal const int InvalidArgument = 2;
    internal const int Unsupported = 3;
    internal const int Device = 4;
    internal const int OutOfMemory = 5;

    /// <summary>Throws for a failed fr_* call of libfastrank_native.</summary>
    internal static void ThrowIfFailed(int status, string operation)
    {
        if (status != Ok)
            Throw(status, operation, NativeMessage());
    }

    /// <summary>Throws for a failed fr_cuda_* call of libfastrank_cuda.</summary>
    internal static void ThrowIfCudaFailed(int status, string operation)
    {
        if (status != Ok)
            Throw(status, operation, CudaMessage());
    }

    private static string NativeMessage()
    {
        byte* message = null;
        return Interop.FastRankNative.fr_last_error(&message) == Ok ? Marshal.PtrToStringUTF8((nint)message) ?? "" : "";
    }

    private static string CudaMessage()
    {
        byte* message = null;
        return Interop.FastRankCuda.fr_cuda_last_error(&message) == Ok ? Marshal.PtrToStringUTF8((nint)message) ?? "" : "";
    }

    private static void Throw(int status, string operation, string message)
    {
        string text = $"{operation}: {message}";
        throw status switch
        {
            NullArgument => new ArgumentNullException(null, text),
            InvalidArgument => new ArgumentException(text),
            Unsupported => new NotSupportedException(text),
            OutOfMemory => new OutOfMemoryException(text),
            Device => new KernelDeviceException(text),
            _ => new KernelDeviceException($"{text} (unknown status {status})"),
        };
    }
}
