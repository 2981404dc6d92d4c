using System.Text.Json;
using System.Text.Json.Serialization;
using FastRank.Ranking;

namespace FastRank.Server;

/// <summary>The API a rerank request was written for; each one maps to the same <see cref="ServeRequest"/>.</summary>
internal enum ApiDialect
{
    /// <summary>Cohere v1 <c>/v1/rerank</c>, which Jina and llama-server share: one body, one superset response.</summary>
    CohereV1,

    /// <summary>Cohere v2 <c>/v2/rerank</c>.</summary>
    CohereV2,

    /// <summary>llama-server / Jina <c>/rerank</c> with <c>documents</c>.</summary>
    LlamaServer,

    /// <summary>Hugging Face TEI <c>/rerank</c> with <c>texts</c>: a bare array answer.</summary>
    Tei,
}

/// <summary>One rerank request, whichever API it came through.</summary>
/// <param name="Model">The pool name asked for (null: the default model).</param>
/// <param name="Request">What to rank.</param>
/// <param name="ReturnDocuments">Echo each document's text in the answer.</param>
/// <param name="RawScores">TEI: the raw score (the method's logit) instead of the normalized one.</param>
internal sealed record ServeRequest(string? Model, RerankRequest Request, bool ReturnDocuments, bool RawScores);

/// <summary>
/// The request bodies of each API, read into a <see cref="ServeRequest"/>, and the answers written back.
/// Thin mappings only: every dialect ranks through <see cref="RerankService"/>. Unknown fields are ignored,
/// as the APIs themselves do; a known field of the wrong type is a 400 that names it.
/// </summary>
internal static class RerankDialects
{
    /// <summary>Serializer settings of every answer: snake_case, absent values left out.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>/rerank takes llama-server's (and Jina's) body and TEI's; <c>texts</c> tells TEI apart.</summary>
    public static ApiDialect Detect(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("texts", out _) && !root.TryGetProperty("documents", out _) ? ApiDialect.Tei : ApiDialect.LlamaServer;

    public static ServeRequest Parse(JsonElement root, ApiDialect dialect, int maxDocuments)
    {
        if (root.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest("the body must be a JSON object");
        string? model = OptionalString(root, "model");
        string query = RequiredString(root, "query");
        if (string.IsNullOrWhiteSpace(query)) throw ApiException.BadRequest("'query' must not be empty");
        string listField = dialect == ApiDialect.Tei ? "texts" : "documents";
        var documents = Documents(root, listField, maxDocuments, allowObjects: dialect != ApiDialect.Tei);
        int? topN = OptionalInt(root, "top_n");
        if (topN is < 0) throw ApiException.BadRequest("'top_n' must not be negative");
        // Cohere's and llama-server's top_n of 0 or less means "all" in some clients; treat 0 as all.
        if (topN == 0) topN = null;
        int? maxTokens = OptionalInt(root, "max_tokens_per_doc");
        if (maxTokens is < 1) throw ApiException.BadRequest("'max_tokens_per_doc' must be at least 1");
        bool returnDocuments = dialect == ApiDialect.Tei ? OptionalBool(root, "return_text") ?? false : OptionalBool(root, "return_documents") ?? false;
        bool rawScores = dialect == ApiDialect.Tei && (OptionalBool(root, "raw_scores") ?? false);
        if (dialect == ApiDialect.Tei)
        {
            // Accepted and checked for type; FastRank always truncates to its per-document budget (documented policy).
            _ = OptionalBool(root, "truncate");
            _ = OptionalString(root, "truncation_direction");
        }
        RerankMethod? method = null;
        if (OptionalString(root, "method") is { } m)
        {
            if (!RerankMethodNames.TryParse(m, out var parsed)) throw ApiException.BadRequest($"'method': unknown method '{m}' (pointwise, first, icr, listwise-generate)");
            method = parsed;
        }
        string? instruction = OptionalString(root, "instruction");
        if (instruction is { Length: 0 }) instruction = null;
        var request = new RerankRequest(query, documents) { TopN = topN, Method = method, Instruction = instruction, MaxDocumentTokens = maxTokens };
        return new ServeRequest(string.IsNullOrEmpty(model) ? null : model, request, returnDocuments, rawScores);
    }

    /// <summary>The answer of <paramref name="dialect"/>.</summary>
    public static object Answer(ApiDialect dialect, ServeRequest request, RerankResult result, string model)
    {
        var docs = request.Request.Documents;
        switch (dialect)
        {
            case ApiDialect.Tei:
            {
                var ranks = new TeiRank[result.Count];
                for (int i = 0; i < result.Count; i++)
                {
                    var r = result[i];
                    ranks[i] = new TeiRank(r.Index, request.RawScores ? r.RawScore : r.Score, request.ReturnDocuments ? docs[r.Index] : null);
                }
                return ranks;
            }
            case ApiDialect.CohereV2:
                return new CohereV2Response(Id(), Results(result, request), new CohereMeta(new CohereApiVersion("2"), new CohereBilledUnits(1)));
            default:
                long tokens = result.Usage.PromptTokens;
                return new RerankResponse(Id(), model, "list", Results(result, request), new RerankUsageJson(tokens, tokens),
                    dialect == ApiDialect.CohereV1 ? new CohereMeta(new CohereApiVersion("1"), new CohereBilledUnits(1)) : null);
        }
    }

    private static RerankResultJson[] Results(RerankResult result, ServeRequest request)
    {
        var results = new RerankResultJson[result.Count];
        for (int i = 0; i < result.Count; i++)
        {
            var r = result[i];
            results[i] = new RerankResultJson(r.Index, r.Score, request.ReturnDocuments ? new DocumentJson(request.Request.Documents[r.Index]) : null);
        }
        return results;
    }

    private static string Id() => Guid.NewGuid().ToString("D");

    private static string[] Documents(JsonElement root, string field, int maxDocuments, bool allowObjects)
    {
        if (!root.TryGetProperty(field, out var list) || list.ValueKind == JsonValueKind.Null) throw ApiException.BadRequest($"'{field}' is required");
        if (list.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"'{field}' must be an array");
        int n = list.GetArrayLength();
        if (n > maxDocuments)
            throw new ApiException(StatusCodesTooLarge, ErrorCodes.TooManyDocuments, $"{n} documents in '{field}'; this server takes at most {maxDocuments} per request");
        var docs = new string[n];
        int i = 0;
        foreach (var item in list.EnumerateArray())
        {
            docs[i] = item.ValueKind switch
            {
                JsonValueKind.String => Text(item, $"{field}[{i}]"),
                JsonValueKind.Object when allowObjects => item.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                    ? Text(t, $"{field}[{i}].text")
                    : throw ApiException.BadRequest($"'{field}[{i}]' must have a string field 'text'"),
                _ => throw ApiException.BadRequest(allowObjects ? $"'{field}[{i}]' must be a string or an object with 'text'" : $"'{field}[{i}]' must be a string"),
            };
            i++;
        }
        return docs;
    }

    private const int StatusCodesTooLarge = 413;

    private static string RequiredString(JsonElement root, string name) =>
        OptionalString(root, name) ?? throw ApiException.BadRequest($"'{name}' is required");

    private static string? OptionalString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? Text(v, name) : throw ApiException.BadRequest($"'{name}' must be a string");
    }

    /// <summary>A JSON string's text (decoded without the shared array pool: RequestJson); text that is not UTF-16 (a lone surrogate such as \ud800) is a bad request, not a server error.</summary>
    private static string Text(JsonElement v, string name)
    {
        try
        {
            return RequestJson.Text(v);
        }
        catch (InvalidOperationException)
        {
            throw ApiException.BadRequest($"'{name}' is not valid text (invalid UTF-8, or an escaped lone UTF-16 surrogate)");
        }
    }

    private static int? OptionalInt(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n : throw ApiException.BadRequest($"'{name}' must be an integer");
    }

    private static bool? OptionalBool(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.BadRequest($"'{name}' must be true or false"),
        };
    }
}

/// <summary>A document echoed back (<c>{"text"}</c>, as Cohere and Jina answer).</summary>
internal sealed record DocumentJson(string Text);

/// <summary>One result of the Cohere / Jina / llama-server answers.</summary>
internal sealed record RerankResultJson(int Index, double RelevanceScore, DocumentJson? Document);

/// <summary>Token counts as llama-server (prompt_tokens) and Jina (total_tokens) report them.</summary>
internal sealed record RerankUsageJson(long PromptTokens, long TotalTokens);

internal sealed record CohereApiVersion(string Version);

internal sealed record CohereBilledUnits(int SearchUnits);

internal sealed record CohereMeta(CohereApiVersion ApiVersion, CohereBilledUnits BilledUnits);

/// <summary>
/// The answer of <c>/v1/rerank</c> and llama-server's <c>/rerank</c>: Cohere v1's <c>id</c>, <c>results</c>,
/// <c>meta</c>; Jina's <c>model</c>, <c>usage.total_tokens</c>; llama-server's <c>object</c>, <c>usage.prompt_tokens</c>.
/// </summary>
internal sealed record RerankResponse(string Id, string Model, string Object, RerankResultJson[] Results, RerankUsageJson Usage, CohereMeta? Meta);

/// <summary>The answer of Cohere v2 <c>/v2/rerank</c>.</summary>
internal sealed record CohereV2Response(string Id, RerankResultJson[] Results, CohereMeta Meta);

/// <summary>One entry of TEI's answer.</summary>
internal sealed record TeiRank(int Index, double Score, string? Text);
