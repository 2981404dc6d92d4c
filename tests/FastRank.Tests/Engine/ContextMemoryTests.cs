using FastRank.Ranking;

namespace FastRank.Tests.Engine;

/// <summary>A KV cache larger than the machine's memory: a typed error before llama.cpp allocates, and the process lives on.</summary>
public sealed class ContextMemoryTests
{
    [Fact]
    public void AKvCacheBeyondTheMemoryAvailable_IsAModelLoadException_AndTheRerankerStillWorks()
    {
        // 200 sequences of a million-token budget on the tiny model: ~54 GB of KV cache (256 bytes a cell).
        var ex = Assert.Throws<ModelLoadException>(() =>
            Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, ParallelSequences = 200, MaxDocumentTokens = 1 << 20, MaxQueryTokens = 64 }));
        Assert.Contains("MB of KV cache", ex.Message, StringComparison.Ordinal);
        Assert.Contains("memory available", ex.Message, StringComparison.Ordinal);
        // The same process then ranks with a sane reranker.
        using var sane = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, MaxDocumentTokens = 64 });
        Assert.Equal(2, sane.Rerank("q", ["a document", "another"]).Count);
    }
}
