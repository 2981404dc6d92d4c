using FastRank.Engine;

namespace FastRank.Diagnostics;

/// <summary>
/// The reference points FastRank's speed is measured against, on the same model and tokens:
/// the floor (the unique tokens decoded by llama.cpp with no sharing and no scoring) and the naive
/// per-document decode a C# developer would write.
/// </summary>
internal static class Baselines
{
    /// <summary>
    /// Decodes <paramref name="prefix"/> once and every suffix as an independent sequence from position 0,
    /// <paramref name="inFlight"/> sequences per batch, asking for no logits: the cost of computing each
    /// unique token once. Returns the number of decode calls.
    /// </summary>
    public static void Floor(InferenceContext ctx, int[] prefix, IReadOnlyList<int[]> suffixes, int inFlight, CancellationToken ct)
    {
        ctx.ClearAll();
        SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, prefix, 0, false)], null, ct);
        var jobs = new List<DecodeJob>(inFlight);
        for (int start = 0; start < suffixes.Count; start += inFlight)
        {
            int count = Math.Min(inFlight, suffixes.Count - start);
            jobs.Clear();
            for (int k = 0; k < count; k++)
            {
                int seq = 1 + k;
                ctx.Clear(seq);
                jobs.Add(new DecodeJob(seq, 0, suffixes[start + k], start + k, false));
            }
            SequenceBatcher.Run(ctx, jobs, null, ct);
        }
    }

    /// <summary>
    /// The floor with llama.cpp splitting the batches itself: each wave of <paramref name="inFlight"/>
    /// suffixes goes to llama_decode in as few calls as the context's batch size allows, and llama.cpp cuts
    /// them into micro-batches as it likes (no exactness rules).
    /// </summary>
    public static void FloorUnplanned(InferenceContext ctx, int[] prefix, IReadOnlyList<int[]> suffixes, int inFlight, CancellationToken ct)
    {
        ctx.ClearAll();
        AddAndDecode(ctx, [(0, prefix)], ct);
        for (int start = 0; start < suffixes.Count; start += inFlight)
        {
            int count = Math.Min(inFlight, suffixes.Count - start);
            var wave = new (int Seq, int[] Tokens)[count];
            for (int k = 0; k < count; k++)
            {
                ctx.Clear(1 + k);
                wave[k] = (1 + k, suffixes[start + k]);
            }
            AddAndDecode(ctx, wave, ct);
        }
    }

    private static void AddAndDecode(InferenceContext ctx, (int Seq, int[] Tokens)[] items, CancellationToken ct)
    {
        ctx.BatchClear();
        foreach (var (seq, tokens) in items)
        {
            for (int i = 0; i < tokens.Length; i++)
            {
                if (ctx.BatchFree == 0)
                {
                    ctx.Decode(ct);
                    ctx.BatchClear();
                }
                ctx.BatchAdd(tokens[i], i, seq, false);
            }
        }
        ctx.Decode(ct);
    }

    /// <summary>
    /// Each document's whole prompt (prefix + suffix) decoded alone in a one-sequence context, the KV cache
    /// cleared in between; returns each document's <paramref name="score"/> (the yes-minus-no logit difference of the
    /// head in use: the context must capture hidden states for a rank head).
    /// </summary>
    public static double[] Naive(InferenceContext ctx, int[] prefix, IReadOnlyList<int[]> suffixes, Func<DecodedOutput, double> score, CancellationToken ct)
    {
        var scores = new double[suffixes.Count];
        for (int i = 0; i < suffixes.Count; i++)
        {
            ctx.ClearAll();
            int[] prompt = [.. prefix, .. suffixes[i]];
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, prompt, i, true)], (tag, output) => scores[tag] = score(output), ct);
        }
        return scores;
    }
}
