using System.Net;
using System.Text;
using System.Text.Json;

namespace FastRank.Tests.Server;

/// <summary>Every error status of the server, each with the one error body <c>{"error": {"code", "message"}}</c>.</summary>
public sealed class ErrorTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private readonly ServerHarness _server = shared.Server;

    private static async Task<(string Code, string Message, HttpResponseMessage Response)> ErrorAsync(HttpClient client, HttpMethod method, string path, string? body, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        var response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{path}: {(int)response.StatusCode} {text}");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        return (error.GetProperty("code").GetString()!, error.GetProperty("message").GetString()!, response);
    }

    private Task<(string Code, string Message, HttpResponseMessage Response)> PostErrorAsync(string path, string body, HttpStatusCode expected) =>
        ErrorAsync(_server.Client, HttpMethod.Post, path, body, expected);

    [Theory]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": [\"a\"", "malformed JSON")]
    [InlineData("/v2/rerank", "[1, 2]", "JSON object")]
    [InlineData("/v2/rerank", "{\"documents\": [\"a\"]}", "'query' is required")]
    [InlineData("/v2/rerank", "{\"query\": \"  \", \"documents\": [\"a\"]}", "'query' must not be empty")]
    [InlineData("/v2/rerank", "{\"query\": 5, \"documents\": [\"a\"]}", "'query' must be a string")]
    [InlineData("/v2/rerank", "{\"query\": \"q\"}", "'documents' is required")]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": \"a\"}", "'documents' must be an array")]
    [InlineData("/v1/rerank", "{\"query\": \"q\", \"documents\": [\"a\", {\"title\": \"t\"}]}", "'documents[1]' must have a string field 'text'")]
    [InlineData("/v1/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"top_n\": \"3\"}", "'top_n' must be an integer")]
    [InlineData("/v1/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"top_n\": -1}", "'top_n' must not be negative")]
    [InlineData("/v1/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"return_documents\": \"yes\"}", "'return_documents' must be true or false")]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"max_tokens_per_doc\": 0}", "'max_tokens_per_doc' must be at least 1")]
    [InlineData("/v2/rerank", "{\"query\": \"q\", \"documents\": [\"a\"], \"method\": \"magic\"}", "unknown method 'magic'")]
    [InlineData("/rerank", "{\"query\": \"q\", \"texts\": [\"a\", {\"text\": \"b\"}]}", "'texts[1]' must be a string")]
    [InlineData("/rerank", "{\"query\": \"q\", \"texts\": [\"a\"], \"raw_scores\": 1}", "'raw_scores' must be true or false")]
    public async Task BadInput_Is400_NamingTheField(string path, string body, string expected)
    {
        var (code, message, _) = await PostErrorAsync(path, body, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_request", code);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TooManyDocuments_AndTooLargeBodies_Are413()
    {
        string many = JsonSerializer.Serialize(new { query = "q", documents = Enumerable.Repeat("d", 65).ToArray() });
        var (code, message, _) = await PostErrorAsync("/v2/rerank", many, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(("too_many_documents", true), (code, message.Contains("at most 64", StringComparison.Ordinal)));

        string large = JsonSerializer.Serialize(new { query = "q", documents = new[] { new string('x', 70_000) } });
        (code, _, _) = await PostErrorAsync("/v2/rerank", large, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("payload_too_large", code);

        // Without a Content-Length (chunked), Kestrel's body limit stops the read.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/v2/rerank") { Content = new ChunkedContent(large) };
        using var response = await _server.Client.SendAsync(chunked);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("payload_too_large", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("no-such-model")]
    [InlineData("../tiny")]
    [InlineData("../../etc/passwd")]
    [InlineData("hf://owner/repo/model.gguf")]
    [InlineData("qwen3-reranker-0.6b")]
    public async Task UnknownModels_Are404_AndNeverLoadAnything(string model)
    {
        await AssertUnknownModelAsync(model);
    }

    [Fact]
    public async Task AFilePathAsModel_Is404_EvenWhenTheFileIsAModel()
    {
        await AssertUnknownModelAsync(TestModels.Tiny); // an absolute path to a real GGUF
        await AssertUnknownModelAsync(Path.GetFileName(TestModels.Tiny));
    }

    private async Task AssertUnknownModelAsync(string model)
    {
        var pool = _server.App.Services.GetService(typeof(FastRank.Models.ModelPool)) as FastRank.Models.ModelPool;
        string body = JsonSerializer.Serialize(new { model, query = "q", documents = new[] { "a" } });
        var (code, message, _) = await PostErrorAsync("/v2/rerank", body, HttpStatusCode.NotFound);
        Assert.Equal("model_not_found", code);
        Assert.Contains(model, message, StringComparison.Ordinal);
        Assert.Equal(["tiny"], pool!.Names);
    }

    [Fact]
    public async Task MissingOrWrongKeys_Are401_OnRerankModelsAndAdmin()
    {
        using var anonymous = _server.NewClient(null);
        using var wrong = _server.NewClient("not-the-key");
        string body = JsonSerializer.Serialize(new { query = "q", documents = new[] { "a" } });
        var (code, message, response) = await ErrorAsync(anonymous, HttpMethod.Post, "/v2/rerank", body, HttpStatusCode.Unauthorized);
        Assert.Equal("unauthorized", code);
        Assert.Contains("Bearer", message, StringComparison.Ordinal);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        (code, _, _) = await ErrorAsync(wrong, HttpMethod.Post, "/rerank", body, HttpStatusCode.Unauthorized);
        Assert.Equal("unauthorized", code);
        await ErrorAsync(anonymous, HttpMethod.Get, "/v1/models", null, HttpStatusCode.Unauthorized);
        // The API key is not the admin key.
        await ErrorAsync(_server.Client, HttpMethod.Post, "/admin/models/tiny/unload", null, HttpStatusCode.Unauthorized);
        using var admin = _server.NewClient(ServerHarness.AdminKey);
        (code, _, _) = await ErrorAsync(admin, HttpMethod.Post, "/admin/models/nope/load", null, HttpStatusCode.NotFound);
        Assert.Equal("model_not_found", code);
    }

    [Fact]
    public async Task UnknownRoutesAndMethods_AnswerTheErrorShape()
    {
        var (code, _, _) = await ErrorAsync(_server.Client, HttpMethod.Get, "/v3/rerank", null, HttpStatusCode.NotFound);
        Assert.Equal("not_found", code);
        (code, _, _) = await ErrorAsync(_server.Client, HttpMethod.Get, "/v2/rerank", null, HttpStatusCode.MethodNotAllowed);
        Assert.Equal("method_not_allowed", code);
    }

    /// <summary>A body sent without Content-Length.</summary>
    private sealed class ChunkedContent(string text) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(Encoding.UTF8.GetBytes(text)).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
