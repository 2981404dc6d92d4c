using System.Text;
using System.Text.RegularExpressions;

namespace FastRank.Fuzz;

/// <summary>
/// Builds the regression corpus (tests/fixtures/gguf-corpus): the micro seeds and, among many mutants of each, the first
/// one of every distinct verdict (the reader's or validator's answer with its numbers taken out), a few of each kind at
/// most, 16 per seed. expected.tsv records each file's in-process verdict, what the full load path in a child process said, and what
/// the path without semantic validation said (<c>crash</c> marks the inputs that killed the process before it).
/// </summary>
public static partial class Corpus
{
    private const int MaxPerSeed = 16;

    /// <summary>Writes the corpus into <paramref name="dir"/>; returns the process exit code.</summary>
    public static int Build(string dir, int perSeed, ulong seed)
    {
        Directory.CreateDirectory(dir);
        foreach (string old in Directory.GetFiles(dir, "*.gguf")) File.Delete(old);
        var kept = new List<(string File, string Verdict)>();
        var signatures = new HashSet<string>(StringComparer.Ordinal);
        foreach (var shape in FuzzSeeds.Shapes)
        {
            var perKind = new Dictionary<string, int>(StringComparer.Ordinal);
            int taken = 0;
            byte[] valid = FuzzSeeds.Bytes(shape.Name);
            string basePath = Path.Combine(dir, $"{shape.Name}.gguf");
            File.WriteAllBytes(basePath, valid);
            kept.Add((basePath, FuzzTarget.Verdict(valid)));
            var m = new GgufMutator(valid);
            foreach (var (kind, i, bytes) in Mutants.Make(m, perSeed, seed))
            {
                string verdict = FuzzTarget.Verdict(bytes);
                string sig = Signature(verdict);
                // At most: 4 structural faults, 2 files that stay valid, 2 of each semantic kind, per seed.
                string cls = verdict.StartsWith("model", StringComparison.Ordinal) ? verdict.Split(':')[0] : verdict.Split(':')[0];
                int limit = cls == "format" ? 4 : 2;
                if (taken >= MaxPerSeed || perKind.GetValueOrDefault(cls) >= limit || !signatures.Add(sig)) continue;
                perKind[cls] = perKind.GetValueOrDefault(cls) + 1;
                taken++;
                string path = Path.Combine(dir, $"{shape.Name}-{i:D4}-{kind}.gguf");
                File.WriteAllBytes(path, bytes);
                kept.Add((path, verdict));
            }
        }
        var files = kept.Select(k => k.File).ToList();
        var after = ProbeRunner.Run(files).ToDictionary(v => v.Path);
        var before = ProbeRunner.Run(files, unvalidated: true).ToDictionary(v => v.Path);
        var sb = new StringBuilder("# file\tverdict (reader + validator, in process)\tload path (child process)\twithout semantic validation (child process)\n");
        foreach (var (file, verdict) in kept)
            sb.Append(Path.GetFileName(file)).Append('\t').Append(verdict).Append('\t').Append(after[file].Outcome)
              .Append('\t').Append(before[file].Outcome).Append('\n');
        File.WriteAllText(Path.Combine(dir, "expected.tsv"), sb.ToString());
        Console.WriteLine($"{kept.Count} files; before validation {before.Values.Count(v => v.Outcome == "crash")} crashed; after {after.Values.Count(v => v.Outcome is "crash" or "hang" or "untyped")} did not end typed");
        return after.Values.Any(v => v.Outcome is "crash" or "hang" or "untyped") ? 1 : 0;
    }

    /// <summary>The verdict with numbers and quoted names removed: two files with the same signature test the same check.</summary>
    public static string Signature(string verdict) => Numbers().Replace(Quoted().Replace(verdict, "'_'"), "#");

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Numbers();

    [GeneratedRegex("'[^']*'")]
    private static partial Regex Quoted();
}
