using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FastRank.Ranking;

namespace FastRank.Tests.Server;

/// <summary>
/// Each API's request body, as its own documentation and clients send it, against a real server on loopback;
/// the answers have the fields those clients read, and the scores are the library's.
/// </summary>
public sealed class ApiShapeTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private const double Tolerance = 1e-4;
    private readonly ServerHarness _server = shared.Server;

    // Cohere's rerank example (docs.cohere.com, v1 and v2).
    private static readonly string[] CohereDocuments =
    [
        "Carson City is the capital city of the American state of Nevada.",
        "The Commonwealth of the Northern Mariana Islands is a group of islands in the Pacific Ocean. Its capital is Saipan.",
        "Capitalization or capitalisation in English grammar is the use of a capital letter at the start of a word. English usage varies from capitalization in other languages.",
        "Washington, D.C. (also known as simply Washington or D.C., and officially as the District of Columbia) is the capital of the United States. It is a federal district.",
        "Capital punishment has existed in the United States since beforethe United States was a country. As of 2017, capital punishment is legal in 30 of the 50 states.",
    ];

    private const string CohereQuery = "What is the capital of the United States?";

    private static async Task<JsonElement> PostAsync(HttpClient client, string path, string body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static RerankResult Library(string query, IReadOnlyList<string> documents)
    {
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1 });
        return ranker.Rerank(query, documents);
    }

    private static void AssertSameScores(RerankResult expected, JsonElement results, string scoreField, int count)
    {
        Assert.Equal(count, results.GetArrayLength());
        for (int i = 0; i < count; i++)
        {
            var r = results[i];
            Assert.Equal(expected[i].Index, r.GetProperty("index").GetInt32());
            Assert.Equal(expected[i].Score, r.GetProperty(scoreField).GetDouble(), Tolerance);
        }
    }

    [Fact]
    public async Task CohereV2_TheSdkBody_GetsIdResultsAndMeta_WithTheLibrarysScores()
    {
        // What cohere-ai 8.x sends for client.v2.rerank({ model, query, documents, topN: 3 }).
        string body = JsonSerializer.Serialize(new { model = "tiny", query = CohereQuery, documents = CohereDocuments, top_n = 3 });
        var answer = await PostAsync(_server.Client, "/v2/rerank", body);
        Assert.True(Guid.TryParse(answer.GetProperty("id").GetString(), out _));
        Assert.Equal("2", answer.GetProperty("meta").GetProperty("api_version").GetProperty("version").GetString());
        Assert.Equal(1, answer.GetProperty("meta").GetProperty("billed_units").GetProperty("search_units").GetInt32());
        AssertSameScores(Library(CohereQuery, CohereDocuments), answer.GetProperty("results"), "relevance_score", 3);
        Assert.False(answer.GetProperty("results")[0].TryGetProperty("document", out _));
    }

    [Fact]
    public async Task CohereV1_DocumentObjects_ReturnDocuments_EchoesText()
    {
        var docs = CohereDocuments.Select(d => new { text = d, title = "ignored" }).ToArray();
        string body = JsonSerializer.Serialize(new { model = "tiny", query = CohereQuery, documents = docs, top_n = 2, return_documents = true, max_chunks_per_doc = 10 });
        var answer = await PostAsync(_server.Client, "/v1/rerank", body);
        Assert.Equal("1", answer.GetProperty("meta").GetProperty("api_version").GetProperty("version").GetString());
        var expected = Library(CohereQuery, CohereDocuments);
        var results = answer.GetProperty("results");
        AssertSameScores(expected, results, "relevance_score", 2);
        for (int i = 0; i < 2; i++)
            Assert.Equal(CohereDocuments[expected[i].Index], results[i].GetProperty("document").GetProperty("text").GetString());
    }

    [Fact]
    public async Task CohereV2_MaxTokensPerDoc_TruncatesLikeTheLibrary()
    {
        string body = JsonSerializer.Serialize(new { model = "tiny", query = CohereQuery, documents = CohereDocuments, max_tokens_per_doc = 4 });
        var answer = await PostAsync(_server.Client, "/v2/rerank", body);
        using var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, MaxDocumentTokens = 4 });
        AssertSameScores(ranker.Rerank(CohereQuery, CohereDocuments), answer.GetProperty("results"), "relevance_score", CohereDocuments.Length);
    }

    [Fact]
    public async Task LlamaServer_Rerank_GetsModelObjectUsageAndSortedResults()
    {
        // llama-server's README example; the same body as Jina's API.
        string[] documents = ["hi", "it is a bear", "The giant panda (Ailuropoda melanoleuca), sometimes called a panda bear or simply panda, is a bear species endemic to China."];
        string body = JsonSerializer.Serialize(new { model = "tiny", query = "What is panda?", top_n = 3, documents });
        foreach (string path in new[] { "/rerank", "/v1/rerank", "/reranking", "/v1/reranking" })
        {
            var answer = await PostAsync(_server.Client, path, body);
            Assert.Equal("tiny", answer.GetProperty("model").GetString());
            Assert.Equal("list", answer.GetProperty("object").GetString());
            long tokens = answer.GetProperty("usage").GetProperty("total_tokens").GetInt64();
            Assert.True(tokens > 0);
            Assert.Equal(tokens, answer.GetProperty("usage").GetProperty("prompt_tokens").GetInt64());
            AssertSameScores(Library("What is panda?", documents), answer.GetProperty("results"), "relevance_score", 3);
        }
    }

    [Fact]
    public async Task Tei_Texts_GetABareArray_RawScoresAndReturnText()
    {
        // TEI's README example.
        string[] texts = ["Deep Learning is not...", "Deep learning is..."];
        var expected = Library("What is Deep Learning?", texts);
        var plain = await PostAsync(_server.Client, "/rerank", JsonSerializer.Serialize(new { query = "What is Deep Learning?", texts }));
        Assert.Equal(JsonValueKind.Array, plain.ValueKind);
        AssertSameScores(expected, plain, "score", 2);
        Assert.False(plain[0].TryGetProperty("text", out _));

        var raw = await PostAsync(_server.Client, "/rerank", JsonSerializer.Serialize(new { query = "What is Deep Learning?", texts, raw_scores = true, return_text = true, truncate = true, truncation_direction = "Right" }));
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(expected[i].RawScore, raw[i].GetProperty("score").GetDouble(), Tolerance);
            Assert.Equal(texts[expected[i].Index], raw[i].GetProperty("text").GetString());
        }
    }

    [Fact]
    public async Task ExtensionFields_MethodAndInstruction_AreApplied()
    {
        string[] documents = ["alpha beta", "gamma delta", "epsilon"];
        var first = await PostAsync(_server.Client, "/v2/rerank", JsonSerializer.Serialize(new { model = "tiny", query = "q", documents, method = "first" }));
        using (var ranker = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1 }))
        {
            var expected = ranker.Rerank("q", documents, RerankMethod.First);
            Assert.Equal(expected.Select(r => r.Index), first.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("index").GetInt32()));
        }

        const string Instruction = "Judge whether the document names a Greek letter";
        var instructed = await PostAsync(_server.Client, "/v2/rerank", JsonSerializer.Serialize(new { model = "tiny", query = "q", documents, instruction = Instruction }));
        using var withInstruction = Reranker.Load(TestModels.Tiny, new RerankerOptions { Threads = 1, Instruction = Instruction });
        AssertSameScores(withInstruction.Rerank("q", documents), instructed.GetProperty("results"), "relevance_score", 3);
    }

    [Fact]
    public async Task RequestsWithoutModel_UseTheDefault_AndModelsHealthMetricsAndOpenApiAnswer()
    {
        var answer = await PostAsync(_server.Client, "/v2/rerank", JsonSerializer.Serialize(new { query = "q", documents = new[] { "a", "b" } }));
        Assert.Equal(2, answer.GetProperty("results").GetArrayLength());

        var models = await _server.Client.GetFromJsonAsync<JsonElement>("/v1/models");
        var tiny = models.GetProperty("data").EnumerateArray().Single();
        Assert.Equal(("tiny", true, true, 1), (tiny.GetProperty("id").GetString(), tiny.GetProperty("loaded").GetBoolean(), tiny.GetProperty("default").GetBoolean(), tiny.GetProperty("version").GetInt32()));

        using var anonymous = _server.NewClient(null);
        Assert.Equal("ok", (await anonymous.GetFromJsonAsync<JsonElement>("/health")).GetProperty("status").GetString());
        Assert.Equal("ready", (await anonymous.GetFromJsonAsync<JsonElement>("/health/ready")).GetProperty("status").GetString());
        string metrics = await anonymous.GetStringAsync("/metrics");
        Assert.Contains("fastrank_http_requests_total{route=\"/v2/rerank\",status=\"200\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("fastrank_queue_depth", metrics, StringComparison.Ordinal);
        Assert.Contains("fastrank_documents_total{model=\"tiny\",method=\"pointwise\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("fastrank_model_loads_total 1", metrics, StringComparison.Ordinal);
        Assert.Contains("fastrank_http_request_duration_seconds_bucket", metrics, StringComparison.Ordinal);
        string openApi = await anonymous.GetStringAsync("/openapi/v1.json");
        foreach (string path in new[] { "/v1/rerank", "/v2/rerank", "/rerank", "/v1/models", "/health/ready" })
            Assert.Contains($"\"{path}\"", openApi, StringComparison.Ordinal);
    }
}
