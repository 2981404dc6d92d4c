using System.Diagnostics;
using System.Security.Cryptography;
using FastRank.Models;
using Xunit.Abstractions;

namespace FastRank.Tests.Models;

/// <summary>Downloads over real HTTP on loopback, of a real synthetic GGUF file.</summary>
public sealed class DownloadTests(ITestOutputHelper output)
{
    private static readonly Lazy<byte[]> Model = new(() => File.ReadAllBytes(TestModels.Tiny));

    private static byte[] Bytes => Model.Value;

    private static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    private static ModelDownloaderOptions Fast(CapturingLoggerFactory? log = null) => new()
    {
        RetryDelay = TimeSpan.FromMilliseconds(20),
        StallTimeout = TimeSpan.FromSeconds(5),
        LoggerFactory = log,
    };

    private static ModelResolver Resolver(LoopbackHttpServer server, string cache, ModelDownloaderOptions? download = null, string? token = null,
        bool offline = false, ModelCatalog? catalog = null, CapturingLoggerFactory? log = null) =>
        new(new ModelResolverOptions
        {
            CacheDirectory = cache,
            HuggingFaceEndpoint = server.Url("/"),
            HuggingFaceToken = token ?? "",
            Offline = offline,
            Download = download ?? Fast(log),
            Catalog = catalog ?? ModelCatalog.Builtin,
            LoggerFactory = log,
        });

    [Fact]
    public async Task FullDownload_VerifiesAgainstXLinkedEtag_ValidatesGguf_AndRecordsMetadata()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes) });
        string cache = TestModels.TempPath("cache");
        using var resolver = Resolver(server, cache);
        var progress = new List<DownloadProgress>();
        var resolved = await resolver.ResolveAsync("hf://org/repo/tiny.gguf", new SyncProgress(progress.Add));

        Assert.Equal(Path.Combine(cache, "hf", "org", "repo", "tiny.gguf"), resolved.Path);
        Assert.Equal(Bytes, await File.ReadAllBytesAsync(resolved.Path));
        var d = resolved.Download!;
        Assert.True(d.Downloaded);
        Assert.Equal("x-linked-etag", d.ChecksumSource);
        Assert.Equal(Sha(Bytes), d.Sha256);
        Assert.Equal(Sha(Bytes), ModelCache.ReadMetadata(resolved.Path)!.Sha256);
        Assert.False(File.Exists(resolved.Path + ".partial"));
        Assert.NotEmpty(progress);
        Assert.Equal(Bytes.Length, progress[^1].BytesReceived);
        Assert.Equal(Bytes.Length, progress[^1].TotalBytes);
        output.WriteLine($"loopback download: {Bytes.Length / 1e6:F1} MB in {d.Elapsed.TotalMilliseconds:F0} ms = {d.BytesPerSecond / 1e6:F0} MB/s (hash and GGUF validation included)");

        // A second resolve is served from the cache without any request.
        int before = server.Requests.Count;
        var again = await resolver.ResolveAsync("hf://org/repo/tiny.gguf");
        Assert.Null(again.Download);
        Assert.Equal(before, server.Requests.Count);
    }

    [Fact]
    public async Task DroppedConnection_IsResumedWithRange_AndTheFileIsIdentical()
    {
        await using var server = new LoopbackHttpServer();
        long half = Bytes.Length / 2;
        var file = server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes), DropAfterBytes = half });
        using var resolver = Resolver(server, TestModels.TempPath("cache"));
        var resolved = await resolver.ResolveAsync("hf://org/repo/tiny.gguf");

        Assert.Equal(Bytes, await File.ReadAllBytesAsync(resolved.Path));
        Assert.Equal(2, resolved.Download!.Attempts);
        var requests = server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Null(requests[0].Range);
        Assert.NotNull(requests[1].Range);
        long resumedAt = long.Parse(requests[1].Range!["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(resumedAt, 1, half); // resumed where the data stopped (what reached the file), not from 0
        Assert.Equal(1, file.FullBodies);
    }

    [Fact]
    public async Task InterruptedDownload_KeepsThePartialFile_AndTheNextCallResumesIt()
    {
        await using var server = new LoopbackHttpServer();
        long third = Bytes.Length / 3;
        server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes), DropAfterBytes = third });
        string cache = TestModels.TempPath("cache");
        using (var once = Resolver(server, cache, Fast() with { MaxAttempts = 1 }))
        {
            var ex = await Assert.ThrowsAsync<ModelDownloadException>(() => once.ResolveAsync("hf://org/repo/tiny.gguf"));
            Assert.Contains("resume", ex.Message, StringComparison.Ordinal);
        }
        string partial = Path.Combine(cache, "hf", "org", "repo", "tiny.gguf.partial");
        Assert.True(File.Exists(partial));
        long kept = new FileInfo(partial).Length;
        Assert.InRange(kept, 1, third);

        using var resolver = Resolver(server, cache);
        var resolved = await resolver.ResolveAsync("hf://org/repo/tiny.gguf");
        Assert.Equal(kept, resolved.Download!.ResumedFrom);
        Assert.Equal(Bytes, await File.ReadAllBytesAsync(resolved.Path));
        Assert.Equal($"bytes={kept}-", server.Requests.Last().Range);
    }

    [Fact]
    public async Task ServerThatIgnoresRange_RestartsFromZero_AndStillProducesTheRightFile()
    {
        await using var server = new LoopbackHttpServer();
        var file = server.Serve("/org/repo/resolve/main/tiny.gguf",
            new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes), DropAfterBytes = Bytes.Length / 2, IgnoreRange = true });
        using var resolver = Resolver(server, TestModels.TempPath("cache"));
        var resolved = await resolver.ResolveAsync("hf://org/repo/tiny.gguf");
        Assert.Equal(Bytes, await File.ReadAllBytesAsync(resolved.Path));
        Assert.NotNull(server.Requests.Last().Range); // asked to resume ...
        Assert.Equal(2, file.FullBodies);              // ... got the whole file again, and coped
    }

    [Fact]
    public async Task ChecksumMismatch_DeletesTheDownload_AndSaysWhy()
    {
        await using var server = new LoopbackHttpServer();
        string wrong = Sha([1, 2, 3]);
        server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = wrong });
        string cache = TestModels.TempPath("cache");
        using var resolver = Resolver(server, cache);
        var ex = await Assert.ThrowsAsync<ChecksumMismatchException>(() => resolver.ResolveAsync("hf://org/repo/tiny.gguf"));
        Assert.Equal(wrong, ex.Expected);
        Assert.Equal(Sha(Bytes), ex.Actual);
        Assert.Contains("deleted", ex.Message, StringComparison.Ordinal);
        string path = Path.Combine(cache, "hf", "org", "repo", "tiny.gguf");
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".partial"));
    }

    [Fact]
    public async Task CatalogPin_IsCheckedWhenTheServerAnnouncesNothing()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes });
        string wrong = Sha([9]);
        var catalog = Catalog(("pinned-wrong", wrong), ("pinned-right", Sha(Bytes)));
        string cache = TestModels.TempPath("cache");
        using var resolver = Resolver(server, cache, catalog: catalog);
        var ex = await Assert.ThrowsAsync<ChecksumMismatchException>(() => resolver.ResolveAsync("pinned-wrong"));
        Assert.Contains("catalog", ex.Message, StringComparison.Ordinal);

        var ok = await resolver.ResolveAsync("pinned-right");
        Assert.Equal("catalog", ok.Download!.ChecksumSource);
        Assert.Equal(Bytes, await File.ReadAllBytesAsync(ok.Path));
    }

    [Fact]
    public async Task CatalogPin_ThatTheServerContradicts_FailsBeforeTheBody()
    {
        await using var server = new LoopbackHttpServer();
        var file = server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes) });
        using var resolver = Resolver(server, TestModels.TempPath("cache"), catalog: Catalog(("pinned-old", Sha([7]))));
        var ex = await Assert.ThrowsAsync<ModelDownloadException>(() => resolver.ResolveAsync("pinned-old"));
        Assert.Contains("repository changed", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, file.Hits);
    }

    [Fact]
    public async Task NotFound_IsTyped()
    {
        await using var server = new LoopbackHttpServer();
        using var resolver = Resolver(server, TestModels.TempPath("cache"));
        var ex = await Assert.ThrowsAsync<ModelNotFoundOnServerException>(() => resolver.ResolveAsync("hf://org/missing/model.gguf"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, ex.StatusCode);
        Assert.Contains("/org/missing/resolve/main/model.gguf", ex.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests); // no retries of a 404
    }

    [Fact]
    public async Task Unauthorized_PointsAtHfToken()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/org/gated/resolve/main/m.gguf", new ServedFile { Status = 401 });
        using var resolver = Resolver(server, TestModels.TempPath("cache"));
        var ex = await Assert.ThrowsAsync<ModelAccessDeniedException>(() => resolver.ResolveAsync("hf://org/gated/m.gguf"));
        Assert.Contains("HF_TOKEN", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerErrors_AreRetried_ThenReported()
    {
        await using var server = new LoopbackHttpServer();
        var file = server.Serve("/org/repo/resolve/main/m.gguf", new ServedFile { Status = 503 });
        using var resolver = Resolver(server, TestModels.TempPath("cache"), Fast() with { MaxAttempts = 3 });
        var ex = await Assert.ThrowsAsync<ModelDownloadException>(() => resolver.ResolveAsync("hf://org/repo/m.gguf"));
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ex.StatusCode);
        Assert.Equal(3, file.Hits);
    }

    [Fact]
    public async Task StalledServer_TimesOut_WithATypedError()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, StallAfterBytes = 100_000 });
        using var resolver = Resolver(server, TestModels.TempPath("cache"), Fast() with { StallTimeout = TimeSpan.FromMilliseconds(500), MaxAttempts = 2 });
        var sw = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<DownloadTimeoutException>(() => resolver.ResolveAsync("hf://org/repo/tiny.gguf"));
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 15); // two attempts of 0.5 s each, not the server's 30 s
        // The server logs a request when its handler runs, which on a busy thread pool can come after the client gave
        // the second attempt up: wait for it (the request is in the socket either way).
        for (var waited = Stopwatch.StartNew(); server.Requests.Count < 2 && waited.Elapsed < TimeSpan.FromSeconds(10);) await Task.Delay(20);
        Assert.Equal(2, server.Requests.Count);
        Assert.Equal("bytes=100000-", server.Requests.Last().Range); // the retry resumed
        Assert.Contains("stalled", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrentPullsInOneProcess_DownloadOnce()
    {
        await using var server = new LoopbackHttpServer();
        var file = server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes), BytesPerSecond = 8_000_000 });
        string cache = TestModels.TempPath("cache");
        // Separate resolvers (and HTTP clients), as separate components of an application would have.
        var resolvers = Enumerable.Range(0, 6).Select(_ => Resolver(server, cache)).ToList();
        var results = await Task.WhenAll(resolvers.Select(r => Task.Run(() => r.ResolveAsync("hf://org/repo/tiny.gguf"))));
        foreach (var r in resolvers) r.Dispose();
        Assert.Equal(1, file.Hits);
        Assert.Single(results, r => r.Download is { Downloaded: true });
        Assert.All(results, r => Assert.Equal(results[0].Path, r.Path));
        Assert.Equal(Bytes, await File.ReadAllBytesAsync(results[0].Path));
    }

    [Fact]
    public async Task ConcurrentPullsAcrossProcesses_DownloadOnce()
    {
        // This process starts the download and the server holds its answer until two other processes
        // (the fastrank CLI) pulling the same model report that they wait for the lock; then it answers.
        await using var server = new LoopbackHttpServer();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var file = server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes), HoldUntil = release.Task });
        string cache = TestModels.TempPath("cache");
        using var resolver = Resolver(server, cache, Fast() with { StallTimeout = TimeSpan.FromSeconds(90) });
        var mine = resolver.ResolveAsync("hf://org/repo/tiny.gguf");
        var sw = Stopwatch.StartNew();
        while (server.Requests.IsEmpty && sw.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(10); // we hold the lock now

        string cli = typeof(FastRank.Cli.Cli).Assembly.Location;
        var children = new List<(Process Process, Task<string> Output, TaskCompletionSource Waiting)>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        for (int i = 0; i < 2; i++)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { cli, "models", "pull", "hf://org/repo/tiny.gguf", "--cache-dir", cache, "--verbose" }) psi.ArgumentList.Add(a);
            psi.Environment["HF_ENDPOINT"] = server.Url("/").ToString();
            psi.Environment["HF_TOKEN"] = "";
            var p = Process.Start(psi)!;
            var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            children.Add((p, ReadAllAsync(p, waiting, timeout.Token), waiting));
        }
        try
        {
            await Task.WhenAll(children.Select(c => c.Waiting.Task)).WaitAsync(timeout.Token);
        }
        finally
        {
            release.TrySetResult();
        }
        var result = await mine;
        foreach (var (p, text, _) in children)
        {
            await p.WaitForExitAsync(timeout.Token);
            string o = await text;
            Assert.True(p.ExitCode == 0, o);
            Assert.Contains("already cached", o, StringComparison.Ordinal);
            p.Dispose();
        }
        Assert.Equal(1, file.Hits);
        Assert.True(result.Download!.Downloaded);
        Assert.Equal(Bytes, await File.ReadAllBytesAsync(result.Path));

        static async Task<string> ReadAllAsync(Process p, TaskCompletionSource waiting, CancellationToken ct)
        {
            var sb = new System.Text.StringBuilder();
            var err = p.StandardError.ReadToEndAsync(ct);
            while (await p.StandardOutput.ReadLineAsync(ct) is { } line)
            {
                sb.AppendLine(line);
                if (line.Contains("Waiting for another download", StringComparison.Ordinal)) waiting.TrySetResult();
            }
            waiting.TrySetResult(); // exited without waiting: the assertions below say why
            return sb + await err;
        }
    }

    [Fact]
    public async Task HuggingFaceRedirect_UsesTheLinkedEtag_AndKeepsTheTokenOnTheOriginHost()
    {
        await using var server = new LoopbackHttpServer();
        var log = new CapturingLoggerFactory();
        const string token = "hf_secret_token_0123456789";
        server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile
        {
            RedirectTo = server.OtherHostUrl("/cdn/blob?X-Amz-Signature=sig_value_42").ToString(),
            LinkedEtag = Sha(Bytes),
            LinkedSize = Bytes.Length,
        });
        server.Serve("/cdn/blob", new ServedFile { Body = Bytes, ETag = "cdn-etag-not-a-sha" });
        using var resolver = Resolver(server, TestModels.TempPath("cache"), Fast(log), token: token, log: log);
        var resolved = await resolver.ResolveAsync("hf://org/repo/tiny.gguf");

        Assert.Equal(Bytes, await File.ReadAllBytesAsync(resolved.Path));
        Assert.Equal("x-linked-etag", resolved.Download!.ChecksumSource);
        var requests = server.Requests.ToArray();
        Assert.Equal($"Bearer {token}", requests[0].Authorization);
        Assert.StartsWith("localhost", requests[1].Host, StringComparison.Ordinal);
        Assert.Null(requests[1].Authorization);
        Assert.DoesNotContain(token, log.All, StringComparison.Ordinal);
        Assert.DoesNotContain("sig_value_42", log.All, StringComparison.Ordinal);
        Assert.Contains("Downloaded", log.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidGguf_IsRejected_AndDeleted()
    {
        await using var server = new LoopbackHttpServer();
        byte[] junk = new byte[4096];
        new Random(1).NextBytes(junk);
        server.Serve("/org/repo/resolve/main/junk.gguf", new ServedFile { Body = junk, LinkedEtag = Sha(junk) });
        string cache = TestModels.TempPath("cache");
        using var resolver = Resolver(server, cache);
        var ex = await Assert.ThrowsAsync<ModelDownloadException>(() => resolver.ResolveAsync("hf://org/repo/junk.gguf"));
        Assert.IsType<FastRank.Gguf.GgufFormatException>(ex.InnerException);
        Assert.False(File.Exists(Path.Combine(cache, "hf", "org", "repo", "junk.gguf")));
        Assert.False(File.Exists(Path.Combine(cache, "hf", "org", "repo", "junk.gguf.partial")));
    }

    [Fact]
    public async Task CachedModel_IsUsedOffline_AndWithoutNetwork()
    {
        string cache = TestModels.TempPath("cache");
        await using (var server = new LoopbackHttpServer())
        {
            server.Serve("/org/repo/resolve/main/tiny.gguf", new ServedFile { Body = Bytes, LinkedEtag = Sha(Bytes) });
            using var online = Resolver(server, cache);
            await online.ResolveAsync("hf://org/repo/tiny.gguf");
        }
        // The server is gone: offline mode and an online resolver with no server both use the cache.
        using var deadServer = new ModelResolver(new ModelResolverOptions { CacheDirectory = cache, HuggingFaceEndpoint = new Uri($"http://127.0.0.1:{FreePort()}/"), Offline = false });
        Assert.Equal(Bytes, await File.ReadAllBytesAsync((await deadServer.ResolveAsync("hf://org/repo/tiny.gguf")).Path));
        using var offline = new ModelResolver(new ModelResolverOptions { CacheDirectory = cache, Offline = true });
        Assert.Equal(Bytes, await File.ReadAllBytesAsync((await offline.ResolveAsync("hf://org/repo/tiny.gguf")).Path));

        // Not cached: offline says so; online without a server says the network is unreachable.
        var notCached = await Assert.ThrowsAsync<ModelNotCachedException>(() => offline.ResolveAsync("hf://org/repo/other.gguf"));
        Assert.Contains("fastrank models pull", notCached.Message, StringComparison.Ordinal);
        var noNet = await Assert.ThrowsAsync<NetworkUnavailableException>(() => deadServer.ResolveAsync("hf://org/repo/other.gguf"));
        Assert.Contains("cannot reach", noNet.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainUrl_IsCachedByUrl_AndNeverGetsTheToken()
    {
        await using var server = new LoopbackHttpServer();
        server.Serve("/files/model.gguf", new ServedFile { Body = Bytes });
        string cache = TestModels.TempPath("cache");
        using var resolver = new ModelResolver(new ModelResolverOptions
        {
            CacheDirectory = cache,
            HuggingFaceEndpoint = new Uri("https://huggingface.co"),
            HuggingFaceToken = "hf_must_not_leak",
            Download = Fast(),
            Catalog = ModelCatalog.Builtin,
        });
        var resolved = await resolver.ResolveAsync(server.Url("/files/model.gguf?download=true").ToString());
        Assert.StartsWith(Path.Combine(cache, "url", $"127.0.0.1_{server.Port}"), resolved.Path, StringComparison.Ordinal);
        Assert.Equal("model.gguf", Path.GetFileName(resolved.Path));
        Assert.Equal("none", resolved.Download!.ChecksumSource);
        Assert.Null(server.Requests.Single().Authorization);
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static ModelCatalog Catalog(params (string Name, string Sha)[] pinned)
    {
        string models = string.Join(",", pinned.Select(p =>
            $$"""{"name": "{{p.Name}}", "repo": "org/repo", "file": "tiny.gguf", "sha256": "{{p.Sha}}", "methods": [{"method": "pointwise"}]}"""));
        string json = $$"""{"version": 1, "models": [{{models}}]}""";
        return ModelCatalog.Parse(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)), "test catalog");
    }

    private sealed class SyncProgress(Action<DownloadProgress> a) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => a(value);
    }
}
