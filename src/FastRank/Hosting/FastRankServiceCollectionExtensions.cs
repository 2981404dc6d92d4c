using FastRank.Models;
using FastRank.Ranking;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace FastRank.Hosting;

/// <summary>One model registered by <see cref="FastRankOptions.AddModel"/>.</summary>
/// <param name="Name">The pool name.</param>
/// <param name="Reference">A path, catalog name, hf:// reference or URL.</param>
/// <param name="Options">Its reranker options (null: <see cref="FastRankOptions.RerankerOptions"/> and the catalog's settings).</param>
/// <param name="Pinned">Never evicted.</param>
public sealed record FastRankModelRegistration(string Name, string Reference, RerankerOptions? Options, bool Pinned);

/// <summary>Options of <see cref="FastRankServiceCollectionExtensions.AddFastRank"/>.</summary>
public sealed class FastRankOptions
{
    private readonly List<FastRankModelRegistration> _models = [];

    /// <summary>The download cache; null: <c>FASTRANK_CACHE</c>, else <c>~/.cache/fastrank</c>.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>A user catalog merged into the built-in one; null: <c>FASTRANK_CATALOG</c>, if set.</summary>
    public string? CatalogPath { get; set; }

    /// <summary>Never download; null: from <c>FASTRANK_OFFLINE</c> / <c>HF_HUB_OFFLINE</c>.</summary>
    public bool? Offline { get; set; }

    /// <summary>Hugging Face token; null: <c>HF_TOKEN</c> or the Hugging Face CLI's token file.</summary>
    public string? HuggingFaceToken { get; set; }

    /// <summary>Hugging Face endpoint (a mirror); null: <c>HF_ENDPOINT</c>, else https://huggingface.co.</summary>
    public Uri? HuggingFaceEndpoint { get; set; }

    /// <summary>Download timeouts and retries.</summary>
    public ModelDownloaderOptions Download { get; set; } = new();

    /// <summary>The pool's memory budget in bytes; null: half of the available memory.</summary>
    public long? MemoryBudgetBytes { get; set; }

    /// <summary>Warm each model up after loading (on by default).</summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>Reranker options of models registered without their own.</summary>
    public RerankerOptions RerankerOptions { get; set; } = new();

    /// <summary>The models to register (by <see cref="AddModel"/>). When none is added, the catalog's default model is registered as <c>default</c>.</summary>
    public IReadOnlyList<FastRankModelRegistration> Models => _models;

    /// <summary>Registers <paramref name="reference"/> under <paramref name="name"/>: loaded on first use; a pinned model is never evicted.</summary>
    public FastRankOptions AddModel(string name, string reference, RerankerOptions? options = null, bool pinned = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        if (_models.Any(m => m.Name == name)) throw new ArgumentException($"model '{name}' is added twice", nameof(name));
        _models.Add(new FastRankModelRegistration(name, reference, options, pinned));
        return this;
    }
}

/// <summary>Registers FastRank in a <see cref="IServiceCollection"/>.</summary>
public static class FastRankServiceCollectionExtensions
{
    /// <summary>The name the catalog's default model gets when no model is added.</summary>
    public const string DefaultModelName = "default";

    /// <summary>
    /// Adds <see cref="ModelResolver"/> and <see cref="ModelPool"/> as singletons (the container disposes
    /// them), configured by <paramref name="configure"/>; an <see cref="ILoggerFactory"/> in the container
    /// is used for their logs.
    /// </summary>
    /// <example>
    /// <code>
    /// services.AddLogging();
    /// services.AddFastRank(o =>
    /// {
    ///     o.MemoryBudgetBytes = 4L &lt;&lt; 30;
    ///     o.AddModel("default", "qwen3-reranker-0.6b", pinned: true);
    ///     o.AddModel("listwise", "llama-3.2-1b-instruct");
    /// });
    /// // later: var pool = provider.GetRequiredService&lt;ModelPool&gt;();
    /// //        var result = await pool.RerankAsync("default", query, documents);
    /// </code>
    /// </example>
    public static IServiceCollection AddFastRank(this IServiceCollection services, Action<FastRankOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new FastRankOptions();
        configure?.Invoke(options);
        services.TryAddSingleton(options);
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<FastRankOptions>();
            return new ModelResolver(new ModelResolverOptions
            {
                CacheDirectory = o.CacheDirectory,
                CatalogPath = o.CatalogPath,
                Offline = o.Offline,
                HuggingFaceToken = o.HuggingFaceToken,
                HuggingFaceEndpoint = o.HuggingFaceEndpoint,
                Download = o.Download,
                LoggerFactory = sp.GetService<ILoggerFactory>(),
            });
        });
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<FastRankOptions>();
            var logging = sp.GetService<ILoggerFactory>();
            var poolOptions = new ModelPoolOptions
            {
                WarmUp = o.WarmUp,
                RerankerOptions = o.RerankerOptions.LoggerFactory is null && logging is not null ? o.RerankerOptions with { LoggerFactory = logging } : o.RerankerOptions,
                LoggerFactory = logging,
            };
            if (o.MemoryBudgetBytes is { } budget) poolOptions = poolOptions with { MemoryBudgetBytes = budget };
            var pool = new ModelPool(sp.GetRequiredService<ModelResolver>(), poolOptions);
            if (o.Models.Count == 0) pool.Register(DefaultModelName, pool.Resolver.Catalog.Default.Name);
            foreach (var m in o.Models) pool.Register(m.Name, m.Reference, m.Options, m.Pinned);
            return pool;
        });
        return services;
    }
}
