using System.Runtime.InteropServices;
using Cuda = FastRank.Kernels.Interop.FastRankCuda;

namespace FastRank.Kernels;

/// <summary>
/// The GPU side: libfastrank_cuda is used only if the file exists beside the application, has the expected
/// ABI and reports at least one CUDA device; otherwise <see cref="IsAvailable"/> is false and
/// <see cref="Description"/> says why. The probe runs once, on first use (CUDA initialisation costs tens of
/// milliseconds, so it is not done at start-up).
/// </summary>
public static unsafe class CudaKernels
{
    private static readonly Lazy<(int Devices, string Description)> s_probe = new(Probe);

    /// <summary>True when libfastrank_cuda loaded and found a CUDA device.</summary>
    public static bool IsAvailable => s_probe.Value.Devices > 0;

    /// <summary>Number of CUDA devices (0 without the library, a driver or a device).</summary>
    public static int DeviceCount => s_probe.Value.Devices;

    /// <summary>
    /// "NVIDIA H100 80GB HBM3, sm_90, 79 GiB (libfastrank_cuda ABI 1, 1 device)" or
    /// "not available (reason)".
    /// </summary>
    public static string Description => s_probe.Value.Description;

    internal static void ThrowIfUnavailable()
    {
        if (!IsAvailable)
            throw new NotSupportedException($"The CUDA kernels are {Description}.");
    }

    private static (int, string) Probe()
    {
        try
        {
            int abi = Cuda.fr_cuda_abi_version();
            if (abi != Cuda.ExpectedAbiVersion)
                return (0, $"not available (libfastrank_cuda has ABI {abi}, this assembly expects {Cuda.ExpectedAbiVersion})");
            int count = 0;
            NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_device_count(&count), "fr_cuda_device_count");
            if (count == 0)
            {
                byte* why = null;
                _ = Cuda.fr_cuda_last_error(&why);
                string reason = Marshal.PtrToStringUTF8((nint)why) ?? "";
                return (0, $"not available (no CUDA device{(reason.Length > 0 ? ": " + reason : "")})");
            }
            byte* buffer = stackalloc byte[256];
            NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_device_description(0, buffer, 256), "fr_cuda_device_description");
            string name = Marshal.PtrToStringUTF8((nint)buffer) ?? "?";
            return (count, $"{name} (libfastrank_cuda ABI {abi}, {count} device{(count == 1 ? "" : "s")})");
        }
        catch (DllNotFoundException)
        {
            return (0, "not available (libfastrank_cuda was not built or not found)");
        }
        catch (EntryPointNotFoundException e)
        {
            return (0, $"not available (libfastrank_cuda is incomplete: {e.Message})");
        }
        catch (BadImageFormatException e)
        {
            return (0, $"not available (libfastrank_cuda cannot be loaded: {e.Message})");
        }
        catch (KernelDeviceException e)
        {
            return (0, $"not available ({e.Message})");
        }
    }
}

/// <summary>Device memory from libfastrank_cuda, released with fr_cuda_free.</summary>
internal sealed unsafe class CudaDeviceMemoryHandle : SafeHandle
{
    private CudaDeviceMemoryHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    public static CudaDeviceMemoryHandle Allocate(nuint bytes)
    {
        var h = new CudaDeviceMemoryHandle();
        void* p = null;
        NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_malloc(&p, bytes), "fr_cuda_malloc");
        h.SetHandle((nint)p);
        return h;
    }

    protected override bool ReleaseHandle() => Cuda.fr_cuda_free((void*)handle) == NativeStatus.Ok;
}

/// <summary>
/// The ICR attention reduction on a GPU: an accumulator of <see cref="Cells"/> floats in device memory that
/// <see cref="Accumulate"/> adds one layer's attention to, reading the <c>kq_soft_max-L</c> tensor where
/// llama.cpp's CUDA backend left it (the tensor's <c>data</c> device pointer, from the eval callback), so
/// attention matrices never travel to the host. <see cref="CopyTo"/> fetches the result once per pass.
/// Not thread-safe; one per ICR pass.
/// </summary>
public sealed unsafe class CudaAttentionAccumulator : IDisposable
{
    private readonly CudaDeviceMemoryHandle _memory;
    private readonly int _device;

    /// <summary>Allocates a zeroed accumulator of <paramref name="cells"/> floats on <paramref name="device"/>.</summary>
    /// <exception cref="NotSupportedException">No usable CUDA device or libfastrank_cuda.</exception>
    public CudaAttentionAccumulator(int cells, int device = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cells, 1);
        CudaKernels.ThrowIfUnavailable();
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(device, CudaKernels.DeviceCount);
        _device = device;
        Cells = cells;
        NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_set_device(device), "fr_cuda_set_device");
        _memory = CudaDeviceMemoryHandle.Allocate((nuint)cells * sizeof(float));
        Reset();
    }

    /// <summary>Number of KV cells accumulated.</summary>
    public int Cells { get; }

    /// <summary>
    /// accumulator[c] += scale * sum over heads and rows [rowStart, rowEnd) of p(c, t, h, stream) for the
    /// tensor at the DEVICE address <paramref name="deviceData"/>. Returns when the GPU has finished, so
    /// llama.cpp may reuse the tensor's memory as soon as the eval callback returns.
    /// </summary>
    public void Accumulate(void* deviceData, in AttentionTensorLayout layout, int rowStart, int rowEnd, int stream, float scale)
    {
        ObjectDisposedException.ThrowIf(_memory.IsClosed, this);
        if (layout.Cells != Cells)
            throw new ArgumentException($"The tensor has {layout.Cells} cells, the accumulator {Cells}.", nameof(layout));
        if (rowStart < 0 || rowStart > rowEnd || rowEnd > layout.Tokens)
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"Rows [{rowStart}, {rowEnd}) are outside [0, {layout.Tokens}).");
        if (stream < 0 || stream >= layout.Streams)
            throw new ArgumentOutOfRangeException(nameof(stream));
        long* ne = stackalloc long[4];
        long* nb = stackalloc long[4];
        layout.CopyTo(new Span<long>(ne, 4), new Span<long>(nb, 4));
        bool added = false;
        _memory.DangerousAddRef(ref added);
        try
        {
            NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_set_device(_device), "fr_cuda_set_device");
            NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_attn_accumulate_f32(deviceData, ne, nb, rowStart, rowEnd, stream, scale,
                (float*)_memory.DangerousGetHandle(), null), nameof(Accumulate));
            NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_synchronize(null), nameof(Accumulate));
        }
        finally
        {
            if (added)
                _memory.DangerousRelease();
        }
    }

    /// <summary>Sets every cell back to 0.</summary>
    public void Reset()
    {
        WithPointer(p => NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_memset_zero(p, (nuint)Cells * sizeof(float), null), nameof(Reset)));
    }

    /// <summary>Copies the accumulated values to host memory (waits for the copy).</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length < Cells)
            throw new ArgumentException($"destination has {destination.Length} elements; {Cells} are needed.", nameof(destination));
        fixed (float* d = destination)
        {
            float* host = d;
            WithPointer(p =>
            {
                NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_memcpy_to_host(host, p, (nuint)Cells * sizeof(float), null), nameof(CopyTo));
                NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_synchronize(null), nameof(CopyTo));
            });
        }
    }

    /// <summary>Frees the device memory.</summary>
    public void Dispose() => _memory.Dispose();

    private delegate void DeviceAction(void* pointer);

    private void WithPointer(DeviceAction action)
    {
        ObjectDisposedException.ThrowIf(_memory.IsClosed, this);
        bool added = false;
        _memory.DangerousAddRef(ref added);
        try
        {
            NativeStatus.ThrowIfCudaFailed(Cuda.fr_cuda_set_device(_device), "fr_cuda_set_device");
            action((void*)_memory.DangerousGetHandle());
        }
        finally
        {
            if (added)
                _memory.DangerousRelease();
        }
    }
}
