using System.Text.RegularExpressions;

namespace FastRank.Models;

/// <summary>What a model reference points at.</summary>
public enum ModelSourceKind
{
    /// <summary>A local file.</summary>
    File,

    /// <summary>A catalog name (downloaded from Hugging Face into the cache).</summary>
    Catalog,

    /// <summary>An <c>hf://owner/repo[@revision]/path/file.gguf</c> reference.</summary>
    HuggingFace,

    /// <summary>An <c>https://</c> (or <c>http://</c>) URL.</summary>
    Url,
}

/// <summary>
/// A parsed model reference: a local path, a catalog name, <c>hf://owner/repo/file.gguf</c> (optionally
/// <c>hf://owner/repo@revision/file.gguf</c>), or a URL. An existing file wins over a same-named
/// catalog entry.
/// </summary>
public sealed partial class ModelReference
{
    private ModelReference(string text, ModelSourceKind kind)
    {
        Text = text;
        Kind = kind;
    }

    /// <summary>The reference as given.</summary>
    public string Text { get; }

    /// <summary>What it points at.</summary>
    public ModelSourceKind Kind { get; }

    /// <summary>The local file (<see cref="ModelSourceKind.File"/>).</summary>
    public string? FilePath { get; private init; }

    /// <summary>The catalog entry (<see cref="ModelSourceKind.Catalog"/>).</summary>
    public CatalogEntry? Entry { get; private init; }

    /// <summary>The Hugging Face repository, <c>owner/name</c> (catalog and hf:// references).</summary>
    public string? Repo { get; private init; }

    /// <summary>The file's path inside the repository.</summary>
    public string? RepoFile { get; private init; }

    /// <summary>The revision (branch, tag or commit).</summary>
    public string Revision { get; private init; } = "main";

    /// <summary>The URL (<see cref="ModelSourceKind.Url"/>).</summary>
    public Uri? Url { get; private init; }

    /// <summary>The SHA-256 the catalog pins, if any.</summary>
    public string? ExpectedSha256 => Entry?.Sha256;

    /// <summary>A short name for messages and logs: the catalog name, the hf:// reference, the URL without its query, or the file name.</summary>
    public string DisplayName => Kind switch
    {
        ModelSourceKind.Catalog => Entry!.Name,
        ModelSourceKind.HuggingFace => Revision == "main" ? $"hf://{Repo}/{RepoFile}" : $"hf://{Repo}@{Revision}/{RepoFile}",
        ModelSourceKind.Url => ModelDownloader.Redact(Url!),
        _ => Path.GetFileName(FilePath!),
    };

    /// <summary>Whether the model comes from the network (and so from the cache).</summary>
    public bool IsRemote => Kind != ModelSourceKind.File;

    /// <summary>Parses <paramref name="text"/> against <paramref name="catalog"/>.</summary>
    /// <exception cref="ArgumentException">A malformed hf:// reference or URL.</exception>
    /// <exception cref="FileNotFoundException">A path (it has a directory separator or a .gguf extension) that does not exist.</exception>
    /// <exception cref="UnknownModelException">Neither a file nor a catalog name.</exception>
    public static ModelReference Parse(string text, ModelCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        text = text.Trim();
        if (text.StartsWith("hf://", StringComparison.OrdinalIgnoreCase)) return ParseHuggingFace(text);
        if (text.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || string.IsNullOrEmpty(url.Host))
                throw new ArgumentException($"'{text}' is not a valid URL", nameof(text));
            if (!string.IsNullOrEmpty(url.UserInfo)) throw new ArgumentException("credentials in model URLs are not accepted; use HF_TOKEN", nameof(text));
            return new ModelReference(text, ModelSourceKind.Url) { Url = url };
        }
        if (File.Exists(text)) return new ModelReference(text, ModelSourceKind.File) { FilePath = Path.GetFullPath(text) };
        if (catalog.TryGet(text, out var entry)) return FromCatalog(entry);
        if (Directory.Exists(text)) throw new ArgumentException($"'{text}' is a directory; pass a .gguf file", nameof(text));
        if (text.Contains('/') || text.Contains('\\') || text.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            throw new FileNotFoundException($"model file '{text}' does not exist", text);
        throw new UnknownModelException(text, catalog.Names);
    }

    /// <summary>The reference of a catalog entry.</summary>
    public static ModelReference FromCatalog(CatalogEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return new ModelReference(entry.Name, ModelSourceKind.Catalog) { Entry = entry, Repo = entry.Repo, RepoFile = entry.File, Revision = entry.Revision };
    }

    /// <summary>A local file.</summary>
    public static ModelReference FromFile(string path) =>
        new(path, ModelSourceKind.File) { FilePath = Path.GetFullPath(path) };

    /// <summary>The download URL on the Hugging Face endpoint <paramref name="endpoint"/> (<c>{endpoint}/{repo}/resolve/{revision}/{file}</c>), or the URL itself.</summary>
    public Uri DownloadUri(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (Kind == ModelSourceKind.Url) return Url!;
        if (Repo is null) throw new InvalidOperationException("a local file has no download URL");
        string basePath = endpoint.AbsoluteUri.TrimEnd('/');
        string file = string.Join('/', RepoFile!.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{basePath}/{Repo}/resolve/{Uri.EscapeDataString(Revision)}/{file}");
    }

    /// <inheritdoc />
    public override string ToString() => DisplayName;

    private static ModelReference ParseHuggingFace(string text)
    {
        // hf://owner/repo[@revision]/path/to/file.gguf
        string rest = text[5..];
        var parts = rest.Split('/');
        if (parts.Length < 3)
            throw new ArgumentException($"'{text}' is not an hf:// reference: expected hf://owner/repo/file.gguf", nameof(text));
        string owner = parts[0];
        string repoName = parts[1];
        string revision = "main";
        int at = repoName.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            revision = repoName[(at + 1)..];
            repoName = repoName[..at];
        }
        string repo = $"{owner}/{repoName}";
        string file = string.Join('/', parts[2..]);
        if (!IsValidRepo(repo)) throw new ArgumentException($"'{text}': '{repo}' is not a valid repository name (owner/name)", nameof(text));
        if (!IsValidRevision(revision)) throw new ArgumentException($"'{text}': '{revision}' is not a valid revision", nameof(text));
        if (!IsValidRepoFile(file)) throw new ArgumentException($"'{text}': '{file}' must be a relative path to a .gguf file", nameof(text));
        return new ModelReference(text, ModelSourceKind.HuggingFace) { Repo = repo, RepoFile = file, Revision = revision };
    }

    /// <summary>Whether <paramref name="repo"/> is <c>owner/name</c> with Hugging Face's characters.</summary>
    public static bool IsValidRepo(string repo)
    {
        var parts = repo.Split('/');
        return parts.Length == 2 && parts.All(p => SegmentPattern().IsMatch(p) && p is not "." and not "..");
    }

    /// <summary>Whether <paramref name="file"/> is a safe relative path ending in <c>.gguf</c>.</summary>
    public static bool IsValidRepoFile(string file) =>
        file.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
        && file.Split('/').All(p => SegmentPattern().IsMatch(p) && p is not "." and not "..");

    /// <summary>Whether <paramref name="revision"/> is a plausible branch, tag or commit (no path tricks).</summary>
    public static bool IsValidRevision(string revision) =>
        RevisionPattern().IsMatch(revision) && !revision.Contains("..", StringComparison.Ordinal);

    [GeneratedRegex("^[A-Za-z0-9_.+-]{1,200}$")]
    private static partial Regex SegmentPattern();

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,100}$")]
    private static partial Regex RevisionPattern();
}
