using System.Numerics.Tensors;
using System.Text;
using FastRank.Engine;
using FastRank.Interop;
using FastRank.Ranking;
using FastRank.Synthetic;

namespace FastRank.Tests.First;

/// <summary>listwise-generate: greedy generation in the work slot, parsing and repair, on real decodes.</summary>
public class ListwiseGenerateTests
{
    private static string[] Documents(int count, int words, int seed = 3)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => SyntheticText.Sentence(random, words)).ToArray();
    }

    [Fact]
    public void Generation_EqualsAGreedyLoopOverALoneDecodeOfTheSamePrompt()
    {
        const int Budget = 12;
        using var r = Reranker.Load(TestModels.Tiny, ListwiseTesting.Options(RerankMethod.ListwiseGenerate, new FirstOptions { MaxPassageTokens = 32, MaxGeneratedTokens = Budget, FlashAttention = false }));
        var m = (ListwiseGenerateMethod)r.Method(RerankMethod.ListwiseGenerate);
        string[] docs = Documents(7, 14);
        int[] items = [.. Enumerable.Range(0, 7)];
        for (int call = 0; call < 2; call++)
        {
            var result = r.Rerank("ice", docs);
            var built = m.Prompt.Build("ice", docs, m.PassageBudget, r.Options.MaxQueryTokens);
            int[] prompt = [.. built.Prefix(7), .. built.WindowSuffix(items)];

            // The reference: a fresh one-sequence context, the prompt decoded, then one token at a time, greedy.
            using var ctx = new InferenceContext(r.Model, new ContextConfig(1, RankingMethods.CellsFor(prompt.Length + Budget), 512, 512, false, 1));
            int next = -1;
            SequenceBatcher.Run(ctx, [new DecodeJob(0, 0, prompt, 0, true)], (_, row) => next = TensorPrimitives.IndexOfMax(row.Logits), default);
            var text = new StringBuilder("[");
            for (int pos = prompt.Length, n = 0; n < Budget; n++)
            {
                if (next == r.Model.Eos || (r.Model.Attributes(next) & LlamaTokenAttr.Control) != 0) break;
                text.Append(r.Model.TokenPiece(next));
                ctx.BatchClear();
                ctx.BatchAdd(next, pos++, 0, true);
                ctx.Decode(default);
                next = TensorPrimitives.IndexOfMax(ctx.Logits(0));
            }
            string expected = text.ToString();
            if (ListwisePermutationParser.CountBracketed(expected, ListwiseIdentifiers.Letters, 7) < 7)
                Assert.Equal(expected, m.LastGeneration);
            else
                Assert.StartsWith(m.LastGeneration, expected); // stopped early once every identifier was there

            int[] perm = ListwisePermutationParser.Parse(m.LastGeneration, ListwiseIdentifiers.Letters, 7, out _);
            Assert.Equal(perm, result.Select(d => d.Index));
            for (int k = 0; k < 7; k++)
            {
                Assert.Equal(1.0 / (k + 1), result[k].Score, 12);
                Assert.Equal(7 - k, result[k].RawScore);
            }
        }
    }

    [Fact]
    public void TheDefaultBudget_IsACompletePermutationPlusTheEndOfTurn_AndIsNeverExceeded()
    {
        using var r = Reranker.Load(TestModels.Tiny, ListwiseTesting.Options(RerankMethod.ListwiseGenerate, new FirstOptions { MaxPassageTokens = 24, WindowSize = 5, Stride = 2 }));
        var m = (ListwiseGenerateMethod)r.Method(RerankMethod.ListwiseGenerate);
        int complete = r.Model.TokenizeTemplate("[A] > [B] > [C] > [D] > [E]").Length - r.Model.TokenizeTemplate("[").Length;
        Assert.Equal(complete + 1, m.GenerationBudget);
        var result = r.Rerank("snow", Documents(11, 10));
        Assert.Equal(Enumerable.Range(0, 11), result.Select(d => d.Index).Order());
        var stats = m.LastWindowStats;
        Assert.Equal(ListwiseWindows.Plan(11, 5, 2).Count, stats.Windows);
        Assert.InRange(stats.GeneratedTokens, 1, stats.Windows * m.GenerationBudget);
        for (int k = 0; k < result.Count; k++) Assert.Equal(1.0 / (k + 1), result[k].Score, 12);
    }

    [Fact]
    public void SharesFirstsPrompt_TokenForToken()
    {
        // Disjoint windows ([3,23) and [0,3)), so that both methods put the same passages in each window.
        var first = new FirstOptions { MaxPassageTokens = 24, WindowSize = 20, Stride = 20 };
        using var g = Reranker.Load(TestModels.Tiny, ListwiseTesting.Options(RerankMethod.ListwiseGenerate, first));
        string[] docs = Documents(23, 10);
        var viaGenerate = g.Rerank("rock", docs);
        var viaFirst = g.Rerank("rock", docs, RerankMethod.First);
        Assert.Equal(viaFirst.Usage.PromptTokens, viaGenerate.Usage.PromptTokens);
        Assert.Equal(RerankMethod.ListwiseGenerate, viaGenerate.Method);
        Assert.Equal(RerankMethod.First, viaFirst.Method);
    }
}
