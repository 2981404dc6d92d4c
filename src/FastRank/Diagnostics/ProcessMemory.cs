namespace FastRank.Diagnostics;

/// <summary>Resident memory of this process (Linux /proc; zero elsewhere).</summary>
internal static partial class ProcessMemory
{
    /// <summary>Peak resident set size in bytes (VmHWM).</summary>
    public static long PeakResidentBytes() => ReadStatusKb("VmHWM:") * 1024;

    /// <summary>Current resident set size in bytes (VmRSS).</summary>
    public static long ResidentBytes() => ReadStatusKb("VmRSS:") * 1024;

    /// <summary>
    /// Resident memory after a full garbage collection and, on Linux, malloc_trim: glibc keeps freed memory
    /// in per-thread arenas, which raw RSS counts, so raw RSS rises in steps and plateaus without a leak.
    /// </summary>
    public static long SettledResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (OperatingSystem.IsLinux()) _ = MallocTrim(0);
        return ResidentBytes();
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    /// <summary>
    /// The peak resident size while <paramref name="work"/> runs, from a settled start (<see cref="SettledResidentBytes"/>,
    /// then the high-water mark reset): what the work needs on top of what is live, not what earlier work left in the
    /// allocators. Where the peak cannot be reset, the process's peak so far (after running the work).
    /// </summary>
    public static long PeakDuring(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        SettledResidentBytes();
        ResetPeak();
        work();
        return PeakResidentBytes();
    }

    /// <summary>Resets the peak to the current resident size; false where the kernel does not allow it.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long ReadStatusKb(string key)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
                var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
