using System.Globalization;

namespace FastRank.Diagnostics;

/// <summary>
/// Memory a new allocation can still get without the process being killed: Linux's MemAvailable, bounded by the
/// cgroup's limit (containers) when one is set. Null where neither can be read (other systems: no check).
/// </summary>
internal static class AvailableMemory
{
    public static long? Bytes()
    {
        if (!OperatingSystem.IsLinux()) return null;
        long? available = MemInfoAvailable();
        if (CgroupHeadroom() is { } headroom) available = available is { } a ? Math.Min(a, headroom) : headroom;
        return available;
    }

    private static long? MemInfoAvailable()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : null;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>cgroup v2: memory.max minus memory.current of the process's group ("max": no limit).</summary>
    private static long? CgroupHeadroom()
    {
        try
        {
            string? group = File.ReadLines("/proc/self/cgroup").FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..];
            if (group is null) return null;
            string dir = Path.Combine("/sys/fs/cgroup", group.TrimStart('/'));
            string max = File.ReadAllText(Path.Combine(dir, "memory.max")).Trim();
            if (max == "max" || !long.TryParse(max, NumberStyles.None, CultureInfo.InvariantCulture, out long limit)) return null;
            string current = File.ReadAllText(Path.Combine(dir, "memory.current")).Trim();
            return long.TryParse(current, NumberStyles.None, CultureInfo.InvariantCulture, out long used) ? Math.Max(0, limit - used) : null;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
