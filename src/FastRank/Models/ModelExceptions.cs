using System.Net;

namespace FastRank.Models;

/// <summary>A model catalog file is not valid JSON or breaks the catalog's rules.</summary>
public sealed class CatalogFormatException(string message, Exception? inner = null) : FastRankException(message, inner);

/// <summary>A model reference is no existing file, catalog name, <c>hf://</c> reference or URL.</summary>
public sealed class UnknownModelException(string reference, IReadOnlyList<string> knownNames)
    : FastRankException($"unknown model '{reference}': not an existing file, a catalog name ({string.Join(", ", knownNames)}), an hf://owner/repo/file.gguf reference or an https:// URL")
{
    /// <summary>The reference as given.</summary>
    public string Reference { get; } = reference;

    /// <summary>The catalog's names.</summary>
    public IReadOnlyList<string> KnownNames { get; } = knownNames;
}

/// <summary>Offline use (FASTRANK_OFFLINE or HF_HUB_OFFLINE set, or the option) asked for a model that is not in the cache.</summary>
public sealed class ModelNotCachedException(string reference, string expectedPath)
    : FastRankException($"model '{reference}' is not in the cache ({expectedPath}) and downloads are off (offline mode); " +
        $"run 'fastrank models pull {reference}' on a machine with network access, or pass a local file")
{
    /// <summary>The reference as given.</summary>
    public string Reference { get; } = reference;

    /// <summary>Where the cached file would be.</summary>
    public string ExpectedPath { get; } = expectedPath;
}

/// <summary>
/// Offline use found the cached file damaged (its size, or its SHA-256 after a change, differs from what was
/// downloaded). Online, the resolver fetches it again instead.
/// </summary>
public sealed class CachedModelCorruptException(string reference, string path, string damage)
    : FastRankException($"the cached file of model '{reference}' ({path}) is damaged: {damage}; " +
        $"run 'fastrank models pull {reference}' with network access to fetch it again")
{
    /// <summary>The reference as given.</summary>
    public string Reference { get; } = reference;

    /// <summary>The damaged file.</summary>
    public string Path { get; } = path;

    /// <summary>What is wrong with it.</summary>
    public string Damage { get; } = damage;
}

/// <summary>The model cache folder (or a folder in it) cannot be read or searched (permissions).</summary>
public sealed class ModelCacheAccessException(string directory, string problem)
    : FastRankException($"the model cache {directory} cannot be used: {problem}; fix its permissions, or choose another folder " +
        $"with --cache-dir or {ModelCache.CacheVariable}")
{
    /// <summary>The cache's root folder.</summary>
    public string Directory { get; } = directory;
}

/// <summary>A download failed. Subclasses say why; the URL never carries query strings or tokens.</summary>
public class ModelDownloadException : FastRankException
{
    /// <summary>Creates the exception.</summary>
    public ModelDownloadException(string message, string url, HttpStatusCode? status = null, Exception? inner = null) : base(message, inner)
    {
        Url = url;
        StatusCode = status;
    }

    /// <summary>The URL that failed (scheme, host and path only).</summary>
    public string Url { get; }

    /// <summary>The HTTP status, when the server answered.</summary>
    public HttpStatusCode? StatusCode { get; }
}

/// <summary>The server answered 404: no such repository, revision or file.</summary>
public sealed class ModelNotFoundOnServerException(string url)
    : ModelDownloadException($"not found (404): {url}; check the repository and file name", url, HttpStatusCode.NotFound);

/// <summary>The server answered 401 or 403: a private or gated repository, a bad token, or (on Hugging Face, without a token) a repository that does not exist.</summary>
public sealed class ModelAccessDeniedException(string url, HttpStatusCode status, bool sentToken)
    : ModelDownloadException(sentToken
        ? $"access denied ({(int)status}) to {url}: the HF_TOKEN was refused or has no access (gated models need their licence accepted on the model page)"
        : $"access denied ({(int)status}) to {url}: the repository is private or gated, or does not exist; set HF_TOKEN to a Hugging Face access token",
        url, status);

/// <summary>The server could not be reached: no network, no DNS, connection refused.</summary>
public sealed class NetworkUnavailableException(string url, Exception? inner)
    : ModelDownloadException($"cannot reach {new Uri(url).Host} to download {url} ({inner?.Message ?? "no network"}); " +
        "models already in the cache work offline (FASTRANK_OFFLINE=1 skips the network entirely)", url, null, inner);

/// <summary>The server stopped sending (no byte within the stall timeout) or did not answer in time.</summary>
public sealed class DownloadTimeoutException(string url, TimeSpan timeout, long received)
    : ModelDownloadException($"download of {url} stalled: nothing received for {timeout.TotalSeconds:0.#} s after {received} bytes " +
        "(the partial file is kept; run the command again to resume)", url)
{
    /// <summary>The stall timeout that expired.</summary>
    public TimeSpan Timeout { get; } = timeout;
}

/// <summary>The downloaded file's SHA-256 is not the one the catalog or the server announced; the file was deleted.</summary>
public sealed class ChecksumMismatchException(string url, string expected, string actual, string expectedSource)
    : ModelDownloadException($"checksum mismatch for {url}: expected SHA-256 {expected} ({expectedSource}), got {actual}; the download was deleted", url)
{
    /// <summary>The expected SHA-256 (lower-case hex).</summary>
    public string Expected { get; } = expected;

    /// <summary>The SHA-256 of what arrived.</summary>
    public string Actual { get; } = actual;
}

/// <summary>The named model is not registered in the pool.</summary>
public sealed class ModelNotRegisteredException(string name, IReadOnlyList<string> registered)
    : FastRankException($"no model named '{name}' in the pool (registered: {(registered.Count == 0 ? "none" : string.Join(", ", registered))})")
{
    /// <summary>The name asked for.</summary>
    public string Name { get; } = name;
}

/// <summary>A model cannot be loaded within the pool's memory budget (it is larger than the budget, or pinned or busy models leave no room).</summary>
public sealed class PoolBudgetExceededException(string message) : FastRankException(message);
