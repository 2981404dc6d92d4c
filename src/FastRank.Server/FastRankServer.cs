using System.Net;
using FastRank.Hosting;
using FastRank.Models;
using FastRank.Ranking;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FastRank.Server;

/// <summary>
/// Builds the <c>fastrank serve</c> web application: Kestrel on <see cref="ServerOptions.Host"/> and
/// <see cref="ServerOptions.Port"/>, the rerank APIs over a <see cref="ModelPool"/>, health, readiness,
/// models, metrics, OpenAPI and the admin endpoints.
/// </summary>
/// <example>
/// <code>
/// var app = FastRankServer.Build(new Dictionary&lt;string, string?&gt; { ["FastRank:Models:default"] = "model.gguf" });
/// await app.RunAsync();
/// </code>
/// </example>
public static class FastRankServer
{
    /// <summary>
    /// Creates the application. Configuration comes, lowest precedence first, from appsettings.json (in the
    /// current directory), the environment (<c>FASTRANK__PORT</c>, <c>FASTRANK__MODELS__default</c>, ...) and
    /// <paramref name="settings"/> (the command-line flags, as keys such as <c>FastRank:Port</c>).
    /// </summary>
    /// <param name="settings">Configuration keys that override the others.</param>
    /// <param name="configure">A last hook on the builder (tests add logging providers here).</param>
    /// <exception cref="ArgumentException">A setting is invalid (the message names it).</exception>
    public static WebApplication Build(IEnumerable<KeyValuePair<string, string?>>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = Directory.GetCurrentDirectory() });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        var section = builder.Configuration.GetSection(ServerOptions.Section);
        var options = section.Get<ServerOptions>() ?? new ServerOptions();
        options.Validate();
        builder.Services.AddOptions<ServerOptions>().Bind(section).Validate(o =>
        {
            o.Validate();
            return true;
        }).ValidateOnStart();

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeout));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.AddServerHeader = false;
            if (IPAddress.TryParse(options.Host, out var ip)) k.Listen(ip, options.Port);
            else if (string.Equals(options.Host, "localhost", StringComparison.OrdinalIgnoreCase)) k.ListenLocalhost(options.Port);
            else throw new ArgumentException($"FastRank:Host (--host): '{options.Host}' is not an IP address or localhost");
        });

        builder.Services.AddSingleton(sp => PoolOptions(sp.GetRequiredService<IOptions<ServerOptions>>().Value));
        builder.Services.AddFastRank();
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<RerankService>();
        builder.Services.AddHostedService<DefaultModelLoader>();
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "FastRank";
            document.Info.Description = "Rerank server: Cohere v1/v2, Jina, llama-server and TEI rerank APIs over local GGUF models.";
            return Task.CompletedTask;
        }));
        configure?.Invoke(builder);

        var app = builder.Build();
        app.Use(RequestMiddleware.InvokeAsync);
        Endpoints.Map(app, options);
        return app;
    }

    /// <summary>The addresses the started server listens on (with port 0, the port the system chose).</summary>
    public static IReadOnlyList<Uri> Addresses(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var feature = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>();
        return feature is null ? [] : [.. feature.Addresses.Select(a => new Uri(a))];
    }

    /// <summary>The pool settings of the server's options: every model registered, the default one pinned.</summary>
    private static FastRankOptions PoolOptions(ServerOptions o)
    {
        var rerankerOptions = new RerankerOptions { MaxDocumentTokens = o.MaxDocumentTokens, Threads = o.Threads };
        var f = new FastRankOptions
        {
            CacheDirectory = o.CacheDirectory,
            Offline = o.Offline,
            MemoryBudgetBytes = o.MemoryBudgetBytes,
            RerankerOptions = rerankerOptions,
        };
        // An explicit method beats a catalog model's preferred one (a model registered with options keeps them).
        var perModel = o.ParsedMethod is { } m ? rerankerOptions with { Method = m } : null;
        if (o.Models.Count == 0)
            f.AddModel(FastRankServiceCollectionExtensions.DefaultModelName, ModelCatalog.LoadDefault().Default.Name, perModel, pinned: true);
        foreach (var (name, reference) in o.Models) f.AddModel(name, reference, perModel, pinned: name == o.DefaultModel);
        return f;
    }
}

/// <summary>Loads (and pins) the default model at start, so readiness turns true when it can serve.</summary>
internal sealed class DefaultModelLoader(ModelPool pool, IOptions<ServerOptions> options, ILogger<DefaultModelLoader> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string name = options.Value.DefaultModel;
        try
        {
            pool.SetPinned(name, true);
            await pool.LoadAsync(name, stoppingToken).ConfigureAwait(false);
            logger.LogInformation("Default model {Name} loaded: ready", name);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Could not load the default model {Name}; not ready (requests naming it will try again)", name);
        }
    }
}
