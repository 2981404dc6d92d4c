using System.Diagnostics;
using FastRank.Engine;
using FastRank.Gguf;
using FastRank.Ranking;
using LLama;
using LLama.Common;
using LLama.Native;

namespace FastRank.Fuzz;

/// <summary>
/// Takes one file through the whole load path in this process: <see cref="GgufReader"/>, <see cref="GgufModelValidator"/>,
/// llama.cpp's loader and a rerank of two documents; returns the verdict (the outcome category and message). Run it in a
/// child process (<see cref="ProbeRunner"/>): a native abort ends that process, not the caller.
/// </summary>
public static class GgufProbe
{
    /// <summary>Outcome categories a typed failure can have; anything else is a defect.</summary>
    public static readonly string[] TypedOutcomes = ["ok", "format", "model", "load", "unsupported", "fastrank"];

    private static readonly string[] Documents = ["Paris is the capital of France.", "Bananas are yellow.", OddText()];

    // Text whose UTF-8 covers every byte a .NET string can produce (0x01-0xF4 but 0xC0/0xC1), so a tokenizer that
    // falls back to byte tokens needs each of them.
    private static string OddText()
    {
        var sb = new System.Text.StringBuilder("Odd text: ");
        for (int c = 1; c < 0x800; c += c < 0x100 ? 1 : 37) sb.Append((char)c);
        sb.Append(" \u20AC \u6F22\u5B57 \U0001F642 \uFFFD \U0010FFFF \u0800\u1000\u4000\uD7FF\uE000");
        return sb.ToString();
    }

    /// <summary>Probes <paramref name="path"/>. <paramref name="unvalidated"/>: skip <see cref="GgufModelValidator"/> and
    /// drive llama.cpp through LLamaSharp directly (load, context, tokenize, decode): the path before semantic validation.</summary>
    public static (string Outcome, string Detail, long ManagedBytes) Probe(string path, bool unvalidated)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        string outcome, detail;
        try
        {
            if (unvalidated)
            {
                Unvalidated(path);
            }
            else
            {
                using var r = Reranker.Load(path, new RerankerOptions { Threads = 1, KvCacheBudgetBytes = 64L << 20 });
                var result = r.Rerank("capital of France", Documents);
                if (result.Count != Documents.Length) throw new InvalidOperationException("wrong result count");
            }
            (outcome, detail) = ("ok", "");
        }
        catch (GgufModelException e) { (outcome, detail) = ("model", $"{e.Kind}: {e.Problem}"); }
        catch (GgufFormatException e) { (outcome, detail) = ("format", e.Problem); }
        catch (ModelLoadException e) { (outcome, detail) = ("load", e.Message); }
        catch (ModelNotSupportedException e) { (outcome, detail) = ("unsupported", e.Message); }
        catch (FastRankException e) { (outcome, detail) = ("fastrank", $"{e.GetType().Name}: {e.Message}"); }
        catch (Exception e) when (unvalidated && e is LLama.Exceptions.LoadWeightsFailedException or LLama.Exceptions.RuntimeError)
        {
            (outcome, detail) = ("load", e.Message);
        }
        catch (Exception e) { (outcome, detail) = ("untyped", $"{e.GetType().FullName}: {e.Message}"); }
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
        return (outcome, OneLine(detail), bytes);
    }

    private static void Unvalidated(string path)
    {
        GgufReader.Read(path); // the structural reader FastRank had before semantic validation
        LlamaRuntime.EnsureLoaded();
        var mp = new ModelParams(path) { GpuLayerCount = 0, ContextSize = 256, BatchSize = 256, Threads = 1 };
        using var w = LLamaWeights.LoadFromFile(mp);
        using var ctx = w.CreateContext(mp);
        var batch = new LLamaBatch();
        var tokens = ctx.Tokenize("query: capital of France document: " + Documents[0] + Documents[2], addBos: true, special: true);
        for (int i = 0; i < tokens.Length && i < 200; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, i == Math.Min(tokens.Length, 200) - 1);
        if (batch.TokenCount > 0) ctx.NativeHandle.Decode(batch);
    }

    private static string OneLine(string s)
    {
        s = s.Replace('\n', ' ').Replace('\r', ' ').Replace('\t', ' ');
        return s.Length > 300 ? s[..300] : s;
    }

    /// <summary>The child's loop: for each file print <c>BEGIN path</c>, then <c>RESULT path outcome bytes detail</c> (tab-separated).</summary>
    public static int RunChild(IEnumerable<string> files, bool unvalidated, TextWriter output)
    {
        foreach (string f in files)
        {
            output.WriteLine($"BEGIN\t{f}");
            output.Flush();
            var (outcome, detail, bytes) = Probe(f, unvalidated);
            output.WriteLine($"RESULT\t{f}\t{outcome}\t{bytes}\t{detail}");
            output.Flush();
        }
        return 0;
    }
}

/// <summary>One file's verdict from a probe child: its outcome, or <c>crash</c> (the child died: signal or abort) or <c>hang</c>.</summary>
public sealed record ProbeVerdict(string Path, string Outcome, string Detail, long ManagedBytes, int? ExitCode);

/// <summary>
/// Runs <see cref="GgufProbe"/> over many files in child processes (<c>FastRank.Fuzz probe</c>), one child for as many
/// files as survive: when a child dies, the file it had begun is recorded as a crash with the exit status and a new
/// child takes the rest. A file that takes longer than the per-file limit is a hang (the child is killed).
/// </summary>
public static class ProbeRunner
{
    /// <summary>Probes <paramref name="files"/>; returns one verdict per file, in order. <paramref name="host"/>: the
    /// application whose output folder holds this assembly (a test project), when it is not FastRank.Fuzz itself.</summary>
    public static IReadOnlyList<ProbeVerdict> Run(IReadOnlyList<string> files, bool unvalidated = false, TimeSpan? perFile = null,
        System.Reflection.Assembly? host = null)
    {
        var limit = perFile ?? TimeSpan.FromSeconds(60);
        var verdicts = new List<ProbeVerdict>();
        string dll = typeof(ProbeRunner).Assembly.Location;
        int next = 0;
        while (next < files.Count)
        {
            string list = Path.Combine(Path.GetTempPath(), $"fastrank-probe-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
            File.WriteAllLines(list, files.Skip(next));
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in HostArguments(host)) psi.ArgumentList.Add(a);
            foreach (string a in new[] { dll, "probe", "--list", list }) psi.ArgumentList.Add(a);
            if (unvalidated) psi.ArgumentList.Add("--unvalidated");
            psi.Environment["DOTNET_DbgEnableMiniDump"] = "0";
            psi.Environment["DOTNET_TieredPGO"] = "0";
            using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the probe child");
            var stderr = new System.Text.StringBuilder();
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) { if (stderr.Length < 4000) stderr.AppendLine(e.Data); } };
            p.BeginErrorReadLine();
            string? current = null;
            bool hung = false;
            while (true)
            {
                var read = p.StandardOutput.ReadLineAsync();
                if (!read.Wait(limit))
                {
                    hung = true;
                    try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                    break;
                }
                string? line = read.Result;
                if (line is null) break;
                string[] parts = line.Split('\t');
                if (parts[0] == "BEGIN") current = parts[1];
                else if (parts[0] == "RESULT" && parts.Length >= 5)
                {
                    verdicts.Add(new ProbeVerdict(parts[1], parts[2], parts[4], long.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture), null));
                    current = null;
                    next++;
                }
            }
            p.WaitForExit();
            File.Delete(list);
            if (current is not null)
            {
                string tail;
                lock (stderr) tail = stderr.ToString();
                tail = string.Join(" | ", tail.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("GGML", StringComparison.Ordinal) || l.Contains("error", StringComparison.OrdinalIgnoreCase) || l.Contains("terminate", StringComparison.Ordinal)).Take(3));
                verdicts.Add(new ProbeVerdict(current, hung ? "hang" : "crash", tail, 0, hung ? null : p.ExitCode));
                next++;
            }
            else if (next < files.Count && verdicts.Count == next)
            {
                throw new InvalidOperationException($"probe child exited ({p.ExitCode}) before its first file: {stderr}");
            }
        }
        return verdicts;
    }

    // Called from another application (the test project), FastRank.Fuzz.dll sits in that application's folder, whose
    // dependency file and runtime configuration resolve its references (the test project's shared frameworks); the
    // FastRank.Fuzz.deps.json copied there does not.
    private static string[] HostArguments(System.Reflection.Assembly? host)
    {
        if (host is null) return [];
        string stem = host.Location[..^".dll".Length];
        string deps = stem + ".deps.json", config = stem + ".runtimeconfig.json";
        return File.Exists(deps) && File.Exists(config) ? ["exec", "--depsfile", deps, "--runtimeconfig", config] : [];
    }
}
