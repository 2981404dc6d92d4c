using System.Reflection;
using System.Runtime.InteropServices;

namespace FastRank.Interop;

/// <summary>
/// The one DllImport resolver of the FastRank assembly (.NET allows one per assembly). It maps
/// <c>llama</c>, <c>ggml-base</c> and <c>ggml-cpu</c> to the libraries LLamaSharp already loaded, so FastRank's direct
/// imports and LLamaSharp's talk to the same llama.cpp; every other name falls through to the
/// runtime's default probing (the application directory first).
/// </summary>
internal static class NativeLibraryResolver
{
    private static readonly Lock Gate = new();
    private static bool _registered;
    private static readonly Dictionary<string, IntPtr> Handles = new(StringComparer.Ordinal);

    public static void Register()
    {
        lock (Gate)
        {
            if (_registered) return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
            _registered = true;
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name is not (LlamaNative.Llama or LlamaNative.GgmlBase or LlamaNative.GgmlCpu)) return IntPtr.Zero;
        lock (Gate)
        {
            if (Handles.TryGetValue(name, out IntPtr h)) return h;
            Engine.LlamaRuntime.EnsureLoaded();
            h = LoadSibling(name);
            Handles[name] = h;
            return h;
        }
    }

    private static IntPtr LoadSibling(string name)
    {
        string file = OperatingSystem.IsWindows() ? $"{name}.dll" : OperatingSystem.IsMacOS() ? $"lib{name}.dylib" : $"lib{name}.so";
        // On Linux the mapped file tells exactly which build LLamaSharp chose (avx512, avx2, cuda...).
        string? path = FindMapped(file);
        if (path is not null && NativeLibrary.TryLoad(path, out IntPtr h)) return h;
        // Elsewhere (and as a fallback) the loader returns an already-loaded library by its soname/name.
        if (NativeLibrary.TryLoad(file, out h)) return h;
        throw new DllNotFoundException($"FastRank could not locate {file}, which LLamaSharp should have loaded");
    }

    /// <summary>
    /// The file of native library <paramref name="name"/> (e.g. <c>ggml-cpu</c>) this process mapped, which tells
    /// which of LLamaSharp's builds (avx512, avx2, ...) runs; null where that cannot be read (not Linux, not loaded).
    /// </summary>
    internal static string? LoadedPath(string name) => FindMapped(OperatingSystem.IsWindows() ? $"{name}.dll" : OperatingSystem.IsMacOS() ? $"lib{name}.dylib" : $"lib{name}.so");

    private static string? FindMapped(string file)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash < 0) continue;
                string p = line[slash..];
                if (p.EndsWith("/" + file, StringComparison.Ordinal)) return p;
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
