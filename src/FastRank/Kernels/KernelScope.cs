namespace FastRank.Kernels;

/// <summary>
/// A thread-scoped choice of kernel implementation and variant, returned by <see cref="RankKernels.Use"/>;
/// disposing it restores the previous choice on this thread. Scopes nest. Dispose on the thread that created
/// it (a <c>using</c> statement around synchronous code).
/// </summary>
public readonly struct KernelScope : IDisposable, IEquatable<KernelScope>
{
    internal KernelScope(bool overridden, KernelImplementation implementation, ManagedVariant managedVariant, string? nativeVariant)
    {
        Overridden = overridden;
        Implementation = implementation;
        ManagedVariant = managedVariant;
        NativeVariant = nativeVariant;
    }

    internal bool Overridden { get; }
    internal KernelImplementation Implementation { get; }
    internal ManagedVariant ManagedVariant { get; }
    internal string? NativeVariant { get; }

    /// <summary>Restores the implementation and variant that were in effect before this scope.</summary>
    public void Dispose() => KernelSelection.Restore(this);

    /// <inheritdoc />
    public bool Equals(KernelScope other) =>
        Overridden == other.Overridden && Implementation == other.Implementation &&
        ManagedVariant == other.ManagedVariant && NativeVariant == other.NativeVariant;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is KernelScope other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Overridden, Implementation, ManagedVariant, NativeVariant);

    /// <summary>Equality of the saved state.</summary>
    public static bool operator ==(KernelScope left, KernelScope right) => left.Equals(right);

    /// <summary>Inequality of the saved state.</summary>
    public static bool operator !=(KernelScope left, KernelScope right) => !left.Equals(right);
}
