using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FastRank.Models;

/// <summary>What the cache records beside each downloaded model (<c>FILE.meta.json</c>).</summary>
/// <param name="Source">Where it came from (URL without query).</param>
/// <param name="Sha256">SHA-256 of the file, verified at download.</param>
/// <param name="SizeBytes">Its size.</param>
/// <param name="DownloadedUtc">When it was moved into place.</param>
/// <param name="ChecksumSource">What the checksum was checked against: <c>catalog</c>, <c>x-linked-etag</c> or <c>none</c>.</param>
public sealed record CachedModelMetadata(string Source, string Sha256, long SizeBytes, DateTimeOffset DownloadedUtc, string ChecksumSource);

/// <summary>One file in the cache.</summary>
/// <param name="Path">The file.</param>
/// <param name="SizeBytes">Its size (for a partial download, the bytes so far).</param>
/// <param name="Partial">Whether it is an unfinished download (<c>.partial</c>).</param>
/// <param name="Metadata">The recorded metadata, when present.</param>
public sealed record CachedModel(string Path, long SizeBytes, bool Partial, CachedModelMetadata? Metadata);

/// <summary>
/// The download cache: <c>hf/OWNER/REPO[@REVISION]/FILE</c> for Hugging Face files and
/// <c>url/HOST/HASH/FILE</c> for other URLs, under <c>~/.cache/fastrank</c> (or <c>$XDG_CACHE_HOME/fastrank</c>),
/// overridden by <c>FASTRANK_CACHE</c> or an explicit directory. Beside each file: <c>.meta.json</c>
/// (source and verified checksum), while downloading <c>.partial</c> (resumable) and <c>.lock</c>.
/// </summary>
public sealed class ModelCache
{
    /// <summary>The environment variable that moves the cache.</summary>
    public const string CacheVariable = "FASTRANK_CACHE";

    internal const string PartialSuffix = ".partial";
    internal const string MetaSuffix = ".meta.json";
    internal const string LockSuffix = ".lock";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    /// <summary>A cache in <paramref name="directory"/>, or in <see cref="DefaultDirectory()"/> when null.</summary>
    public ModelCache(string? directory = null)
    {
        Directory = Path.GetFullPath(string.IsNullOrWhiteSpace(directory) ? DefaultDirectory() : directory);
    }

    /// <summary>The cache's root directory.</summary>
    public string Directory { get; }

    /// <summary><c>FASTRANK_CACHE</c>, else <c>$XDG_CACHE_HOME/fastrank</c>, else <c>~/.cache/fastrank</c>.</summary>
    public static string DefaultDirectory() => DefaultDirectory(Environment.GetEnvironmentVariable);

    internal static string DefaultDirectory(Func<string, string?> env)
    {
        if (env(CacheVariable) is { Length: > 0 } explicitDir) return explicitDir;
        if (env("XDG_CACHE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "fastrank");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (string.IsNullOrEmpty(home)) home = env("HOME") ?? Path.GetTempPath();
        return Path.Combine(home, ".cache", "fastrank");
    }

    /// <summary>Where the cache keeps <paramref name="reference"/> (a local file is its own path).</summary>
    public string PathFor(ModelReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        switch (reference.Kind)
        {
            case ModelSourceKind.File:
                return reference.FilePath!;
            case ModelSourceKind.Url:
            {
                var url = reference.Url!;
                string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url.AbsoluteUri)))[..16];
                string name = Path.GetFileName(Uri.UnescapeDataString(url.AbsolutePath));
                name = SanitizeFileName(string.IsNullOrEmpty(name) ? "model.gguf" : name);
                string host = SanitizeFileName(url.IsDefaultPort ? url.Host : $"{url.Host}_{url.Port}");
                return Path.Combine(Directory, "url", host, hash, name);
            }
            default:
            {
                var parts = reference.Repo!.Split('/');
                string repoDir = reference.Revision == "main" ? parts[1] : $"{parts[1]}@{reference.Revision}";
                return Path.Combine([Directory, "hf", parts[0], repoDir, .. reference.RepoFile!.Split('/')]);
            }
        }
    }

    /// <summary>The cached file of <paramref name="reference"/>, or null when it is not (completely) downloaded.</summary>
    public string? TryGetCached(ModelReference reference)
    {
        string path = PathFor(reference);
        if (!File.Exists(path)) return null;
        if (Damage(path) is not null) return null; // the resolver says why, and fetches it again or fails clearly
        if (reference.ExpectedSha256 is { } pinned && ReadMetadata(path) is { } meta && !string.Equals(meta.Sha256, pinned, StringComparison.OrdinalIgnoreCase))
            return null; // the catalog pins another file than the one cached
        return path;
    }

    /// <summary>Every model file in the cache, finished and partial.</summary>
    public IReadOnlyList<CachedModel> List()
    {
        var result = new List<CachedModel>();
        if (!System.IO.Directory.Exists(Directory)) return result;
        foreach (string file in System.IO.Directory.EnumerateFiles(Directory, "*", SearchOption.AllDirectories))
        {
            if (file.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
                result.Add(new CachedModel(file, SafeLength(file), false, ReadMetadata(file)));
            else if (file.EndsWith(".gguf" + PartialSuffix, StringComparison.OrdinalIgnoreCase))
                result.Add(new CachedModel(file[..^PartialSuffix.Length], SafeLength(file), true, null));
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return result;
    }

    /// <summary>Bytes of a partial download of <paramref name="reference"/> (0 when none).</summary>
    public long PartialBytes(ModelReference reference) => SafeLength(PathFor(reference) + PartialSuffix);

    /// <summary>Removes the cached file of <paramref name="reference"/> with its metadata, partial download and lock file.</summary>
    /// <returns>Whether anything was removed.</returns>
    /// <exception cref="InvalidOperationException">A local file (the cache never deletes files it does not own).</exception>
    public bool Remove(ModelReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (reference.Kind == ModelSourceKind.File) throw new InvalidOperationException($"'{reference.Text}' is a local file, not a cached download");
        string path = PathFor(reference);
        bool removed = false;
        foreach (string f in new[] { path, path + MetaSuffix, path + PartialSuffix, path + PartialSuffix + MetaSuffix, path + LockSuffix })
        {
            if (!File.Exists(f)) continue;
            File.Delete(f);
            removed |= !f.EndsWith(LockSuffix, StringComparison.Ordinal);
        }
        // Drop directories left empty, up to the cache root.
        for (string? dir = Path.GetDirectoryName(path); dir is not null && dir.Length > Directory.Length && dir.StartsWith(Directory, StringComparison.Ordinal); dir = Path.GetDirectoryName(dir))
        {
            if (!System.IO.Directory.Exists(dir) || System.IO.Directory.EnumerateFileSystemEntries(dir).Any()) break;
            System.IO.Directory.Delete(dir);
        }
        return removed;
    }

    /// <summary>
    /// Why the cached file at <paramref name="modelPath"/> is not the file that was downloaded, or null when it is (or
    /// when nothing was recorded to compare with): its size differs from the record, or it was written after the
    /// download and its SHA-256 differs. Only a file changed since its download is hashed again (then its time is set
    /// back, so the next check is free again); damage that leaves size and time alone (bit rot) goes unseen.
    /// </summary>
    internal static string? Damage(string modelPath)
    {
        if (ReadMetadata(modelPath) is not { } meta) return null;
        try
        {
            var info = new FileInfo(modelPath);
            if (info.Length != meta.SizeBytes) return $"it is {info.Length} bytes, {meta.SizeBytes} were downloaded";
            if (info.LastWriteTimeUtc <= meta.DownloadedUtc.UtcDateTime) return null;
            using var stream = new FileStream(modelPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            string sha = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (!string.Equals(sha, meta.Sha256, StringComparison.OrdinalIgnoreCase))
                return $"it was changed after its download: SHA-256 {sha}, {meta.Sha256} was downloaded";
            stream.Dispose();
            File.SetLastWriteTimeUtc(modelPath, meta.DownloadedUtc.UtcDateTime);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"it cannot be read: {ex.Message}";
        }
    }

    /// <summary>
    /// Why the cache cannot be used for <paramref name="path"/> (the nearest existing folder above it cannot be read or
    /// searched), or null. Without it, an unreadable cache looks empty and the error would name the wrong cause.
    /// </summary>
    internal static string? AccessProblem(string path)
    {
        for (string? dir = Path.GetDirectoryName(Path.GetFullPath(path)); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            try
            {
                if (!System.IO.Directory.Exists(dir))
                {
                    // Exists says false for a folder it may not look into: read the parent to tell the two apart.
                    continue;
                }
                using var entries = System.IO.Directory.EnumerateFileSystemEntries(dir).GetEnumerator();
                entries.MoveNext();
                return null;
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                return $"{dir} cannot be read ({ex.Message})";
            }
        }
        return null;
    }

    /// <summary>The metadata recorded beside <paramref name="modelPath"/>, or null.</summary>
    public static CachedModelMetadata? ReadMetadata(string modelPath)
    {
        string meta = modelPath + MetaSuffix;
        if (!File.Exists(meta)) return null;
        try
        {
            return JsonSerializer.Deserialize<CachedModelMetadata>(File.ReadAllText(meta), Json);
        }
        catch (Exception ex) when (ex is JsonException or IOException or NotSupportedException)
        {
            return null;
        }
    }

    internal static void WriteMetadata(string modelPath, CachedModelMetadata metadata)
    {
        string meta = modelPath + MetaSuffix;
        string tmp = meta + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(metadata, Json));
        File.Move(tmp, meta, overwrite: true);
    }

    private static long SafeLength(string path)
    {
        try
        {
            return File.Exists(path) ? new FileInfo(path).Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static string SanitizeFileName(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (char c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        string s = sb.ToString().TrimStart('.');
        return s.Length == 0 ? "model.gguf" : s;
    }
}
