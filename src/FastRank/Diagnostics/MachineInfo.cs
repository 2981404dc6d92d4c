using System.Runtime.Intrinsics.X86;

namespace FastRank.Diagnostics;

/// <summary>A description of the machine a benchmark ran on.</summary>
internal sealed record MachineInfo(string Cpu, int Cores, string Simd, string Os, string Runtime)
{
    /// <summary>Reads the current machine.</summary>
    public static MachineInfo Current()
    {
        string cpu = "unknown";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                if (line is not null) cpu = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }
        string simd = Avx512F.IsSupported ? "AVX-512" : Avx2.IsSupported ? "AVX2" : System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? "NEON" : "scalar";
        return new MachineInfo(cpu, Environment.ProcessorCount, simd,
            System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
    }

    /// <summary>One line, for reports.</summary>
    public override string ToString() => $"{Cpu}, {Cores} cores, {Simd}, {Os}, {Runtime}";
}
