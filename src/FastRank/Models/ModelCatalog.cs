using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using FastRank.Ranking;

namespace FastRank.Models;

/// <summary>How a catalog model serves one ranking method, and the prompt settings that go with it.</summary>
public sealed record CatalogMethod
{
    /// <summary>The method's name: <c>pointwise</c>, <c>first</c>, <c>icr</c>.</summary>
    public required string Method { get; init; }

    /// <summary>Whether this is the model's preferred method.</summary>
    public bool Default { get; init; }

    /// <summary>The chat template family the prompts are written in (<c>chatml</c>, <c>llama3</c>, <c>mistral</c>); null: the GGUF's own.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Listwise identifiers: <c>letters</c> (A, B, ...) or <c>numbers</c>.</summary>
    public string? Identifiers { get; init; }

    /// <summary>Listwise window (candidates per prompt).</summary>
    public int? Window { get; init; }

    /// <summary>Separator between documents in one prompt (ICR).</summary>
    public string? Separator { get; init; }

    /// <summary>Pointwise instruction; null: the method's default.</summary>
    public string? Instruction { get; init; }

    /// <summary>Pointwise prompt template; null: the GGUF's rerank template or the method's default.</summary>
    public string? PromptTemplate { get; init; }

    /// <summary>Free text for people.</summary>
    public string? Notes { get; init; }

    /// <summary>The method as FastRank's enum, when this build knows it.</summary>
    [JsonIgnore]
    public RerankMethod? Kind => RerankMethodNames.TryParse(Method, out var m) ? m : null;
}

/// <summary>One known GGUF model: where to get it and how to use it.</summary>
public sealed record CatalogEntry
{
    /// <summary>Short name, used with <c>--model</c> and <c>fastrank models pull</c>.</summary>
    public required string Name { get; init; }

    /// <summary>One line for people.</summary>
    public string? Description { get; init; }

    /// <summary><c>reranker</c> (a model trained to judge relevance) or <c>instruct</c> (a chat model used by listwise and attention methods).</summary>
    public string Kind { get; init; } = "reranker";

    /// <summary>The Hugging Face repository, <c>owner/name</c>.</summary>
    public required string Repo { get; init; }

    /// <summary>The GGUF file's path inside the repository.</summary>
    public required string File { get; init; }

    /// <summary>Branch, tag or commit.</summary>
    public string Revision { get; init; } = "main";

    /// <summary>Quantization of the file (llama.cpp's name, lower case).</summary>
    public string? Quantization { get; init; }

    /// <summary>Size in bytes as published (informational: the server's length is what the download checks).</summary>
    public long? SizeBytes { get; init; }

    /// <summary>SHA-256 of the file (lower-case hex) when pinned; null: the server's announced checksum is used.</summary>
    public string? Sha256 { get; init; }

    /// <summary>The model's licence (SPDX id or the vendor's licence name).</summary>
    public string? License { get; init; }

    /// <summary>The methods the model suits, with their prompt settings.</summary>
    public IReadOnlyList<CatalogMethod> Methods { get; init; } = [];

    /// <summary>The model as an <c>hf://</c> reference.</summary>
    [JsonIgnore]
    public string HfReference => Revision == "main" ? $"hf://{Repo}/{File}" : $"hf://{Repo}@{Revision}/{File}";

    /// <summary>The preferred method (the one marked default, else the first).</summary>
    [JsonIgnore]
    public CatalogMethod? DefaultMethod => Methods.FirstOrDefault(m => m.Default) ?? (Methods.Count > 0 ? Methods[0] : null);

    /// <summary>
    /// <paramref name="options"/> with this model's settings for <paramref name="method"/> (the preferred
    /// method when null and this build knows it): the method, and for pointwise its instruction and template
    /// when the options leave them unset.
    /// </summary>
    public RerankerOptions ApplyTo(RerankerOptions options, RerankMethod? method = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var chosen = method is { } m ? Methods.FirstOrDefault(x => x.Kind == m) : DefaultMethod;
        if (chosen?.Kind is not { } kind) return options;
        var first = options.First;
        if (kind is RerankMethod.First or RerankMethod.ListwiseGenerate)
        {
            // Catalog settings fill what the options leave at their defaults.
            var defaults = new FirstOptions();
            first = first with
            {
                ChatLayout = first.ChatLayout ?? chosen.ChatTemplate,
                WindowSize = first.WindowSize == defaults.WindowSize && chosen.Window is { } w ? w : first.WindowSize,
                Identifiers = first.Identifiers == defaults.Identifiers && Enum.TryParse<ListwiseIdentifiers>(chosen.Identifiers, ignoreCase: true, out var ids)
                    ? ids : first.Identifiers,
            };
            if (first.Stride >= first.WindowSize) first = first with { Stride = Math.Max(1, first.WindowSize / 2) };
        }
        return options with
        {
            Method = kind,
            Instruction = options.Instruction ?? (kind == RerankMethod.Pointwise ? chosen.Instruction : null),
            PromptTemplate = options.PromptTemplate ?? (kind == RerankMethod.Pointwise ? chosen.PromptTemplate : null),
            First = first,
        };
    }
}

/// <summary>
/// The list of known models. The built-in catalog is <c>models/catalog.json</c> of the repository,
/// embedded in the library; a user catalog (a file of the same format) adds models or replaces
/// built-in ones by name, and may name another default.
/// </summary>
public sealed partial class ModelCatalog
{
    /// <summary>The environment variable naming a user catalog file.</summary>
    public const string CatalogVariable = "FASTRANK_CATALOG";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    private static readonly Lazy<ModelCatalog> BuiltinCatalog = new(LoadBuiltin);

    private readonly Dictionary<string, CatalogEntry> _byName;

    private ModelCatalog(IReadOnlyList<CatalogEntry> entries, string defaultName, string source)
    {
        Entries = entries;
        Source = source;
        _byName = new Dictionary<string, CatalogEntry>(StringComparer.OrdinalIgnoreCase);
        foreach (var e in entries)
        {
            if (!_byName.TryAdd(e.Name, e)) throw new CatalogFormatException($"{source}: model '{e.Name}' is listed twice");
        }
        if (!_byName.TryGetValue(defaultName, out var d))
            throw new CatalogFormatException($"{source}: the default model '{defaultName}' is not in the catalog");
        Default = d;
    }

    /// <summary>The catalog embedded in the library (the repository's <c>models/catalog.json</c>).</summary>
    public static ModelCatalog Builtin => BuiltinCatalog.Value;

    /// <summary>Every model, in catalog order.</summary>
    public IReadOnlyList<CatalogEntry> Entries { get; }

    /// <summary>The model used when none is named.</summary>
    public CatalogEntry Default { get; }

    /// <summary>Where the catalog came from (for messages).</summary>
    public string Source { get; }

    /// <summary>The names, in catalog order.</summary>
    public IReadOnlyList<string> Names => [.. Entries.Select(e => e.Name)];

    /// <summary>Looks a model up by name (case-insensitive).</summary>
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CatalogEntry? entry) =>
        _byName.TryGetValue(name, out entry);

    /// <summary>The built-in catalog, merged with the user catalog at <paramref name="userCatalogPath"/>
    /// (or, when null, the file named by <c>FASTRANK_CATALOG</c>, if set).</summary>
    /// <exception cref="CatalogFormatException">The user catalog is invalid.</exception>
    /// <exception cref="FileNotFoundException">The user catalog does not exist.</exception>
    public static ModelCatalog LoadDefault(string? userCatalogPath = null)
    {
        userCatalogPath ??= Environment.GetEnvironmentVariable(CatalogVariable) is { Length: > 0 } v ? v : null;
        return userCatalogPath is null ? Builtin : Builtin.Merge(Load(userCatalogPath));
    }

    /// <summary>Reads a catalog file.</summary>
    /// <exception cref="CatalogFormatException">Invalid JSON or an invalid entry.</exception>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static ModelCatalog Load(string path)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"catalog file '{path}' does not exist", path);
        using var stream = System.IO.File.OpenRead(path);
        return Parse(stream, path);
    }

    /// <summary>Parses a catalog from JSON.</summary>
    /// <exception cref="CatalogFormatException">Invalid JSON or an invalid entry.</exception>
    public static ModelCatalog Parse(Stream json, string source)
    {
        CatalogFile? file;
        try
        {
            file = JsonSerializer.Deserialize<CatalogFile>(json, Json);
        }
        catch (JsonException ex)
        {
            throw new CatalogFormatException($"{source}: not a valid catalog: {ex.Message}", ex);
        }
        if (file?.Models is null) throw new CatalogFormatException($"{source}: no 'models' array");
        if (file.Version is not 1) throw new CatalogFormatException($"{source}: unsupported catalog version {file.Version} (this FastRank reads version 1)");
        foreach (var e in file.Models) Validate(e, source);
        string? defaultName = file.Default ?? (file.Models.Count > 0 ? file.Models[0].Name : null);
        if (defaultName is null) throw new CatalogFormatException($"{source}: the catalog is empty");
        return new ModelCatalog(file.Models, defaultName, source);
    }

    /// <summary>This catalog with <paramref name="user"/>'s models added (replacing same-named ones) and its default.</summary>
    public ModelCatalog Merge(ModelCatalog user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var merged = new List<CatalogEntry>();
        foreach (var e in Entries) merged.Add(user.TryGet(e.Name, out var replaced) ? replaced : e);
        foreach (var e in user.Entries)
        {
            if (!TryGet(e.Name, out _)) merged.Add(e);
        }
        return new ModelCatalog(merged, user.Default.Name, $"{Source} + {user.Source}");
    }

    private static void Validate(CatalogEntry e, string source)
    {
        string where = $"{source}: model '{e.Name}'";
        if (string.IsNullOrWhiteSpace(e.Name) || !NamePattern().IsMatch(e.Name))
            throw new CatalogFormatException($"{source}: model name '{e.Name}' must be letters, digits, '.', '_' or '-'");
        if (string.IsNullOrEmpty(e.Repo) || !ModelReference.IsValidRepo(e.Repo))
            throw new CatalogFormatException($"{where}: repo '{e.Repo}' must be 'owner/name'");
        if (string.IsNullOrEmpty(e.File) || !ModelReference.IsValidRepoFile(e.File))
            throw new CatalogFormatException($"{where}: file '{e.File}' must be a relative path to a .gguf file");
        if (string.IsNullOrEmpty(e.Revision) || !ModelReference.IsValidRevision(e.Revision))
            throw new CatalogFormatException($"{where}: revision '{e.Revision}' is not a valid branch, tag or commit");
        if (e.Sha256 is not null && !ModelDownloader.IsSha256(e.Sha256))
            throw new CatalogFormatException($"{where}: sha256 must be 64 hexadecimal digits or null");
        if (e.SizeBytes is <= 0) throw new CatalogFormatException($"{where}: sizeBytes must be positive or null");
        if (e.Methods.Count == 0) throw new CatalogFormatException($"{where}: no methods");
        foreach (var m in e.Methods)
        {
            if (string.IsNullOrWhiteSpace(m.Method)) throw new CatalogFormatException($"{where}: a method without a name");
            if (m.Window is < 2) throw new CatalogFormatException($"{where}: window must be at least 2");
        }
    }

    private static ModelCatalog LoadBuiltin()
    {
        using var stream = typeof(ModelCatalog).Assembly.GetManifestResourceStream("FastRank.Models.catalog.json")
            ?? throw new InvalidOperationException("the built-in model catalog is missing from the assembly");
        return Parse(stream, "built-in catalog");
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex NamePattern();

    private sealed record CatalogFile
    {
        public int? Version { get; init; }
        public string? Default { get; init; }
        public List<CatalogEntry>? Models { get; init; }
    }
}
