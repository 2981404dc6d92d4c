using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastRank.Models;

/// <summary>Settings of a <see cref="ModelResolver"/>. Unset values come from the environment.</summary>
public sealed record ModelResolverOptions
{
    /// <summary>The cache directory; null: <c>FASTRANK_CACHE</c>, else <c>~/.cache/fastrank</c>.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>The catalog; null: the built-in one merged with <see cref="CatalogPath"/> (or <c>FASTRANK_CATALOG</c>).</summary>
    public ModelCatalog? Catalog { get; init; }

    /// <summary>A user catalog file merged into the built-in one.</summary>
    public string? CatalogPath { get; init; }

    /// <summary>Never touch the network; null: on when <c>FASTRANK_OFFLINE</c> or <c>HF_HUB_OFFLINE</c> is 1/true/yes.</summary>
    public bool? Offline { get; init; }

    /// <summary>The Hugging Face endpoint; null: <c>HF_ENDPOINT</c>, else https://huggingface.co.</summary>
    public Uri? HuggingFaceEndpoint { get; init; }

    /// <summary>The Hugging Face token; null: <c>HF_TOKEN</c>, <c>HUGGING_FACE_HUB_TOKEN</c>, or the token file of the Hugging Face CLI.</summary>
    public string? HuggingFaceToken { get; init; }

    /// <summary>Download behaviour (timeouts, retries); its token and logger are filled in from here.</summary>
    public ModelDownloaderOptions Download { get; init; } = new();

    /// <summary>Where resolution and downloads log.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>A model reference resolved to a local file.</summary>
/// <param name="Path">The GGUF file.</param>
/// <param name="Reference">What was asked for.</param>
/// <param name="Download">The download that brought it, when there was one.</param>
public sealed record ResolvedModel(string Path, ModelReference Reference, DownloadResult? Download)
{
    /// <summary>The catalog entry, when the reference was a catalog name.</summary>
    public CatalogEntry? Entry => Reference.Entry;
}

/// <summary>
/// Turns a model reference (a path, a catalog name, <c>hf://owner/repo/file.gguf</c>, a URL, or nothing
/// for the catalog's default) into a local GGUF file: local files as they are, remote ones from the
/// cache, downloading them first unless offline. A cached file is used without any network access.
/// </summary>
public sealed class ModelResolver : IDisposable
{
    /// <summary>The public Hugging Face endpoint.</summary>
    public static readonly Uri DefaultEndpoint = new("https://huggingface.co");

    private readonly ModelDownloader _downloader;
    private readonly ILogger _logger;

    /// <summary>Creates a resolver.</summary>
    /// <exception cref="CatalogFormatException">The user catalog is invalid.</exception>
    public ModelResolver(ModelResolverOptions? options = null)
    {
        options ??= new ModelResolverOptions();
        Catalog = options.Catalog ?? ModelCatalog.LoadDefault(options.CatalogPath);
        Cache = new ModelCache(options.CacheDirectory);
        Offline = options.Offline ?? (IsTrue(Environment.GetEnvironmentVariable("FASTRANK_OFFLINE")) || IsTrue(Environment.GetEnvironmentVariable("HF_HUB_OFFLINE")));
        Endpoint = options.HuggingFaceEndpoint
            ?? (Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } e && Uri.TryCreate(e, UriKind.Absolute, out var u) ? u : DefaultEndpoint);
        _logger = options.LoggerFactory?.CreateLogger<ModelResolver>() ?? (ILogger)NullLogger.Instance;
        string? token = options.HuggingFaceToken ?? options.Download.HuggingFaceToken ?? FindToken(Environment.GetEnvironmentVariable);
        _downloader = new ModelDownloader(options.Download with
        {
            HuggingFaceToken = token,
            LoggerFactory = options.Download.LoggerFactory ?? options.LoggerFactory,
        });
        HasToken = token is { Length: > 0 };
    }

    /// <summary>The catalog in use.</summary>
    public ModelCatalog Catalog { get; }

    /// <summary>The cache in use.</summary>
    public ModelCache Cache { get; }

    /// <summary>Whether the network is never used.</summary>
    public bool Offline { get; }

    /// <summary>The Hugging Face endpoint.</summary>
    public Uri Endpoint { get; }

    /// <summary>Whether a Hugging Face token was found (its value is never exposed).</summary>
    public bool HasToken { get; }

    /// <summary>Parses a reference; null or empty means the catalog's default.</summary>
    public ModelReference Parse(string? reference) =>
        string.IsNullOrWhiteSpace(reference) ? ModelReference.FromCatalog(Catalog.Default) : ModelReference.Parse(reference, Catalog);

    /// <summary>Resolves <paramref name="reference"/> (null: the catalog's default) to a local file, downloading it if needed.</summary>
    /// <exception cref="UnknownModelException">Not a file, catalog name, hf:// reference or URL.</exception>
    /// <exception cref="FileNotFoundException">A path that does not exist.</exception>
    /// <exception cref="ModelNotCachedException">Offline and not cached.</exception>
    /// <exception cref="CachedModelCorruptException">Offline and the cached file is damaged.</exception>
    /// <exception cref="ModelCacheAccessException">The cache folder cannot be read.</exception>
    /// <exception cref="ModelDownloadException">The download failed (see its subclasses).</exception>
    public Task<ResolvedModel> ResolveAsync(string? reference, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default) =>
        ResolveAsync(Parse(reference), progress, ct);

    /// <summary>Resolves a parsed reference.</summary>
    public async Task<ResolvedModel> ResolveAsync(ModelReference reference, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (reference.Kind == ModelSourceKind.File)
        {
            if (!File.Exists(reference.FilePath)) throw new FileNotFoundException($"model file '{reference.FilePath}' does not exist", reference.FilePath);
            return new ResolvedModel(reference.FilePath!, reference, null);
        }
        if (Cache.TryGetCached(reference) is { } cached)
        {
            _logger.LogDebug("{Model}: cached at {Path}", reference.DisplayName, cached);
            return new ResolvedModel(cached, reference, null);
        }
        string path = Cache.PathFor(reference);
        if (ModelCache.AccessProblem(path) is { } problem) throw new ModelCacheAccessException(Cache.Directory, problem);
        if (File.Exists(path) && ModelCache.Damage(path) is { } damage)
        {
            if (Offline) throw new CachedModelCorruptException(reference.DisplayName, path, damage);
            _logger.LogWarning("{Model}: the cached file {Path} is damaged ({Damage}); downloading it again", reference.DisplayName, path, damage);
            Cache.Remove(reference);
        }
        if (Offline) throw new ModelNotCachedException(reference.DisplayName, path);
        var url = reference.DownloadUri(Endpoint);
        var request = new DownloadRequest(url, path)
        {
            ExpectedSha256 = reference.ExpectedSha256,
            SendToken = reference.Kind != ModelSourceKind.Url || url.Authority == Endpoint.Authority,
            Name = reference.DisplayName,
        };
        if (File.Exists(path) && reference.ExpectedSha256 is not null)
        {
            // Cached, but not the file the catalog pins: replace it.
            _logger.LogWarning("{Model}: the cached file is not the one the catalog pins; downloading again", reference.DisplayName);
            Cache.Remove(reference);
        }
        var download = await _downloader.DownloadAsync(request, progress, ct).ConfigureAwait(false);
        return new ResolvedModel(download.Path, reference, download);
    }

    /// <summary>Synchronous twin of <see cref="ResolveAsync(string?, IProgress{DownloadProgress}?, CancellationToken)"/>.</summary>
    public ResolvedModel Resolve(string? reference, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default) =>
        ResolveAsync(reference, progress, ct).GetAwaiter().GetResult();

    internal static string? FindToken(Func<string, string?> env)
    {
        foreach (string name in new[] { "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN" })
        {
            if (env(name) is { } v && v.Trim() is { Length: > 0 } t) return t;
        }
        string? file = env("HF_TOKEN_PATH");
        if (string.IsNullOrEmpty(file))
        {
            string? hfHome = env("HF_HOME");
            if (string.IsNullOrEmpty(hfHome))
            {
                string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                if (string.IsNullOrEmpty(home)) return null;
                hfHome = Path.Combine(home, ".cache", "huggingface");
            }
            file = Path.Combine(hfHome, "token");
        }
        try
        {
            return File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } t ? t : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool IsTrue(string? v) => v is not null && (v == "1" || v.Equals("true", StringComparison.OrdinalIgnoreCase) || v.Equals("yes", StringComparison.OrdinalIgnoreCase));

    /// <inheritdoc />
    public void Dispose() => _downloader.Dispose();
}
