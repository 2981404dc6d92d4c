using System.Globalization;
using FastRank.Fuzz;
using FastRank.Gguf;
using SharpFuzz;

// FastRank.Fuzz: see docs/readme/reliability-gguf.md.
//   libfuzzer                      libFuzzer entry (run under libfuzzer-dotnet after `sharpfuzz` instrumented FastRank.dll)
//   afl                            AFL entry (AFL_SKIP_BIN_CHECK=1 afl-fuzz -i seeds -o findings -x gguf.dict -- dotnet FastRank.Fuzz.dll afl)
//   replay DIR|FILE...             reader + validator over files, in process: one verdict per file (no llama.cpp);
//                                  a folder gives all its files but *.tsv (AFL names its finds id:NNNNNN,..., without .gguf)
//   probe [--unvalidated] [--list F] FILE...   child mode: the whole load path, one verdict line per file
//   triage [--unvalidated] DIR|FILE...   the whole load path over files (any name: an AFL queue) in probe children; a table of outcomes
//   mutants SRC OUTDIR COUNT SEED  write COUNT mutants of SRC (mutation kinds in turn)
//   selfprobe FILE                 GgufLoadProbe's child side (exit 0 loads, 3 typed refusal, else a crash)
//   seed NAME OUT                  write a micro seed model (micro-llama, micro-qwen3)
//   corpus OUTDIR COUNT SEED       rebuild tests/fixtures/gguf-corpus: distinct verdicts among COUNT mutants per seed
//   campaign SRC COUNT SEED [--unvalidated] [--kinds K1,K2]   mutants through probe children; a table of outcomes
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: FastRank.Fuzz libfuzzer | afl | replay DIR|FILE... | probe [--unvalidated] [--list F] FILE... | triage [--unvalidated] DIR|FILE... | mutants SRC OUTDIR COUNT SEED | campaign SRC COUNT SEED [--unvalidated]");
    return 2;
}
switch (args[0])
{
    case "libfuzzer":
        Fuzzer.LibFuzzer.Run(span => FuzzTarget.Run(span));
        return 0;
    case "afl":
        Fuzzer.Run(stream =>
        {
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            FuzzTarget.Run(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        });
        return 0;
    case "replay":
    {
        TraceBuffer.EnsureForReplay();
        var files = InputFiles(args.Skip(1));
        int n = 0;
        foreach (string f in files)
        {
            Console.WriteLine($"{Path.GetFileName(f)}\t{FuzzTarget.Verdict(File.ReadAllBytes(f))}");
            n++;
        }
        Console.Error.WriteLine($"{n} files replayed, no crash");
        return 0;
    }
    case "probe":
    {
        bool unvalidated = args.Contains("--unvalidated");
        var files = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--unvalidated") continue;
            if (args[i] == "--list") { files.AddRange(File.ReadAllLines(args[++i]).Where(l => l.Length > 0)); continue; }
            files.Add(args[i]);
        }
        TraceBuffer.EnsureForReplay(); // the child may run an instrumented FastRank.dll (the published fuzz build)
        return GgufProbe.RunChild(files, unvalidated, Console.Out);
    }
    case "triage":
    {
        var files = InputFiles(args.Skip(1).Where(a => a != "--unvalidated")).ToList();
        return Report(ProbeRunner.Run(files, args.Contains("--unvalidated")));
    }
    case "mutants":
    {
        var m = new GgufMutator(File.ReadAllBytes(args[1]));
        Directory.CreateDirectory(args[2]);
        int count = int.Parse(args[3], CultureInfo.InvariantCulture);
        ulong seed = ulong.Parse(args[4], CultureInfo.InvariantCulture);
        foreach (var (kind, i, bytes) in Mutants.Make(m, count, seed))
            File.WriteAllBytes(Path.Combine(args[2], $"{i:D4}-{kind}.gguf"), bytes);
        return 0;
    }
    case "campaign":
    {
        var m = new GgufMutator(File.ReadAllBytes(args[1]));
        int count = int.Parse(args[2], CultureInfo.InvariantCulture);
        ulong seed = ulong.Parse(args[3], CultureInfo.InvariantCulture);
        bool unvalidated = args.Contains("--unvalidated");
        int k = Array.IndexOf(args, "--kinds");
        var kinds = k > 0 ? args[k + 1].Split(',').Select(Enum.Parse<GgufMutation>).ToArray() : null;
        string dir = Path.Combine(Path.GetTempPath(), $"fastrank-campaign-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var paths = new List<string>();
        foreach (var (kind, i, bytes) in Mutants.Make(m, count, seed, kinds))
        {
            string p = Path.Combine(dir, $"{i:D4}-{kind}.gguf");
            File.WriteAllBytes(p, bytes);
            paths.Add(p);
        }
        int rc = Report(ProbeRunner.Run(paths, unvalidated));
        Directory.Delete(dir, recursive: true);
        return rc;
    }
    case "selfprobe":
        return GgufLoadProbe.RunChild(args[1]);
    case "seed":
        FuzzSeeds.Write(args[1], args[2]);
        return 0;
    case "corpus":
        return Corpus.Build(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), ulong.Parse(args[3], CultureInfo.InvariantCulture));
    default:
        Console.Error.WriteLine($"unknown mode '{args[0]}'");
        return 2;
}

// The defects first (crash, hang, untyped: file, exit status, detail), then the count of each outcome (semantic refusals
// by kind); exit 1 when there is a defect.
static int Report(IReadOnlyList<ProbeVerdict> verdicts)
{
    foreach (var v in verdicts.Where(v => v.Outcome is "crash" or "hang" or "untyped"))
        Console.WriteLine($"{v.Outcome}\t{Path.GetFileName(v.Path)}\texit {v.ExitCode}\t{v.Detail}");
    foreach (var g in verdicts.GroupBy(v => v.Outcome == "model" ? "model:" + v.Detail.Split(':')[0] : v.Outcome).OrderBy(g => g.Key, StringComparer.Ordinal))
        Console.WriteLine($"{g.Key}\t{g.Count()}");
    Console.WriteLine($"total\t{verdicts.Count}");
    return verdicts.Any(v => v.Outcome is "crash" or "hang" or "untyped") ? 1 : 0;
}

// The files named, and every file directly inside the folders named (not AFL's .state subfolder) but the corpus's
// expected.tsv, in name order: AFL's queue, crashes and hangs hold inputs without a .gguf extension.
static IEnumerable<string> InputFiles(IEnumerable<string> args) => args.SelectMany(a => Directory.Exists(a)
    ? Directory.GetFiles(a).Where(f => !f.EndsWith(".tsv", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
    : (IEnumerable<string>)[a]);
