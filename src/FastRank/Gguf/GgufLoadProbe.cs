using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace FastRank.Gguf;

/// <summary>
/// Opt-in protection from the faults <see cref="GgufModelValidator"/> cannot foresee: the first load of a file whose
/// content is new to this probe happens in a short-lived child process (the host's own executable, re-entered through
/// <see cref="RunChild"/>); only if the child survives is the file loaded in process. The verdict is cached by the file's
/// SHA-256 in <see cref="CacheDirectory"/>, so each content is probed once. Set <see cref="Default"/> at start-up to
/// cover every load (<c>Reranker.Load</c>, <c>ModelPool</c>):
/// <code>
/// // Program.cs of the host
/// if (args is ["--fastrank-probe", var file]) return GgufLoadProbe.RunChild(file);
/// GgufLoadProbe.Default = new GgufLoadProbe(cacheDir, Environment.ProcessPath!, ["--fastrank-probe", "{file}"]);
/// </code>
/// </summary>
public sealed class GgufLoadProbe
{
    /// <summary>Exit code of <see cref="RunChild"/> when the file loads and reranks.</summary>
    public const int ExitLoads = 0;

    /// <summary>Exit code of <see cref="RunChild"/> when the file is refused with a typed error (not a crash).</summary>
    public const int ExitRefused = 3;

    private readonly string _executable;
    private readonly string[] _arguments;
    private readonly Lock _gate = new();
    private int _childRuns;

    /// <summary>The probe every <c>LlamaModel.Load</c> uses (null: none, the default).</summary>
    public static GgufLoadProbe? Default { get; set; }

    /// <summary>Creates a probe that runs <paramref name="executable"/> with <paramref name="arguments"/>, where the
    /// argument <c>{file}</c> is replaced by the model's path, and caches verdicts in <paramref name="cacheDirectory"/>.</summary>
    public GgufLoadProbe(string cacheDirectory, string executable, IReadOnlyList<string> arguments, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        ArgumentException.ThrowIfNullOrEmpty(executable);
        ArgumentNullException.ThrowIfNull(arguments);
        if (!arguments.Contains("{file}")) throw new ArgumentException("one argument must be {file}", nameof(arguments));
        CacheDirectory = cacheDirectory;
        _executable = executable;
        _arguments = [.. arguments];
        Timeout = timeout ?? TimeSpan.FromMinutes(5);
    }

    /// <summary>Where verdicts are kept, one file per content hash.</summary>
    public string CacheDirectory { get; }

    /// <summary>How long a child may take before the file counts as hanging.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Child processes started so far (verdicts not found in the cache).</summary>
    public int ChildRuns => Volatile.Read(ref _childRuns);

    /// <summary>Returns when the file at <paramref name="path"/> loaded in a child (now or before), or a child refused it
    /// with a typed error (the in-process load then raises the same error itself).</summary>
    /// <exception cref="ModelLoadException">The file crashed or hung a child process: it is not loaded in process.</exception>
    public void Verify(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string hash;
        using (var fs = File.OpenRead(path)) hash = Convert.ToHexStringLower(SHA256.HashData(fs));
        string entry = Path.Combine(CacheDirectory, hash + ".verdict");
        string verdict;
        lock (_gate)
        {
            if (File.Exists(entry))
            {
                verdict = File.ReadAllText(entry);
            }
            else
            {
                verdict = RunProbe(path);
                Directory.CreateDirectory(CacheDirectory);
                string tmp = entry + $".{Environment.ProcessId}.tmp";
                File.WriteAllText(tmp, verdict);
                File.Move(tmp, entry, overwrite: true);
            }
        }
        if (verdict.StartsWith("crash", StringComparison.Ordinal) || verdict.StartsWith("hang", StringComparison.Ordinal))
            throw new ModelLoadException($"'{path}' (sha256 {hash}) {verdict}; FastRank does not load it in process");
    }

    private string RunProbe(string path)
    {
        Interlocked.Increment(ref _childRuns);
        var psi = new ProcessStartInfo(_executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in _arguments) psi.ArgumentList.Add(a == "{file}" ? Path.GetFullPath(path) : a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start the probe '{_executable}'");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(Timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            return $"hung a probe process for {Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s";
        }
        string why = string.Join(" | ", (stderr.Result + stdout.Result).Split('\n')
            .Where(l => l.Contains("GGML_ASSERT", StringComparison.Ordinal) || l.Contains("terminate", StringComparison.Ordinal)).Take(2)).Trim();
        return p.ExitCode switch
        {
            ExitLoads => "loads",
            ExitRefused => "refused (typed error)",
            // Anything else is a death, not an answer: 128 + n for signal n (134 SIGABRT, 139 SIGSEGV), or a runtime failure.
            int code => $"crashed a probe process (exit {code}{(why.Length > 0 ? ": " + why : "")})",
        };
    }

    /// <summary>The child's side: loads <paramref name="path"/> and reranks two documents in this process; returns
    /// <see cref="ExitLoads"/>, or <see cref="ExitRefused"/> on a typed FastRank error. A native crash ends the process,
    /// which is what the parent watches for.</summary>
    public static int RunChild(string path)
    {
        try
        {
            using var r = Ranking.Reranker.Load(path, new Ranking.RerankerOptions { Threads = 1, KvCacheBudgetBytes = 64L << 20 });
            r.Rerank("probe query \u20AC\u6F22", ["a probe document", "another one, \U0001F642 \u00E9\u00FF"]);
            return ExitLoads;
        }
        catch (FastRankException e)
        {
            Console.Error.WriteLine(e.Message);
            return ExitRefused;
        }
    }
}
