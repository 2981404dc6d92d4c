using FastRank.Ranking;

namespace FastRank.Server;

/// <summary>
/// Settings of <c>fastrank serve</c>, bound from the configuration section <see cref="Section"/>
/// (appsettings.json, environment variables such as <c>FASTRANK__PORT</c>, command-line flags).
/// </summary>
public sealed class ServerOptions
{
    /// <summary>The configuration section: <c>FastRank</c> (environment: <c>FASTRANK__...</c>).</summary>
    public const string Section = "FastRank";

    /// <summary>The address to listen on. Default: loopback only.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>The port (0: any free port).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Models by pool name: a GGUF path, catalog name, hf:// reference or URL. None: the catalog's default as <c>default</c>.</summary>
    public Dictionary<string, string> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The model of requests that name none (and the one readiness waits for). Default: the first model.</summary>
    public string? Use { get; set; }

    /// <summary>When set, rerank and model requests need <c>Authorization: Bearer KEY</c>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>When set, the admin endpoints (<c>/admin/models/...</c>) exist and need <c>Authorization: Bearer KEY</c>.</summary>
    public string? AdminKey { get; set; }

    /// <summary>Most documents in one request (more: 413).</summary>
    public int MaxDocuments { get; set; } = 1000;

    /// <summary>Largest request body in bytes (larger: 413).</summary>
    public long MaxRequestBytes { get; set; } = 8L << 20;

    /// <summary>Most rerank requests admitted at once, running or waiting (more: 429 with Retry-After).</summary>
    public int Queue { get; set; } = 64;

    /// <summary>Seconds a rerank request may take, waiting included (longer: 504).</summary>
    public double RequestTimeout { get; set; } = 60;

    /// <summary>Seconds a shutdown (SIGTERM) waits for requests in flight.</summary>
    public double ShutdownTimeout { get; set; } = 30;

    /// <summary>Default method: pointwise, first, icr or listwise-generate (a catalog model's preference otherwise).</summary>
    public string? Method { get; set; }

    /// <summary>Per-document token budget (longer documents are truncated).</summary>
    public int MaxDocumentTokens { get; set; } = 512;

    /// <summary>CPU threads per model (0: all cores).</summary>
    public int Threads { get; set; }

    /// <summary>The model download cache; null: <c>FASTRANK_CACHE</c>, else <c>~/.cache/fastrank</c>.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Never download; null: from <c>FASTRANK_OFFLINE</c>.</summary>
    public bool? Offline { get; set; }

    /// <summary>Memory budget of the model pool in bytes; null: half of the available memory.</summary>
    public long? MemoryBudgetBytes { get; set; }

    /// <summary>The default model's name (<see cref="Use"/>, else the first model, else <c>default</c>).</summary>
    public string DefaultModel => Use ?? Models.Keys.FirstOrDefault() ?? Hosting.FastRankServiceCollectionExtensions.DefaultModelName;

    /// <summary>The method parsed from <see cref="Method"/>, null when unset.</summary>
    internal RerankMethod? ParsedMethod => Method is null ? null : RerankMethodNames.TryParse(Method, out var m) ? m : null;

    /// <summary>Checks the settings at start; the messages name the setting.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host)) throw new ArgumentException("FastRank:Host (--host) must not be empty");
        if (Port is < 0 or > 65535) throw new ArgumentException($"FastRank:Port (--port) must be 0..65535, not {Port}");
        if (MaxDocuments < 1) throw new ArgumentException("FastRank:MaxDocuments (--max-documents) must be at least 1");
        if (MaxRequestBytes < 1024) throw new ArgumentException("FastRank:MaxRequestBytes (--max-request-bytes) must be at least 1024");
        if (Queue < 1) throw new ArgumentException("FastRank:Queue (--queue) must be at least 1");
        if (!(RequestTimeout > 0)) throw new ArgumentException("FastRank:RequestTimeout (--request-timeout) must be positive");
        if (ShutdownTimeout < 0) throw new ArgumentException("FastRank:ShutdownTimeout must not be negative");
        if (MaxDocumentTokens < 1) throw new ArgumentException("FastRank:MaxDocumentTokens (--max-doc-tokens) must be at least 1");
        if (Threads < 0) throw new ArgumentException("FastRank:Threads (--threads) must not be negative");
        if (Method is not null && ParsedMethod is null) throw new ArgumentException($"FastRank:Method (--method): unknown method '{Method}' (pointwise, first, icr, listwise-generate)");
        if (ApiKey is { Length: 0 }) ApiKey = null;
        if (AdminKey is { Length: 0 }) AdminKey = null;
        foreach (var (name, reference) in Models)
        {
            if (string.IsNullOrWhiteSpace(name) || string.IsNullOrWhiteSpace(reference)) throw new ArgumentException($"FastRank:Models: model '{name}' needs a name and a reference");
        }
        if (Use is not null && (Models.Count > 0 ? !Models.ContainsKey(Use) : Use != Hosting.FastRankServiceCollectionExtensions.DefaultModelName))
            throw new ArgumentException($"FastRank:Use (--use): no model named '{Use}' (models: {(Models.Count > 0 ? string.Join(", ", Models.Keys) : Hosting.FastRankServiceCollectionExtensions.DefaultModelName)})");
    }
}
