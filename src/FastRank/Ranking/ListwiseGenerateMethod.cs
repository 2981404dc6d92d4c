using System.Numerics.Tensors;
using System.Text;
using FastRank.Engine;
using FastRank.Interop;
using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>
/// Listwise reranking by generating the permutation (RankGPT, RankZephyr): the window's prompt is
/// FIRST's, ending with <c>[</c> (so both methods decode the very same prompt tokens and the first
/// generated token is the model's top identifier), then greedy decoding, one token at a time in the
/// window's work slot, until an end-of-turn token (EOS or any control token), until every identifier
/// of the window has appeared in brackets, or until <see cref="ListwiseMethod.GenerationBudget"/>
/// tokens. The text is parsed and repaired by <see cref="ListwisePermutationParser"/>. FIRST's
/// baseline, and the method for models trained only to generate permutations.
/// <see cref="RankedDocument.RawScore"/> is the document's Borda count in its last window: the window
/// size for the first of the generated permutation, down to 1 for the last.
/// </summary>
internal sealed class ListwiseGenerateMethod(LlamaModel model, RerankerOptions options, ILogger logger)
    : ListwiseMethod(model, options, logger, generates: true)
{
    public override RerankMethod Kind => RerankMethod.ListwiseGenerate;

    /// <summary>The text generated for the last window, <c>[</c> included (for diagnostics and tests).</summary>
    internal string LastGeneration { get; private set; } = "";

    protected override void RankWindow(RankingEngine engine, int prefixSeq, long generation, int prefixLength, int[] suffix,
        ReadOnlySpan<int> items, Span<int> permutation, double[] raw, WindowStats stats, CancellationToken ct)
    {
        int n = items.Length;
        int next = -1;
        engine.DecodeSuffixes(prefixSeq, generation, prefixLength, [suffix], (_, row) => next = ArgMax(row.Logits), ct);
        // DecodeSuffixes ran the lone suffix in the first work slot; generation continues there.
        int seq = engine.PrefixSlots;
        int pos = prefixLength + suffix.Length;
        var ctx = engine.Context;
        if (next < 0 || ctx.MaxPosition(seq) != pos - 1)
            throw new InvalidOperationException("the window's prompt is not where generation expects it (first work slot)");

        var text = new StringBuilder("[");
        int generated = 0;
        while (!IsEndOfTurn(next))
        {
            string piece = Model.TokenPiece(next);
            text.Append(piece);
            generated++;
            if (generated >= GenerationBudget) break;
            if (piece.Contains(']', StringComparison.Ordinal) && ListwisePermutationParser.CountBracketed(text.ToString(), Identifiers.Kind, n) == n) break;
            ctx.BatchClear();
            ctx.BatchAdd(next, pos++, seq, true);
            ctx.Decode(ct);
            next = ArgMax(ctx.Logits(0));
        }
        stats.GeneratedTokens += generated;
        LastGeneration = text.ToString();

        int[] perm = ListwisePermutationParser.Parse(LastGeneration, Identifiers.Kind, n, out var report);
        if (report.Repaired)
        {
            stats.Repaired++;
            stats.Missing += report.Missing;
            stats.Duplicates += report.Duplicates;
            stats.Unknown += report.Unknown;
            Logger.LogDebug("Generated permutation repaired ({Found} found, {Missing} missing, {Duplicates} repeated, {Unknown} unknown): {Text}",
                report.Found, report.Missing, report.Duplicates, report.Unknown, LastGeneration);
        }
        perm.CopyTo(permutation);
        for (int k = 0; k < n; k++) raw[items[perm[k]]] = n - k;
    }

    private bool IsEndOfTurn(int token) => token == Model.Eos || (Model.Attributes(token) & LlamaTokenAttr.Control) != 0;

    /// <summary>Greedy choice: the index of the largest logit (the first on ties).</summary>
    internal static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);
}
