using FastRank.Ranking;

namespace FastRank.Tests.Reliability;

/// <summary>Bugs the text fuzzing found in the engine, each kept as a regression test of its fix.</summary>
public sealed class TextFuzzFindingsTests
{
    /// <summary>
    /// ICR with a per-call token budget (the server's <c>max_tokens_per_doc</c>) or instruction: the call's method variant
    /// (Reranker.Variant) builds a new IcrMethod with its own AttentionCapture, but the ICR context was created with the
    /// configured method's capture callback, so AttentionCapture.Attach throws ArgumentException ("the context was not
    /// created with this capture's callback"), which the server answered with 500. Found by TextFuzzServerTests; variants
    /// now share the context's capture and memo.
    /// </summary>
    [Fact]
    public void Icr_WithAPerCallTokenBudget_Ranks()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Method = RerankMethod.Icr, Threads = 2 });
        var documents = new[] { "llamas live in the andes", "the stock market fell", "a llama is a camelid" };
        var whole = ranker.Rerank(new RerankRequest("llama", documents));
        var budgeted = ranker.Rerank(new RerankRequest("llama", documents) { MaxDocumentTokens = 48 });
        // Documents far below either budget: the same prompt, the same order and scores (the second call reuses the
        // documents' KV cache the first left, so its query pass runs in other micro-batches: within 1e-6).
        Assert.Equal(whole.Select(r => r.Index), budgeted.Select(r => r.Index));
        for (int i = 0; i < whole.Count; i++) Assert.Equal(whole[i].Score, budgeted[i].Score, 1e-6);
    }
}
