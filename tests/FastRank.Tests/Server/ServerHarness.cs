using System.Net.Http.Headers;
using FastRank.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace FastRank.Tests.Server;

/// <summary>A real <c>fastrank serve</c> application on loopback (Kestrel, port 0) over the synthetic tiny model.</summary>
public sealed class ServerHarness : IAsyncDisposable
{
    public const string ApiKey = "test-api-key";
    public const string AdminKey = "test-admin-key";

    private ServerHarness(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        Client = NewClient(ApiKey);
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    /// <summary>A client with the API key.</summary>
    public HttpClient Client { get; }

    internal RerankService Service => App.Services.GetRequiredService<RerankService>();

    public HttpClient NewClient(string? key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>Starts a server (tiny model as <c>tiny</c>, one thread) with <paramref name="settings"/> over the defaults, and waits until it is ready.</summary>
    public static async Task<ServerHarness> StartAsync(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["FastRank:Port"] = "0",
            ["FastRank:Models:tiny"] = TestModels.Tiny,
            ["FastRank:Threads"] = "1",
            ["FastRank:ApiKey"] = ApiKey,
            ["FastRank:AdminKey"] = AdminKey,
            ["FastRank:CacheDirectory"] = TestModels.TempPath("cache"),
            ["FastRank:Offline"] = "true",
            ["FastRank:MaxDocuments"] = "2000",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) all[k] = v;
        var app = FastRankServer.Build(all);
        await app.StartAsync();
        var harness = new ServerHarness(app, FastRankServer.Addresses(app)[0]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await harness.Client.GetAsync("/health/ready")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the server did not become ready");
            await Task.Delay(20);
        }
        return harness;
    }

    /// <summary>Waits until <paramref name="inFlight"/> requests are admitted (to line up overload and cancellation cases).</summary>
    public async Task WaitForInFlightAsync(int inFlight)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Service.InFlight != inFlight)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"in flight: {Service.InFlight}, expected {inFlight}");
            await Task.Delay(1);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>One server shared by the tests of a class.</summary>
public sealed class SharedServer : IAsyncLifetime
{
    public ServerHarness Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await ServerHarness.StartAsync(new Dictionary<string, string?>
    {
        ["FastRank:MaxDocuments"] = "64",
        ["FastRank:MaxRequestBytes"] = "65536",
    });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
