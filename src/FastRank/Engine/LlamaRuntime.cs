using LLama.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastRank.Engine;

/// <summary>
/// Process-wide llama.cpp state: loads the native library once (through LLamaSharp's selection of the
/// best CPU build, or a custom library named by <c>FASTRANK_LLAMA_LIBRARY</c>), routes llama.cpp's log to
/// a <see cref="ILogger"/>, and registers FastRank's import resolver.
/// </summary>
public static class LlamaRuntime
{
    /// <summary>Environment variable naming a custom libllama (for example a CUDA build of the same llama.cpp commit).</summary>
    public const string LibraryEnvironmentVariable = "FASTRANK_LLAMA_LIBRARY";

    private static readonly Lock Gate = new();
    private static bool _loaded;
    private static ILogger _nativeLogger = NullLogger.Instance;
    private static string? _customLibrary;

    /// <summary>
    /// Where llama.cpp's own log lines go (Debug for its info lines, Warning/Error as they are).
    /// Defaults to nowhere. Set it before loading the first model to see load-time lines.
    /// </summary>
    public static ILogger NativeLogger
    {
        get => _nativeLogger;
        set => _nativeLogger = value ?? NullLogger.Instance;
    }

    /// <summary>
    /// Uses a custom libllama instead of the packaged CPU builds; must be called before the first model
    /// is loaded. <see cref="LibraryEnvironmentVariable"/> does the same from the environment.
    /// </summary>
    public static void UseLibrary(string libllamaPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(libllamaPath);
        lock (Gate)
        {
            if (_loaded) throw new InvalidOperationException("llama.cpp is already loaded; choose the library before loading a model");
            _customLibrary = libllamaPath;
        }
    }

    /// <summary>Loads llama.cpp if it is not loaded yet.</summary>
    public static void EnsureLoaded()
    {
        if (_loaded) return;
        lock (Gate)
        {
            if (_loaded) return;
            string? custom = _customLibrary ?? Environment.GetEnvironmentVariable(LibraryEnvironmentVariable);
            if (!string.IsNullOrEmpty(custom))
            {
                if (!File.Exists(custom)) throw new FileNotFoundException($"the llama library named by {LibraryEnvironmentVariable} does not exist", custom);
                NativeLibraryConfig.All.WithLibrary(custom, null);
            }
            NativeLibraryConfig.All.WithLogCallback(OnNativeLog);
            NativeApi.llama_empty_call();
            Interop.NativeLibraryResolver.Register();
            _loaded = true;
        }
    }

    private static void OnNativeLog(LLamaLogLevel level, string message)
    {
        var logger = _nativeLogger;
        var lvl = level switch
        {
            LLamaLogLevel.Error => LogLevel.Error,
            LLamaLogLevel.Warning => LogLevel.Warning,
            _ => LogLevel.Debug,
        };
        if (!logger.IsEnabled(lvl)) return;
        logger.Log(lvl, "llama.cpp: {Message}", message.TrimEnd());
    }
}
