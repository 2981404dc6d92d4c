using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using FastRank.Tests.Fidelity;

namespace FastRank.Tests.Server;

/// <summary>
/// Cohere's own JavaScript SDK (npm <c>cohere-ai</c>, run by node) against a real server on loopback: a user of that
/// SDK changes only its base URL. The SDK parses FastRank's v2 and v1 answers into the scores the server sent, and
/// its error type carries FastRank's status and error body.
/// </summary>
public sealed class ClientSdkTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private const string CoherePackage = "cohere-ai@8.1.0";
    private static readonly Lock InstallGate = new();
    private readonly ServerHarness _server = shared.Server;

    /// <summary>
    /// The npm folder of the API clients the tests run: FASTRANK_NPM_CLIENTS, else ~/.cache/fastrank/clients (outside the
    /// repository); the package is installed there with npm when it is missing (CI reaches the npm registry).
    /// </summary>
    private static string ClientsDirectory()
    {
        string dir = Environment.GetEnvironmentVariable("FASTRANK_NPM_CLIENTS") is { Length: > 0 } d ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "fastrank", "clients");
        lock (InstallGate)
        {
            if (File.Exists(Path.Combine(dir, "node_modules", "cohere-ai", "package.json"))) return dir;
            Directory.CreateDirectory(dir);
            var (code, _, err) = NodeReference.RunProgram("npm", ["install", "--prefix", dir, "--save-exact", "--no-audit", "--no-fund", CoherePackage], null, TimeSpan.FromMinutes(5));
            if (code != 0) throw new InvalidOperationException($"npm install {CoherePackage} failed ({code}): {err}");
            return dir;
        }
    }

    [Fact]
    public async Task CohereSdk_V2AndV1_ParseTheServersAnswers_AndItsErrors()
    {
        string modules = ClientsDirectory();
        string query = "What is the capital of the United States?";
        string[] documents =
        [
            "Carson City is the capital city of the American state of Nevada.",
            "Washington, D.C. is the capital of the United States. It is a federal district.",
            "Capital punishment has existed in the United States since before the United States was a country.",
            "The Commonwealth of the Northern Mariana Islands is a group of islands in the Pacific Ocean.",
        ];
        var request = new JsonObject
        {
            ["modules"] = modules,
            ["baseUrl"] = _server.BaseAddress.ToString().TrimEnd('/'),
            ["token"] = ServerHarness.ApiKey,
            ["model"] = "tiny",
            ["query"] = query,
            ["documents"] = new JsonArray([.. documents.Select(d => JsonValue.Create(d))]),
            ["topN"] = 3,
        };
        string script = Path.Combine(AppContext.BaseDirectory, "Server", "cohere-client.mjs");
        var (code, stdout, stderr) = await Task.Run(() => NodeReference.RunProgram("node", [script], request.ToJsonString(), TimeSpan.FromMinutes(2)));
        Assert.True(code == 0, $"node cohere-client.mjs failed ({code}): {stderr}");
        var sdk = JsonNode.Parse(stdout)!;

        // The server's own answer to the same body, read as raw JSON: the SDK's parsed results must be exactly these.
        using var raw = await _server.Client.PostAsJsonAsync("/v2/rerank", new { model = "tiny", query, documents, top_n = 3 });
        var expected = JsonDocument.Parse(await raw.Content.ReadAsStringAsync()).RootElement.GetProperty("results");
        foreach (var version in new[] { "v2", "v1" })
        {
            var results = sdk[version]!["results"]!.AsArray();
            Assert.Equal(3, results.Count);
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(expected[i].GetProperty("index").GetInt32(), results[i]!["index"]!.GetValue<int>());
                Assert.Equal(expected[i].GetProperty("relevance_score").GetDouble(), results[i]!["relevanceScore"]!.GetValue<double>(), 1e-12);
            }
        }
        Assert.NotNull(sdk["v2"]!["id"]);
        Assert.Equal("2", sdk["v2"]!["meta"]!["apiVersion"]!["version"]!.GetValue<string>());
        // v1 with returnDocuments: the SDK reads each result's document text.
        var v1 = sdk["v1"]!["results"]!.AsArray();
        for (int i = 0; i < 3; i++) Assert.Equal(documents[v1[i]!["index"]!.GetValue<int>()], v1[i]!["document"]!["text"]!.GetValue<string>());
        // A wrong key: the SDK throws its error type with FastRank's status and error body.
        var error = sdk["v2Error"]!;
        Assert.Equal(401, error["statusCode"]!.GetValue<int>());
        Assert.Equal("unauthorized", error["body"]!["error"]!["code"]!.GetValue<string>());
    }
}
