using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FastRank.Kernels;

/// <summary>Vector width the managed kernels use (the managed counterpart of a native variant).</summary>
internal enum ManagedVariant
{
    Scalar,
    Vector128,
    Vector256,
    Vector512,
}

/// <summary>
/// Decides, per call, which implementation runs: the process default (native when libfastrank_native
/// loads with the expected ABI, unless FASTRANK_KERNELS=managed) or a thread-scoped override set through
/// <see cref="RankKernels.Use"/>. Thread-scoped so that tests and benchmarks can run variants side by side
/// without disturbing other threads; the native library keeps its own per-thread override in step.
/// </summary>
internal static unsafe class KernelSelection
{
    internal const string ImplementationEnvironmentVariable = "FASTRANK_KERNELS";
    internal const string NativeVariantEnvironmentVariable = "FASTRANK_KERNEL_VARIANT";

    private static readonly string[] s_nativeVariantNames = ["scalar", "avx2", "avx512", "neon"];
    private static readonly string[] s_managedVariantNames = ["scalar", "vector128", "vector256", "vector512"];

    [ThreadStatic] private static bool t_overridden;
    [ThreadStatic] private static KernelImplementation t_implementation;
    [ThreadStatic] private static ManagedVariant t_managedVariant;
    [ThreadStatic] private static string? t_nativeVariant;

    static KernelSelection()
    {
        (NativeAvailable, NativeUnavailableReason) = ProbeNative();
        SupportedNativeVariants = NativeAvailable ? [.. s_nativeVariantNames.Where(IsNativeVariantSupported)] : [];
        SupportedManagedVariants = [.. s_managedVariantNames.Where(n => IsManagedVariantSupported(ParseManagedVariant(n)))];
        BestManagedVariant = ParseManagedVariant(SupportedManagedVariants[^1]);
        string? requested = Environment.GetEnvironmentVariable(ImplementationEnvironmentVariable);
        ProcessImplementation = NativeAvailable && !string.Equals(requested, "managed", StringComparison.OrdinalIgnoreCase)
            ? KernelImplementation.Native
            : KernelImplementation.Managed;
        if (ProcessImplementation == KernelImplementation.Managed && NativeAvailable)
            ManagedReason = $"{ImplementationEnvironmentVariable}={requested}";
        else if (ProcessImplementation == KernelImplementation.Managed)
            ManagedReason = NativeUnavailableReason;
    }

    internal static bool NativeAvailable { get; }
    internal static string? NativeUnavailableReason { get; }
    internal static string? ManagedReason { get; }
    internal static KernelImplementation ProcessImplementation { get; }
    internal static string[] SupportedNativeVariants { get; }
    internal static string[] SupportedManagedVariants { get; }
    internal static ManagedVariant BestManagedVariant { get; }

    /// <summary>True when a call on this thread goes to libfastrank_native.</summary>
    internal static bool UseNative =>
        (t_overridden ? t_implementation : ProcessImplementation) == KernelImplementation.Native;

    internal static KernelImplementation Current => t_overridden ? t_implementation : ProcessImplementation;

    internal static ManagedVariant CurrentManagedVariant => t_overridden ? t_managedVariant : BestManagedVariant;

    internal static string CurrentVariantName =>
        Current == KernelImplementation.Native ? NativeVariant() : ManagedVariantName(CurrentManagedVariant);

    internal static string ManagedVariantName(ManagedVariant v) => s_managedVariantNames[(int)v];

    internal static string NativeVariant()
    {
        byte* name = null;
        NativeStatus.ThrowIfFailed(Interop.FastRankNative.fr_kernel_variant(&name), "fr_kernel_variant");
        return Marshal.PtrToStringUTF8((nint)name) ?? "";
    }

    internal static KernelScope Enter(KernelImplementation implementation, string? variant)
    {
        var previous = new KernelScope(t_overridden, t_implementation, t_managedVariant, t_nativeVariant);
        ManagedVariant managed = BestManagedVariant;
        string? native = null;
        if (implementation == KernelImplementation.Native)
        {
            if (!NativeAvailable)
                throw new NotSupportedException($"The native kernels are not available: {NativeUnavailableReason}");
            if (variant is not null)
            {
                // fr_set_thread_kernel_variant reports unknown (ArgumentException) and unsupported
                // (NotSupportedException) names itself.
                // A constant operation name: the native message already names the variant, and an
                // interpolated string here would allocate on every scope.
                NativeStatus.ThrowIfFailed(Interop.FastRankNative.fr_set_thread_kernel_variant(variant),
                    "fr_set_thread_kernel_variant");
                native = variant;
            }
            else
            {
                NativeStatus.ThrowIfFailed(Interop.FastRankNative.fr_set_thread_kernel_variant(null), "fr_set_thread_kernel_variant");
            }
        }
        else if (implementation == KernelImplementation.Managed)
        {
            if (variant is not null)
            {
                if (Array.IndexOf(s_managedVariantNames, variant) < 0)
                    throw new ArgumentException(
                        $"Unknown managed kernel variant '{variant}' ({string.Join(", ", s_managedVariantNames)}).", nameof(variant));
                managed = ParseManagedVariant(variant);
                if (!IsManagedVariantSupported(managed))
                    throw new NotSupportedException($"Managed kernel variant '{variant}' is not hardware-accelerated here.");
            }
        }
        else
        {
            throw new ArgumentOutOfRangeException(nameof(implementation));
        }
        t_overridden = true;
        t_implementation = implementation;
        t_managedVariant = managed;
        t_nativeVariant = native;
        return previous;
    }

    internal static void Restore(in KernelScope previous)
    {
        if (NativeAvailable && t_nativeVariant != previous.NativeVariant)
            _ = Interop.FastRankNative.fr_set_thread_kernel_variant(previous.NativeVariant);
        t_overridden = previous.Overridden;
        t_implementation = previous.Implementation;
        t_managedVariant = previous.ManagedVariant;
        t_nativeVariant = previous.NativeVariant;
    }

    private static ManagedVariant ParseManagedVariant(string name) => (ManagedVariant)Array.IndexOf(s_managedVariantNames, name);

    private static bool IsManagedVariantSupported(ManagedVariant v) => v switch
    {
        ManagedVariant.Scalar => true,
        ManagedVariant.Vector128 => Vector128.IsHardwareAccelerated,
        ManagedVariant.Vector256 => Vector256.IsHardwareAccelerated,
        ManagedVariant.Vector512 => Vector512.IsHardwareAccelerated,
        _ => false,
    };

    private static bool IsNativeVariantSupported(string name)
    {
        int supported = 0;
        return Interop.FastRankNative.fr_kernel_variant_supported(name, &supported) == NativeStatus.Ok && supported != 0;
    }

    private static (bool Available, string? Reason) ProbeNative()
    {
        try
        {
            int abi = Interop.FastRankNative.fr_abi_version();
            return abi == Interop.FastRankNative.ExpectedAbiVersion
                ? (true, null)
                : (false, $"libfastrank_native has ABI {abi}, this assembly expects {Interop.FastRankNative.ExpectedAbiVersion}");
        }
        catch (DllNotFoundException)
        {
            return (false, "libfastrank_native was not found beside the application");
        }
        catch (EntryPointNotFoundException e)
        {
            return (false, $"libfastrank_native is incomplete ({e.Message})");
        }
        catch (BadImageFormatException e)
        {
            return (false, $"libfastrank_native cannot be loaded ({e.Message})");
        }
    }
}
