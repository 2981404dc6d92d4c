using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using FastRank.Gguf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastRank.Models;

/// <summary>Progress of one download.</summary>
/// <param name="Name">What is downloading (for display).</param>
/// <param name="BytesReceived">Bytes in the file so far (resumed bytes included).</param>
/// <param name="TotalBytes">The file's size, once the server said it.</param>
/// <param name="ResumedFrom">Bytes that were already there when this download started.</param>
/// <param name="BytesPerSecond">Average speed of this download's transfer.</param>
public sealed record DownloadProgress(string Name, long BytesReceived, long? TotalBytes, long ResumedFrom, double BytesPerSecond);

/// <summary>One download: the URL and where the file goes.</summary>
/// <param name="Url">The URL (redirects are followed).</param>
/// <param name="Destination">The final path; the file appears there only complete and verified.</param>
public sealed record DownloadRequest(Uri Url, string Destination)
{
    /// <summary>The SHA-256 the file must have (a catalog's pin); null: the one the server announces in <c>X-Linked-Etag</c>, if any.</summary>
    public string? ExpectedSha256 { get; init; }

    /// <summary>Whether the Hugging Face token may be sent (to the URL's own host only, never to a redirect's other host).</summary>
    public bool SendToken { get; init; }

    /// <summary>Name for progress and logs.</summary>
    public string? Name { get; init; }

    /// <summary>Validate the result as GGUF (on by default).</summary>
    public bool ValidateGguf { get; init; } = true;
}

/// <summary>What a download did.</summary>
/// <param name="Path">The file.</param>
/// <param name="Bytes">Its size.</param>
/// <param name="Sha256">Its SHA-256 (null when it was already there and nothing was downloaded).</param>
/// <param name="ChecksumSource"><c>catalog</c>, <c>x-linked-etag</c>, <c>none</c>, or <c>cached</c>.</param>
/// <param name="Downloaded">False when the file was already there (or another caller downloaded it meanwhile).</param>
/// <param name="ResumedFrom">Bytes of an earlier partial download that were kept.</param>
/// <param name="Attempts">Attempts made (retries after dropped connections or stalls count).</param>
/// <param name="Elapsed">Time taken.</param>
public sealed record DownloadResult(string Path, long Bytes, string? Sha256, string ChecksumSource, bool Downloaded, long ResumedFrom, int Attempts, TimeSpan Elapsed)
{
    /// <summary>Bytes transferred per second in this download (resumed bytes excluded).</summary>
    public double BytesPerSecond => Elapsed.TotalSeconds > 0 ? (Bytes - ResumedFrom) / Elapsed.TotalSeconds : 0;
}

/// <summary>Settings of a <see cref="ModelDownloader"/>.</summary>
public sealed record ModelDownloaderOptions
{
    /// <summary>Hugging Face access token, sent as <c>Authorization: Bearer</c> to Hugging Face hosts only; never logged.</summary>
    public string? HuggingFaceToken { get; init; }

    /// <summary>A download that receives nothing for this long fails (and is retried).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time to open a TCP/TLS connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Attempts per download: a dropped connection or a stall resumes from the partial file.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>Delay before the first retry; doubled for each further one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait for another process that downloads the same file.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>Redirects followed per request.</summary>
    public int MaxRedirects { get; init; } = 10;

    /// <summary>Where the downloader logs (start, resume, retries, result; never the token).</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>
/// Downloads model files: resumable (HTTP Range on a <c>.partial</c> file, a server that ignores the
/// range is handled), verified (SHA-256 against the catalog's pin or Hugging Face's <c>X-Linked-Etag</c>),
/// validated as GGUF, moved into place atomically, one download per file across threads and processes
/// (a per-file semaphore and a <c>.lock</c> file held with <see cref="FileShare.None"/>), with a stall
/// timeout and retries.
/// </summary>
public sealed class ModelDownloader : IDisposable
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private readonly HttpClient _http;
    private readonly ModelDownloaderOptions _options;
    private readonly ILogger _logger;

    /// <summary>Creates a downloader with its own HTTP connection pool.</summary>
    public ModelDownloader(ModelDownloaderOptions? options = null)
    {
        _options = options ?? new ModelDownloaderOptions();
        if (_options.MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxAttempts must be at least 1");
        if (_options.StallTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "StallTimeout must be positive");
        _logger = _options.LoggerFactory?.CreateLogger<ModelDownloader>() ?? (ILogger)NullLogger.Instance;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // redirects are followed by hand: Hugging Face's checksum is on the redirect, and the token must not follow it to another host
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = _options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseCookies = false,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("FastRank", typeof(ModelDownloader).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    /// <summary>Downloads <paramref name="request"/>; returns at once when the destination exists.</summary>
    /// <exception cref="ModelNotFoundOnServerException">404.</exception>
    /// <exception cref="ModelAccessDeniedException">401 or 403.</exception>
    /// <exception cref="NetworkUnavailableException">No network, no DNS, connection refused.</exception>
    /// <exception cref="DownloadTimeoutException">The server stalled on every attempt.</exception>
    /// <exception cref="ChecksumMismatchException">The file's SHA-256 is wrong (it was deleted).</exception>
    /// <exception cref="ModelDownloadException">Any other failure (server errors after retries, an invalid GGUF file).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the partial file is kept for a later resume.</exception>
    public async Task<DownloadResult> DownloadAsync(DownloadRequest request, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        string dest = Path.GetFullPath(request.Destination);
        var sw = Stopwatch.StartNew();
        if (File.Exists(dest)) return Existing(dest, sw);
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        var gate = Gates.GetOrAdd(dest, static _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var fileLock = await AcquireFileLockAsync(dest + ModelCache.LockSuffix, request.Name ?? Path.GetFileName(dest), ct).ConfigureAwait(false);
            if (File.Exists(dest)) return Existing(dest, sw); // another thread or process finished it while we waited
            return await DownloadLockedAsync(request, dest, progress, sw, ct).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private static DownloadResult Existing(string dest, Stopwatch sw) =>
        new(dest, new FileInfo(dest).Length, ModelCache.ReadMetadata(dest)?.Sha256, "cached", Downloaded: false, 0, 0, sw.Elapsed);

    private async Task<DownloadResult> DownloadLockedAsync(DownloadRequest request, string dest, IProgress<DownloadProgress>? progress, Stopwatch sw, CancellationToken ct)
    {
        string partialPath = dest + ModelCache.PartialSuffix;
        string name = request.Name ?? Path.GetFileName(dest);
        string url = Redact(request.Url);
        using var state = new TransferState(partialPath, ReadPartialIdentity(partialPath, request.Url));
        long resumedFrom = state.Length;
        if (resumedFrom > 0) _logger.LogInformation("Resuming {Name} from {Bytes} bytes ({Url})", name, resumedFrom, url);
        else _logger.LogInformation("Downloading {Name} from {Url}", name, url);

        int attempt = 0;
        while (true)
        {
            attempt++;
            try
            {
                await TransferAsync(request, state, name, resumedFrom, progress, sw, ct).ConfigureAwait(false);
                break;
            }
            catch (Exception ex) when (IsRetriable(ex, ct) && attempt < _options.MaxAttempts)
            {
                var delay = _options.RetryDelay * Math.Pow(2, attempt - 1);
                _logger.LogWarning("Download of {Name} interrupted after {Bytes} bytes ({Error}); retry {Attempt} of {Max} in {Delay:F1} s",
                    name, state.Length, ex.Message, attempt, _options.MaxAttempts - 1, delay.TotalSeconds);
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (PartialFileException ex)
            {
                // Disk full, quota, a read-only or vanished cache: retrying would fail alike. What reached the disk is
                // kept; the next run re-reads (and re-hashes) it from the disk, so bytes lost in a failed write are fetched again.
                throw new ModelDownloadException($"could not write {partialPath}: {ex.InnerException?.Message}" +
                    $"{(ex.DiskFull ? " (the disk is full: free some space)" : "")}; the bytes written so far are kept there, run again to resume", url, null, ex);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException && !ct.IsCancellationRequested)
            {
                throw new ModelDownloadException($"download of {url} failed after {attempt} attempt(s): {ex.Message}; " +
                    $"{state.Length} bytes are kept in {partialPath}, run again to resume", url, null, ex);
            }
        }

        string sha;
        try
        {
            sha = state.Finish();
        }
        catch (PartialFileException ex)
        {
            throw new ModelDownloadException($"could not write {partialPath}: {ex.InnerException?.Message}" +
                $"{(ex.DiskFull ? " (the disk is full: free some space)" : "")}; the bytes written so far are kept there, run again to resume", url, null, ex);
        }
        long length = state.Length;
        state.Dispose();
        string? expected = request.ExpectedSha256?.ToLowerInvariant() ?? state.LinkedSha256;
        string checksumSource = request.ExpectedSha256 is not null ? "catalog" : state.LinkedSha256 is not null ? "x-linked-etag" : "none";
        if (expected is not null && !string.Equals(expected, sha, StringComparison.Ordinal))
        {
            DeletePartial(partialPath);
            _logger.LogError("Checksum mismatch for {Name}: expected {Expected}, got {Actual}; deleted", name, expected, sha);
            throw new ChecksumMismatchException(url, expected, sha, checksumSource == "catalog" ? "pinned by the catalog" : "announced by the server");
        }
        if (expected is null) _logger.LogWarning("{Url} announced no SHA-256 and the catalog pins none: {Name} is unverified (SHA-256 {Sha})", url, name, sha);
        if (request.ValidateGguf)
        {
            try
            {
                GgufReader.Read(partialPath);
            }
            catch (GgufFormatException ex)
            {
                DeletePartial(partialPath);
                throw new ModelDownloadException($"{url} is not a valid GGUF file ({ex.Message}); the download was deleted", url, null, ex);
            }
        }
        File.Move(partialPath, dest, overwrite: false);
        DeleteQuietly(partialPath + ModelCache.MetaSuffix);
        try
        {
            ModelCache.WriteMetadata(dest, new CachedModelMetadata(url, sha, length, DateTimeOffset.UtcNow, checksumSource));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The model is in place and verified; without its record the cache cannot re-check it later, nothing worse.
            _logger.LogWarning("Could not record the metadata of {Name} beside {Path}: {Error}", name, dest, ex.Message);
        }
        var result = new DownloadResult(dest, length, sha, checksumSource, Downloaded: true, resumedFrom, attempt, sw.Elapsed);
        _logger.LogInformation("Downloaded {Name}: {MB:F1} MB in {Seconds:F1} s ({Rate:F1} MB/s), SHA-256 {Sha} ({Source})",
            name, length / 1e6, sw.Elapsed.TotalSeconds, result.BytesPerSecond / 1e6, sha, checksumSource);
        return result;
    }

    private async Task TransferAsync(DownloadRequest request, TransferState state, string name, long resumedFrom, IProgress<DownloadProgress>? progress, Stopwatch sw, CancellationToken ct)
    {
        var timeout = _options.StallTimeout;
        for (int restart = 0; ; restart++)
        {
            if (restart > 3) throw new ModelDownloadException($"{Redact(request.Url)}: the server's answers to range requests are inconsistent", Redact(request.Url));
            Uri url = request.Url;
            string origin = request.Url.Authority;
            long? linkedSize = null;
            for (int hop = 0; ; hop++)
            {
                if (hop > _options.MaxRedirects) throw new ModelDownloadException($"{Redact(request.Url)}: more than {_options.MaxRedirects} redirects", Redact(request.Url));
                using var message = new HttpRequestMessage(HttpMethod.Get, url);
                bool sendToken = request.SendToken && _options.HuggingFaceToken is { Length: > 0 } && url.Authority == origin;
                if (sendToken) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.HuggingFaceToken);
                long offset = state.Length;
                if (offset > 0) message.Headers.Range = new RangeHeaderValue(offset, null);

                using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
                stall.CancelAfter(timeout);
                HttpResponseMessage response;
                try
                {
                    response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new DownloadTimeoutException(Redact(url), timeout, state.Length);
                }
                catch (HttpRequestException ex) when (IsNoNetwork(ex))
                {
                    throw new NetworkUnavailableException(Redact(url), ex);
                }
                using var _ = response;
                string redacted = Redact(url);

                // Hugging Face announces the LFS file's SHA-256 and size on the redirect to its CDN (and on the final answer when there is none).
                if (ParseLinkedSha(response) is { } linkedSha)
                {
                    if (request.ExpectedSha256 is { } pinned && !string.Equals(pinned, linkedSha, StringComparison.OrdinalIgnoreCase))
                        throw new ModelDownloadException($"{redacted} now serves a file with SHA-256 {linkedSha}, not the {pinned.ToLowerInvariant()} the catalog pins; " +
                            "the repository changed: update the catalog entry (or use an hf:// reference)", redacted);
                    state.LinkedSha256 = linkedSha;
                }
                if (response.Headers.TryGetValues("X-Linked-Size", out var sizes) && long.TryParse(sizes.FirstOrDefault(), out long ls)) linkedSize = ls;

                int status = (int)response.StatusCode;
                if (status is 301 or 302 or 303 or 307 or 308)
                {
                    var location = response.Headers.Location ?? throw new ModelDownloadException($"{redacted}: redirect without a Location", redacted, response.StatusCode);
                    url = location.IsAbsoluteUri ? location : new Uri(url, location);
                    if (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)
                        throw new ModelDownloadException($"{redacted}: redirect to an unsupported scheme '{url.Scheme}'", redacted, response.StatusCode);
                    continue;
                }
                switch (response.StatusCode)
                {
                    case HttpStatusCode.NotFound:
                        throw new ModelNotFoundOnServerException(redacted);
                    case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                        throw new ModelAccessDeniedException(redacted, response.StatusCode, sendToken);
                    case HttpStatusCode.RequestedRangeNotSatisfiable:
                        _logger.LogWarning("{Url} refused to resume at byte {Offset}; starting over", redacted, offset);
                        state.Reset(null);
                        goto Restart;
                }
                if (status == 429 || status >= 500)
                    throw new ModelDownloadException($"{redacted} answered {status} {response.ReasonPhrase}", redacted, response.StatusCode);
                if (status is not 200 and not 206)
                    throw new ModelDownloadException($"{redacted} answered {status} {response.ReasonPhrase}", redacted, response.StatusCode);

                // What identifies the remote file; a partial file of another identity is thrown away.
                string identity = state.LinkedSha256 ?? response.Headers.ETag?.Tag ?? $"length:{linkedSize ?? response.Content.Headers.ContentRange?.Length ?? response.Content.Headers.ContentLength}";
                long? total;
                if (status == 206)
                {
                    var range = response.Content.Headers.ContentRange;
                    if (range?.From != offset || state.Identity is { } known && known != identity)
                    {
                        _logger.LogWarning("Partial download of {Name} does not match the server's file; starting over", name);
                        state.Reset(null);
                        goto Restart;
                    }
                    total = range.Length;
                }
                else
                {
                    if (offset > 0) _logger.LogWarning("{Url} ignored the range request; downloading {Name} from the start", redacted, name);
                    state.Reset(identity);
                    total = response.Content.Headers.ContentLength;
                }
                state.SaveIdentity(identity, request.Url);

                Stream body;
                try
                {
                    body = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new DownloadTimeoutException(redacted, timeout, state.Length);
                }
                await using (body.ConfigureAwait(false))
                {
                    await CopyAsync(body, state, stall, name, total, resumedFrom, progress, sw, redacted, ct).ConfigureAwait(false);
                }
                if (total is { } t && state.Length != t)
                    throw new IOException($"the connection closed after {state.Length} of {t} bytes");
                return;
            }
        Restart:;
        }
    }

    private async Task CopyAsync(Stream body, TransferState state, CancellationTokenSource stall, string name, long? total, long resumedFrom,
        IProgress<DownloadProgress>? progress, Stopwatch sw, string url, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
        try
        {
            long lastReport = 0;
            long transferStart = state.Length;
            var transferClock = Stopwatch.StartNew();
            while (true)
            {
                stall.CancelAfter(_options.StallTimeout);
                int n;
                try
                {
                    n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new DownloadTimeoutException(url, _options.StallTimeout, state.Length);
                }
                if (n == 0) break;
                state.Append(buffer.AsSpan(0, n));
                long now = sw.ElapsedMilliseconds;
                if (progress is not null && now - lastReport >= 100)
                {
                    lastReport = now;
                    progress.Report(new DownloadProgress(name, state.Length, total, resumedFrom, (state.Length - transferStart) / Math.Max(1e-3, transferClock.Elapsed.TotalSeconds)));
                }
            }
            progress?.Report(new DownloadProgress(name, state.Length, total, resumedFrom, (state.Length - transferStart) / Math.Max(1e-3, transferClock.Elapsed.TotalSeconds)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<FileStream> AcquireFileLockAsync(string path, string name, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        bool logged = false;
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive advisory lock (flock on Unix): another process, or another
                // FileStream in this one, cannot open the file until it is closed.
                var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                stream.SetLength(0);
                stream.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
                stream.Flush();
                return stream;
            }
            catch (IOException) when (sw.Elapsed < _options.LockTimeout)
            {
                if (!logged)
                {
                    _logger.LogInformation("Waiting for another download of {Name} to finish ({Lock})", name, path);
                    logged = true;
                }
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                throw new ModelDownloadException($"another process has been downloading {name} for more than {_options.LockTimeout} (lock {path})", path, null, ex);
            }
        }
    }

    private static bool IsRetriable(Exception ex, CancellationToken ct) => !ct.IsCancellationRequested && ex switch
    {
        PartialFileException => false,
        ModelNotFoundOnServerException or ModelAccessDeniedException or NetworkUnavailableException or ChecksumMismatchException => false,
        DownloadTimeoutException => true,
        ModelDownloadException d => d.StatusCode is { } s && ((int)s == 429 || (int)s >= 500),
        HttpRequestException or IOException => true,
        _ => false,
    };

    private static bool IsNoNetwork(HttpRequestException ex)
    {
        if (ex.HttpRequestError == HttpRequestError.NameResolutionError) return true;
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is SocketException s && s.SocketErrorCode is SocketError.HostNotFound or SocketError.NetworkUnreachable or SocketError.HostUnreachable
                or SocketError.ConnectionRefused or SocketError.TryAgain or SocketError.NoData or SocketError.NetworkDown or SocketError.AddressNotAvailable)
                return true;
        }
        return false;
    }

    private static string? ParseLinkedSha(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("X-Linked-Etag", out var values)) return null;
        string v = values.FirstOrDefault()?.Trim() ?? "";
        if (v.StartsWith("W/", StringComparison.Ordinal)) v = v[2..];
        v = v.Trim('"').ToLowerInvariant();
        return IsSha256(v) ? v : null; // a git blob's SHA-1 (non-LFS files) is no file checksum
    }

    /// <summary>Whether <paramref name="s"/> is 64 hexadecimal digits.</summary>
    public static bool IsSha256(string s) => s.Length == 64 && s.All(char.IsAsciiHexDigit);

    /// <summary>The URL without query, fragment or user info (signed CDN URLs carry credentials in their query).</summary>
    public static string Redact(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return url.IsAbsoluteUri ? $"{url.Scheme}://{url.Authority}{url.AbsolutePath}" : url.OriginalString.Split('?')[0];
    }

    private static PartialIdentity? ReadPartialIdentity(string partialPath, Uri url)
    {
        string meta = partialPath + ModelCache.MetaSuffix;
        if (!File.Exists(meta) || !File.Exists(partialPath)) return null;
        try
        {
            var id = JsonSerializer.Deserialize<PartialIdentity>(File.ReadAllText(meta), Json);
            return id is not null && id.Url == Redact(url) ? id : new PartialIdentity("", "");
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return new PartialIdentity("", "");
        }
    }

    private static void DeletePartial(string partialPath)
    {
        DeleteQuietly(partialPath);
        DeleteQuietly(partialPath + ModelCache.MetaSuffix);
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private sealed record PartialIdentity(string Url, string Identity);

    /// <summary>The <c>.partial</c> file and the running SHA-256 of its bytes.</summary>
    private sealed class TransferState : IDisposable
    {
        private readonly string _path;
        private readonly FileStream _file;
        private IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private bool _disposed;

        public TransferState(string path, PartialIdentity? previous)
        {
            _path = path;
            _file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 20);
            Identity = previous?.Identity is { Length: > 0 } id ? id : null;
            if (Identity is null && _file.Length > 0) _file.SetLength(0); // bytes of unknown origin are not resumed
            byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int n;
                while ((n = _file.Read(buffer, 0, buffer.Length)) > 0) _hash.AppendData(buffer, 0, n);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            Length = _file.Length;
        }

        public long Length { get; private set; }

        public string? Identity { get; private set; }

        public string? LinkedSha256 { get; set; }

        public void Append(ReadOnlySpan<byte> data)
        {
            try
            {
                _file.Write(data);
            }
            catch (IOException ex)
            {
                throw new PartialFileException(ex);
            }
            _hash.AppendData(data);
            Length += data.Length;
        }

        public void Reset(string? identity)
        {
            _file.SetLength(0);
            _file.Position = 0;
            _hash.Dispose();
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Length = 0;
            Identity = identity;
        }

        public void SaveIdentity(string identity, Uri url)
        {
            if (Identity == identity && File.Exists(_path + ModelCache.MetaSuffix)) return;
            Identity = identity;
            File.WriteAllText(_path + ModelCache.MetaSuffix, JsonSerializer.Serialize(new PartialIdentity(Redact(url), identity), Json));
        }

        public string Finish()
        {
            try
            {
                _file.Flush(flushToDisk: true);
            }
            catch (IOException ex)
            {
                throw new PartialFileException(ex);
            }
            return Convert.ToHexStringLower(_hash.GetHashAndReset());
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            try
            {
                _file.Dispose();
            }
            catch (IOException)
            {
                // A buffered write that cannot reach the disk (disk full): the next run hashes what did.
            }
            _hash.Dispose();
        }
    }

    /// <summary>Writing the partial file failed (not the network): not retried.</summary>
    private sealed class PartialFileException(IOException inner) : IOException(inner.Message, inner)
    {
        /// <summary>ENOSPC or EDQUOT (28 and 122 on Linux, whose errno .NET keeps as the HResult).</summary>
        public bool DiskFull => inner.HResult is 28 or 122 || inner.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)
            || inner.Message.Contains("quota", StringComparison.OrdinalIgnoreCase);
    }
}
