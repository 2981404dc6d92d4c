using System.Runtime.InteropServices;

namespace FastRank.Fuzz;

/// <summary>
/// SharpFuzz's instrumentation writes edge counts to <c>SharpFuzz.Common.Trace.SharedMem</c>, which the fuzzer engine's
/// entry (<c>Fuzzer.Run</c>, <c>Fuzzer.LibFuzzer.Run</c>) maps. Replaying files through an instrumented
/// <c>FastRank.dll</c> without an engine needs a buffer there, or the first instrumented branch writes through null.
/// </summary>
internal static unsafe class TraceBuffer
{
    private const int MapSize = 1 << 16; // AFL's MAP_SIZE

    public static void EnsureForReplay()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
            SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(MapSize);
    }
}
