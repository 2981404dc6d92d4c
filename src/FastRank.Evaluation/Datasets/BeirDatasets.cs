using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using FastRank.Models;

namespace FastRank.Evaluation.Datasets;

/// <summary>A dataset could not be had: not cached while offline, a broken archive, an unknown name.</summary>
public sealed class DatasetUnavailableException(string message, Exception? inner = null) : FastRankException(message, inner);

/// <summary>
/// BEIR's public datasets by name (<c>scifact</c>, <c>nfcorpus</c>, <c>fiqa</c>, <c>trec-covid</c>, ...), fetched as
/// BEIR's zips with FastRank's model downloader (resume, retries, one download per file across processes), checked
/// against the MD5 BEIR publishes, unpacked once into the cache (<c>CACHE/datasets/NAME</c>) and used from there,
/// without network, from then on.
/// </summary>
public sealed class BeirDatasets
{
    /// <summary>Where BEIR's zips are served.</summary>
    public static readonly Uri DefaultBaseUrl = new("https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/");

    /// <summary>Environment variable that replaces <see cref="DefaultBaseUrl"/> (a mirror).</summary>
    public const string BaseUrlVariable = "FASTRANK_BEIR_URL";

    private const string CompleteMarker = ".fastrank-complete";

    /// <summary>The datasets BEIR serves publicly, with the MD5 of each zip as BEIR's README publishes it (null: not published).</summary>
    public static IReadOnlyDictionary<string, string?> Known { get; } = new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["scifact"] = "5f7d1de60b170fc8027bb7898e2efca1",
        ["nfcorpus"] = "a89dba18a62ef92f7d323ec890a0d38d",
        ["fiqa"] = "17918ed23cd04fb15047f73e6c3bd9d9",
        ["trec-covid"] = "ce62140cb23feb9becf6270d0d1fe6d1",
        ["nq"] = "d4d3d2e48787a744b6f6e691ff534307",
        ["hotpotqa"] = "f412724f78b0d91183a0e86805e16114",
        ["msmarco"] = "444067daf65d982533ea17ebd59501e4",
        ["arguana"] = null,
        ["scidocs"] = null,
        ["quora"] = null,
        ["webis-touche2020"] = null,
        ["dbpedia-entity"] = null,
        ["fever"] = null,
        ["climate-fever"] = null,
    };

    private readonly ModelDownloader _downloader;
    private readonly Uri _baseUrl;
    private readonly IReadOnlyDictionary<string, string?> _checksums;

    /// <summary>
    /// Datasets under <paramref name="cacheDirectory"/>/datasets (default: the model cache's directory), fetched from
    /// <paramref name="baseUrl"/> (default: <c>$FASTRANK_BEIR_URL</c>, else BEIR's server) with <paramref name="downloader"/>,
    /// checked against <paramref name="checksums"/> (name to MD5; default: <see cref="Known"/>).
    /// </summary>
    public BeirDatasets(ModelDownloader downloader, string? cacheDirectory = null, Uri? baseUrl = null, bool offline = false,
        IReadOnlyDictionary<string, string?>? checksums = null)
    {
        _checksums = checksums ?? Known;
        ArgumentNullException.ThrowIfNull(downloader);
        _downloader = downloader;
        Directory = Path.Combine(new ModelCache(cacheDirectory).Directory, "datasets");
        string? env = Environment.GetEnvironmentVariable(BaseUrlVariable);
        _baseUrl = baseUrl ?? (string.IsNullOrWhiteSpace(env) ? DefaultBaseUrl : new Uri(env));
        if (!_baseUrl.AbsoluteUri.EndsWith('/')) _baseUrl = new Uri(_baseUrl.AbsoluteUri + "/");
        Offline = offline;
    }

    /// <summary>Where datasets are unpacked.</summary>
    public string Directory { get; }

    /// <summary>Whether downloads are refused.</summary>
    public bool Offline { get; }

    /// <summary>Whether <paramref name="text"/> looks like a dataset name rather than a path.</summary>
    public static bool IsName(string text) =>
        !string.IsNullOrEmpty(text) && text.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_' or '.') && !text.StartsWith('.');

    /// <summary>The unpacked directory of <paramref name="name"/> when it is cached, else null.</summary>
    public string? TryGetCached(string name)
    {
        string dir = Path.Combine(Directory, name);
        return File.Exists(Path.Combine(dir, CompleteMarker)) ? dir : null;
    }

    /// <summary>
    /// The directory of dataset <paramref name="name"/>: from the cache, or downloaded and unpacked first. A name
    /// BEIR does not list is still tried (BEIR adds datasets), without a checksum.
    /// </summary>
    /// <exception cref="DatasetUnavailableException">Offline and not cached; an archive that is not a BEIR dataset.</exception>
    /// <exception cref="ModelDownloadException">The download failed (its subclasses say why: not found, network, checksum).</exception>
    public async Task<string> ResolveAsync(string name, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsName(name)) throw new DatasetUnavailableException($"'{name}' is not a dataset name (lower-case letters, digits, '-'); known: {string.Join(", ", Known.Keys)}");
        if (TryGetCached(name) is { } cached) return cached;
        var url = new Uri(_baseUrl, name + ".zip");
        string zip = Path.Combine(Directory, name + ".zip");
        if (Offline)
            throw new DatasetUnavailableException($"dataset '{name}' is not in the cache ({Path.Combine(Directory, name)}) and downloads are off (--offline or FASTRANK_OFFLINE); run once online, or give a dataset directory");
        System.IO.Directory.CreateDirectory(Directory);
        var result = await _downloader.DownloadAsync(new DownloadRequest(url, zip) { Name = name + ".zip", ValidateGguf = false }, progress, ct).ConfigureAwait(false);
        _checksums.TryGetValue(name, out string? md5);
        if (md5 is not null)
        {
            string actual;
            using (var stream = File.OpenRead(result.Path)) actual = Convert.ToHexStringLower(await MD5.HashDataAsync(stream, ct).ConfigureAwait(false));
            if (actual != md5)
            {
                File.Delete(result.Path);
                throw new ChecksumMismatchException(ModelDownloader.Redact(url), md5, actual, "BEIR's published MD5");
            }
        }
        return Unpack(name, result.Path);
    }

    private string Unpack(string name, string zip)
    {
        string target = Path.Combine(Directory, name);
        string temp = Path.Combine(Directory, $"{name}.unpacking-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
        try
        {
            // ExtractToDirectory refuses entries that would land outside the directory.
            ZipFile.ExtractToDirectory(zip, temp);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
            File.Delete(zip);
            throw new DatasetUnavailableException($"dataset '{name}': the archive could not be unpacked ({ex.Message}); it was deleted, the next run downloads it again", ex);
        }
        // BEIR's zips hold NAME/corpus.jsonl ...; accept the files at the top too.
        string root = File.Exists(Path.Combine(temp, "corpus.jsonl")) ? temp
            : System.IO.Directory.GetDirectories(temp).FirstOrDefault(d => File.Exists(Path.Combine(d, "corpus.jsonl")))
              ?? throw new DatasetUnavailableException($"dataset '{name}': the archive has no corpus.jsonl (not a BEIR dataset)");
        if (System.IO.Directory.Exists(target)) System.IO.Directory.Delete(target, recursive: true);
        System.IO.Directory.Move(root, target);
        File.WriteAllText(Path.Combine(target, CompleteMarker), DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
        File.Delete(zip);
        return target;
    }
}
