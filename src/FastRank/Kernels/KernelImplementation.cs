namespace FastRank.Kernels;

/// <summary>Which implementation runs the CPU kernels of <see cref="RankKernels"/>.</summary>
public enum KernelImplementation
{
    /// <summary>C# with System.Numerics.Tensors and Vector128/256/512; always available.</summary>
    Managed,

    /// <summary>libfastrank_native (C with scalar, AVX2, AVX-512 or NEON variants); available when the library loads.</summary>
    Native,
}
