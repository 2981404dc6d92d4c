using FastRank.Gguf;

namespace FastRank.Fuzz;

/// <summary>
/// The coverage-guided target: <see cref="GgufReader"/> then <see cref="GgufModelValidator"/> over arbitrary bytes. A
/// <see cref="GgufFormatException"/> (or its subtype) is the expected answer to bad input; any other exception escapes
/// and the fuzzer reports it as a crash.
/// </summary>
public static class FuzzTarget
{
    /// <summary>Reads and validates <paramref name="data"/>.</summary>
    public static void Run(ReadOnlySpan<byte> data)
    {
        try
        {
            using var ms = new MemoryStream(data.ToArray(), writable: false);
            GgufModelValidator.Validate(GgufReader.Read(ms));
        }
        catch (GgufFormatException)
        {
        }
    }

    /// <summary>What the reader and the validator say about <paramref name="data"/>: <c>valid</c>, <c>format: ...</c> or <c>model Kind: ...</c>.</summary>
    public static string Verdict(byte[] data)
    {
        try
        {
            GgufModelValidator.Validate(GgufReader.Read(new MemoryStream(data, writable: false)));
            return "valid";
        }
        catch (GgufModelException e) { return $"model {e.Kind}: {e.Problem}"; }
        catch (GgufFormatException e) { return $"format: {e.Problem}"; }
    }
}

/// <summary>A deterministic series of mutants: the mutation kinds in turn, each with its own seed.</summary>
public static class Mutants
{
    /// <summary>Yields <paramref name="count"/> mutants of the file behind <paramref name="m"/>.</summary>
    public static IEnumerable<(GgufMutation Kind, int Index, byte[] Bytes)> Make(GgufMutator m, int count, ulong seed, GgufMutation[]? kinds = null)
    {
        kinds ??= Enum.GetValues<GgufMutation>();
        for (int i = 0; i < count; i++)
        {
            var kind = kinds[i % kinds.Length];
            yield return (kind, i, m.Apply(kind, seed * 1_000_003UL + (ulong)i));
        }
    }
}
