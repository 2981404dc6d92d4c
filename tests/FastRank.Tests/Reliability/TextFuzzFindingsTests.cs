using FastRank.Ranking;

namespace FastRank.Tests.Reliability;

/// <summary>
/// Bugs the text fuzzing found outside the files the reliability work may change, each pinned by a test that fails
/// until it is fixed (issue 15's report lists them).
/// </summary>
public sealed class TextFuzzFindingsTests
{
    /// <summary>
    /// ICR with a per-call token budget (the server's <c>max_tokens_per_doc</c>) or instruction: the call's method variant
    /// (Reranker.Variant) builds a new IcrMethod with its own AttentionCapture, but the ICR context was created with the
    /// configured method's capture callback, so AttentionCapture.Attach throws ArgumentException ("the context was not
    /// created with this capture's callback"), which the server answers with 500. Found by TextFuzzServerTests.
    /// </summary>
    [Fact]
    public void Icr_WithAPerCallTokenBudget_Ranks()
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Method = RerankMethod.Icr, Threads = 2 });
        var documents = new[] { "llamas live in the andes", "the stock market fell", "a llama is a camelid" };
        var whole = ranker.Rerank(new RerankRequest("llama", documents));
        var budgeted = ranker.Rerank(new RerankRequest("llama", documents) { MaxDocumentTokens = 48 });
        // Documents far below either budget: the same prompt, the same scores.
        Assert.Equal(whole.Select(r => (r.Index, r.Score)), budgeted.Select(r => (r.Index, r.Score)));
    }
}
