using FastRank.Engine;
using Microsoft.Extensions.Logging;

namespace FastRank.Ranking;

/// <summary>
/// FIRST (Reddy et al., 2024): listwise reranking from the first generated token. Each window's prompt
/// ends with <c>[</c>; one forward pass gives the logits of the next token, and the window's order is
/// the order of its identifier tokens' logits there, highest first (ties by window position). No
/// permutation is generated. Every passage of a window has an identifier token, so none needs the
/// reference's "append candidates without a logit" rule.
/// </summary>
internal sealed class FirstMethod(LlamaModel model, RerankerOptions options, ILogger logger)
    : ListwiseMethod(model, options, logger, generates: false)
{
    public override RerankMethod Kind => RerankMethod.First;

    protected override void RankWindow(RankingEngine engine, int prefixSeq, long generation, int prefixLength, int[] suffix,
        ReadOnlySpan<int> items, Span<int> permutation, double[] raw, WindowStats stats, CancellationToken ct)
    {
        int n = items.Length;
        var logits = new float[n];
        int[] tokens = Identifiers.Tokens;
        bool read = false;
        engine.DecodeSuffixes(prefixSeq, generation, prefixLength, [suffix], (_, output) =>
        {
            var row = output.Logits;
            for (int k = 0; k < n; k++) logits[k] = row[tokens[k]];
            read = true;
        }, ct);
        if (!read) throw new InvalidOperationException("the window's logits were not read");
        OrderByLogits(logits, permutation);
        for (int k = 0; k < n; k++) raw[items[k]] = logits[k];
    }

    /// <summary>
    /// Window positions by logit, highest first; equal logits keep window order, and a NaN logit (a
    /// broken model) counts as the lowest.
    /// </summary>
    internal static void OrderByLogits(ReadOnlySpan<float> logits, Span<int> permutation)
    {
        int n = logits.Length;
        for (int k = 0; k < n; k++) permutation[k] = k;
        // Insertion sort: windows are small, and it is stable.
        for (int i = 1; i < n; i++)
        {
            int item = permutation[i];
            float v = Key(logits[item]);
            int j = i - 1;
            while (j >= 0 && Key(logits[permutation[j]]) < v)
            {
                permutation[j + 1] = permutation[j];
                j--;
            }
            permutation[j + 1] = item;
        }

        static float Key(float x) => float.IsNaN(x) ? float.NegativeInfinity : x;
    }
}
