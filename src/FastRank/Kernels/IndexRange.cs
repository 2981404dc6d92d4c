using System.Runtime.InteropServices;

namespace FastRank.Kernels;

/// <summary>
/// A half-open range [<see cref="Start"/>, <see cref="End"/>) of positions in a per-token (or per-cell)
/// vector, e.g. one document's tokens. Laid out as the C API's fr_range, so spans of it cross the native
/// boundary without copying.
/// </summary>
/// <param name="Start">First position in the range.</param>
/// <param name="End">One past the last position.</param>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct IndexRange(int Start, int End)
{
    /// <summary>Number of positions in the range.</summary>
    public int Length => End - Start;
}
