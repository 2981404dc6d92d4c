// The consumer test's program (tests/consumer/run.sh copies it into a fresh `dotnet new console` project that
// references the FastRank package): synthesize the tiny model, rerank with every method, require the native
// kernels (or, with FASTRANK_CONSUMER_EXPECT=managed, the managed fallback). FASTRANK_CONSUMER_KERNELS_ONLY=1: the
// kernels alone (a top-k through RankKernels), for a platform whose llama.cpp build cannot load (see run.sh).
using FastRank.Kernels;
using FastRank.Ranking;
using FastRank.Synthetic;

string expect = Environment.GetEnvironmentVariable("FASTRANK_CONSUMER_EXPECT") ?? "native";
if (Environment.GetEnvironmentVariable("FASTRANK_CONSUMER_KERNELS_ONLY") == "1")
{
    Console.WriteLine($"kernels: {RankKernels.Description}");
    float[] values = [0.5f, 3f, -1f, 2f, float.NaN, 7f];
    int[] best = new int[3];
    int n = RankKernels.TopK(values, 3, best);
    bool right = n == 3 && best.SequenceEqual([5, 1, 3]);
    Console.WriteLine($"top-3 of [{string.Join(", ", values)}]: [{string.Join(", ", best)}]");
    return RankKernels.Description.StartsWith(expect, StringComparison.Ordinal) && right ? 0 : 1;
}

string model = Path.Combine(Path.GetTempPath(), $"fastrank-consumer-{Environment.ProcessId}.gguf");
SyntheticModelGenerator.Generate(new SyntheticModelOptions(ModelShape.Get("tiny")), model);
string[] documents =
[
    "Paris is the capital and largest city of France.",
    "Bananas are rich in potassium.",
    "The Eiffel Tower was built for the 1889 World Fair in Paris.",
    "Berlin is the capital of Germany.",
];
int failures = 0;
try
{
    Console.WriteLine($"kernels: {RankKernels.Description}");
    if (!RankKernels.Description.StartsWith(expect, StringComparison.Ordinal))
    {
        Console.WriteLine($"FAIL: expected the {expect} kernels");
        failures++;
    }
    foreach (RerankMethod method in new[] { RerankMethod.Pointwise, RerankMethod.First, RerankMethod.Icr })
    {
        await using Reranker ranker = await Reranker.LoadAsync(model, new RerankerOptions { Method = method, Threads = 1 });
        RerankResult result = await ranker.RerankAsync("What is the capital of France?", documents);
        bool permutation = result.Select(r => r.Index).Order().SequenceEqual(Enumerable.Range(0, documents.Length));
        bool finite = result.All(r => double.IsFinite(r.Score));
        Console.WriteLine($"{method}: {string.Join(", ", result.Select(r => $"[{r.Index}] {r.Score:F4}"))}" +
                          $" ({result.Usage.PromptTokens} prompt tokens)");
        if (!permutation || !finite)
        {
            Console.WriteLine($"FAIL: {method} returned {(permutation ? "non-finite scores" : "not a permutation of the documents")}");
            failures++;
        }
    }
}
finally
{
    File.Delete(model);
}
return failures == 0 ? 0 : 1;
